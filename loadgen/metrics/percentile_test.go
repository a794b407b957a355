package metrics

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	oneToTen := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one value", []float64{4.2}, 99, 4.2},
		{"p90 of 1..10", oneToTen, 90, 9.1},
		{"p95 of 1..10", oneToTen, 95, 9.55},
		{"median of even count", []float64{1, 2, 3, 4}, 50, 2.5},
		{"median of odd count", []float64{1, 2, 30}, 50, 2},
		{"numpy linear example", []float64{15, 20, 35, 40, 50}, 40, 29},
		{"p0 is min", oneToTen, 0, 1},
		{"p100 is max", oneToTen, 100, 10},
		{"below 0 clamps", oneToTen, -5, 1},
		{"above 100 clamps", oneToTen, 150, 10},
		{"exact rank", []float64{10, 20, 30, 40, 50}, 75, 40},
		{"p99.9", oneToTen, 99.9, 9.991},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := Percentile(oneToTen, math.NaN()); !math.IsNaN(got) {
		t.Errorf("NaN p: got %v, want NaN", got)
	}
}
