package reportgen

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen/runfmt"
)

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"empty", nil, 0.5, 0},
		{"one value", []float64{7}, 0.95, 7},
		{"median of odd", []float64{1, 2, 3}, 0.5, 2},
		{"median of even interpolates", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"min", []float64{1, 2, 3, 4}, 0, 1},
		{"max", []float64{1, 2, 3, 4}, 1, 4},
		{"p95 of 1..101", seq(1, 101), 0.95, 96},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.sorted, tc.q); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("quantile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

func seq(from, to int) []float64 {
	var out []float64
	for i := from; i <= to; i++ {
		out = append(out, float64(i))
	}
	return out
}

func TestHistogram(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []float64
		n      int
		counts []int
	}{
		{"empty", nil, 4, nil},
		{"one distinct value is one bin", []float64{3, 3, 3}, 4, []int{3}},
		{"the largest value lands in the last bin", []float64{0, 1, 2, 3, 4}, 4, []int{1, 1, 1, 2}},
		{"skewed", []float64{0, 0.1, 0.2, 10}, 2, []int{3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bins := histogram(tc.sorted, tc.n)
			var counts []int
			total := 0
			for _, b := range bins {
				counts = append(counts, b.Count)
				total += b.Count
			}
			if !slices.Equal(counts, tc.counts) {
				t.Errorf("counts = %v, want %v", counts, tc.counts)
			}
			if total != len(tc.sorted) {
				t.Errorf("counted %d values, want %d", total, len(tc.sorted))
			}
		})
	}
}

func TestCDF(t *testing.T) {
	t.Run("small sample keeps every value", func(t *testing.T) {
		got := cdf([]float64{1, 2, 4, 8}, 101)
		want := [][2]float64{{1, 25}, {2, 50}, {4, 75}, {8, 100}}
		if !slices.Equal(got, want) {
			t.Errorf("cdf = %v, want %v", got, want)
		}
	})
	t.Run("large sample keeps maxPoints quantiles", func(t *testing.T) {
		got := cdf(seq(1, 1000), 11)
		if len(got) != 11 {
			t.Fatalf("got %d points, want 11", len(got))
		}
		if got[0] != [2]float64{1, 0} || got[10] != [2]float64{1000, 100} {
			t.Errorf("ends = %v, %v, want [1 0], [1000 100]", got[0], got[10])
		}
		for i := 1; i < len(got); i++ {
			if got[i][0] < got[i-1][0] || got[i][1] <= got[i-1][1] {
				t.Errorf("point %d %v does not rise from %v", i, got[i], got[i-1])
			}
		}
	})
}

func TestIntervals(t *testing.T) {
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	req := func(sentS, closeMS, ttft float64, ok bool) *runfmt.Request {
		r := &runfmt.Request{Sent: start.Add(time.Duration(sentS * float64(time.Second))), CloseMS: closeMS, OK: ok}
		if ok {
			r.TTFTMS = &ttft
		}
		return r
	}
	reqs := []*runfmt.Request{
		req(0.5, 100, 30, true),  // done at 0.6 s: bucket 0
		req(4.0, 2000, 50, true), // done at 6.0 s: bucket 1 (by completion, not by start)
		req(5.5, 100, 0, false),  // an error at 5.6 s: bucket 1
		req(14.0, 100, 70, true), // done at 14.1 s: bucket 2
		req(-1.0, 100, 10, true), // before the start: bucket 0
	}
	ivs := intervals(reqs, start, 5*time.Second)
	if len(ivs) != 3 {
		t.Fatalf("got %d intervals, want 3", len(ivs))
	}
	for i, want := range []struct {
		start             float64
		completed, errors int
		ttft              []float64
	}{
		{0, 2, 0, []float64{10, 30}},
		{5, 2, 1, []float64{50}},
		{10, 1, 0, []float64{70}},
	} {
		iv := ivs[i]
		if iv.Start != want.start || iv.Completed != want.completed || iv.Errors != want.errors || !slices.Equal(iv.TTFT, want.ttft) {
			t.Errorf("interval %d = %+v, want start %v, %d completed, %d errors, TTFT %v", i, iv, want.start, want.completed, want.errors, want.ttft)
		}
	}
}

func TestRoundFinite(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"round to 2", round(1.23456, 2), 1.23},
		{"round half up", round(2.5, 0), 3},
		{"NaN", finite(math.NaN()), 0},
		{"+Inf", finite(math.Inf(1)), 0},
		{"finite", finite(4.5), 4.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}
