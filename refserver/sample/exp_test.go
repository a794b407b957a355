package sample

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpNeg(t *testing.T) {
	tests := []struct {
		name string
		d    func(r *rand.Rand) float64
	}{
		{"near 0", func(r *rand.Rand) float64 { return -1e-3 * r.Float64() }},
		{"typical", func(r *rand.Rand) float64 { return -30 * r.Float64() }},
		{"whole range", func(r *rand.Rand) float64 { return -746 * r.Float64() }},
		{"subnormal", func(r *rand.Rand) float64 { return -700 - 46*r.Float64() }},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200000 {
				d := tt.d(r)
				got, want := expNeg(d), math.Exp(d)
				// 4.5e-16 is about 2 ulp: ours plus math.Exp's own error.
				if math.Abs(got-want) > 4.5e-16*want {
					t.Fatalf("expNeg(%v) = %v, want %v", d, got, want)
				}
			}
		})
	}
	exact := []struct{ d, want float64 }{
		{0, 1},
		{math.Copysign(0, -1), 1},
		{-math.Ln2, 0.5},
		{-800, 0},
		{math.Inf(-1), 0},
	}
	for _, e := range exact {
		if got := expNeg(e.d); got != e.want {
			t.Errorf("expNeg(%v) = %v, want %v", e.d, got, e.want)
		}
	}
}
