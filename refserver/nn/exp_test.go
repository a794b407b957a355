package nn

import (
	"fmt"
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
				got, want := ExpNeg(d), math.Exp(d)
				// 4.5e-16 is about 2 ulp: ours plus math.Exp's own error.
				if math.Abs(got-want) > 4.5e-16*want {
					t.Fatalf("ExpNeg(%v) = %v, want %v", d, got, want)
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
		if got := ExpNeg(e.d); got != e.want {
			t.Errorf("ExpNeg(%v) = %v, want %v", e.d, got, e.want)
		}
	}
}

// TestSampleWeights checks every kernel set's SampleWeights bit for bit
// against ExpNeg, one logit at a time: on logits as a model gives them, on
// lengths around the vector width, at temperatures that put d in each of
// ExpNeg's ranges (subnormal results included), and on NaN and ±Inf.
func TestSampleWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	type tc struct {
		name string
		x    []float32
		temp float64
	}
	var tests []tc
	for _, n := range []int{1, 7, 8, 9, 16, 63, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-60 + 20*r.NormFloat64())
		}
		tests = append(tests, tc{fmt.Sprintf("logits %d", n), x, 0.7})
	}
	wide := make([]float32, 4096)
	for i := range wide {
		wide[i] = float32(-800 * r.Float64()) // d from 0 to -800: every range of ExpNeg
	}
	tests = append(tests,
		tc{"every range", wide, 1},
		tc{"cold", wide, 1e-3},
		tc{"hot", wide, 1e3},
		tc{"special", []float32{nan, -inf, inf, 0, -745.5, -700.5, -0.0, 3, nan, 1e-30, -1e30}, 1},
	)
	for _, ks := range kernelSets() {
		for _, tc := range tests {
			t.Run(ks.name+"/"+tc.name, func(t *testing.T) {
				withKernels(t, ks)
				m := float64(0)
				for _, v := range tc.x {
					if v == v && !math.IsInf(float64(v), 1) {
						m = max(m, float64(v))
					}
				}
				got := make([]float64, len(tc.x)+1)
				got[len(tc.x)] = 42 // past the end: untouched
				SampleWeights(got, tc.x, m, tc.temp)
				for i, v := range tc.x {
					d := (float64(v) - m) / tc.temp
					want := 0.0
					if d > -746 {
						want = ExpNeg(d)
					}
					if math.Float64bits(got[i]) != math.Float64bits(want) && !(got[i] != got[i] && want != want) {
						t.Fatalf("weight of %v (d %v) = %v, want %v", v, d, got[i], want)
					}
				}
				if got[len(tc.x)] != 42 {
					t.Fatalf("SampleWeights wrote past the end")
				}
			})
		}
	}
}
