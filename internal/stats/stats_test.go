package stats

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

func TestMedianMean(t *testing.T) {
	tests := []struct {
		name      string
		xs        []float64
		med, mean float64
	}{
		{"odd", []float64{3, 1, 2}, 2, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5, 2.5},
		{"one", []float64{7}, 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := Median(tt.xs); got != tt.med {
				t.Errorf("Median = %v, want %v", got, tt.med)
			}
			if got := Mean(tt.xs); got != tt.mean {
				t.Errorf("Mean = %v, want %v", got, tt.mean)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("Median changed its input: %v, was %v", tt.xs, in)
				}
			}
		})
	}
	if !math.IsNaN(Median(nil)) || !math.IsNaN(Mean(nil)) {
		t.Errorf("Median, Mean of nothing = %v, %v; want NaN", Median(nil), Mean(nil))
	}
}

func TestFitLine(t *testing.T) {
	// y = 2 + 3x exactly: no error.
	l, ok := FitLine([]float64{1, 2, 3, 4}, []float64{5, 8, 11, 14})
	if !ok || math.Abs(l.Slope-3) > 1e-12 || math.Abs(l.Intercept-2) > 1e-12 || l.SlopeSE != 0 || l.R2 != 1 || l.N != 4 {
		t.Errorf("exact line: %+v, %v", l, ok)
	}
	// (0,0), (1,1), (2,1), (3,2): slope 0.6, intercept 0.1; residuals
	// −0.1, 0.3, −0.3, 0.1, so s² = 0.2/2 and SE(slope) = √(0.1/5).
	l, ok = FitLine([]float64{0, 1, 2, 3}, []float64{0, 1, 1, 2})
	if !ok || math.Abs(l.Slope-0.6) > 1e-12 || math.Abs(l.Intercept-0.1) > 1e-12 || math.Abs(l.SlopeSE-math.Sqrt(0.1/5)) > 1e-12 {
		t.Errorf("noisy line: %+v, %v", l, ok)
	}
	for _, bad := range [][2][]float64{
		{{1, 1, 1}, {1, 2, 3}},    // one distinct x
		{{1}, {1}},                // one point
		{{1, math.NaN()}, {1, 2}}, // not finite
		{{1, 2, 3}, {1, 2}},       // lengths differ
	} {
		if l, ok := FitLine(bad[0], bad[1]); ok {
			t.Errorf("FitLine(%v, %v) = %+v, want not determined", bad[0], bad[1], l)
		}
	}
}

func TestMannWhitney(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		u, p float64
	}{
		// scipy.stats.mannwhitneyu's documentation example (diagnosis ages),
		// method="asymptotic": U = 17, p = 0.1113…
		{"no ties", []float64{19, 22, 16, 29, 24}, []float64{20, 11, 17, 12}, 17, 0.11134688653314},
		// DolphinDB's mannWhitneyUTest example, with ties: U = 11 (of the
		// second sample, so 19 of the first), p = 0.518023.
		{"ties", []float64{5, 1, 4, 3, 5}, []float64{2, 4, 7, -1, 0, 4}, 19, 0.518023},
		{"all equal", []float64{3, 3, 3}, []float64{3, 3}, 3, 1},
		{"empty", nil, []float64{1, 2}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := MannWhitney(tt.a, tt.b)
			if u != tt.u || math.Abs(p-tt.p) > 1e-6 {
				t.Errorf("U, p = %g, %.9f; want %g, %.9f", u, p, tt.u, tt.p)
			}
		})
	}
	// Two separated samples of 30: every pair favours a, p tiny.
	var lo, hi []float64
	for i := range 30 {
		lo, hi = append(lo, float64(i)), append(hi, float64(100+i))
	}
	if u, p := MannWhitney(hi, lo); u != 900 || p > 1e-9 {
		t.Errorf("separated: U, p = %g, %g; want 900, < 1e-9", u, p)
	}
}
