package reportgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

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
	set := newRequestStats(start, 5*time.Second, nil).ivs
	for _, r := range reqs {
		set.add(r)
	}
	ivs := set.intervals()
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

// TestIntervalsWiden: a run longer than maxIntervals buckets keeps at
// most maxIntervals, each twice as wide per doubling, and loses no count.
func TestIntervalsWiden(t *testing.T) {
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	set := newRequestStats(start, time.Second, nil).ivs
	const n = 3 * maxIntervals // one request a second, 3×maxIntervals seconds
	ttft := 1.0
	for i := range n {
		set.add(&runfmt.Request{Sent: start.Add(time.Duration(i) * time.Second), OK: i%10 != 0, TTFTMS: &ttft})
	}
	ivs := set.intervals()
	if set.width != 4*time.Second || len(ivs) > maxIntervals {
		t.Fatalf("width %v, %d intervals; want 4s (two doublings) and at most %d", set.width, len(ivs), maxIntervals)
	}
	completed, errs, ttfts := 0, 0, 0
	for i, iv := range ivs {
		if iv.Start != float64(4*i) {
			t.Errorf("interval %d starts at %v s, want %d", i, iv.Start, 4*i)
		}
		completed += iv.Completed
		errs += iv.Errors
		ttfts += len(iv.TTFT)
	}
	if completed != n || errs != n/10 || ttfts != n-n/10 {
		t.Errorf("%d completed, %d errors, %d TTFTs; want %d, %d, %d", completed, errs, ttfts, n, n/10, n-n/10)
	}
}

// TestReservoir: a stream within the bound is kept whole; past it, the
// sample has the bound's size and the stream's distribution, and a merge
// draws from each side in proportion to what it saw.
func TestReservoir(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	small := reservoir{max: 100, rng: rng}
	for i := range 50 {
		small.add(float64(i))
	}
	if small.sampled() || len(small.vals) != 50 {
		t.Errorf("50 values under a bound of 100: kept %d, sampled %v", len(small.vals), small.sampled())
	}
	big := reservoir{max: 1000, rng: rng}
	for i := range 100_000 {
		big.add(float64(i % 100)) // uniform over 0..99
	}
	v := big.sorted()
	if len(v) != 1000 || big.seen != 100_000 || !big.sampled() {
		t.Fatalf("kept %d of %d, want 1000 of 100000", len(v), big.seen)
	}
	if med := stats.Quantile(v, .5); med < 40 || med > 60 {
		t.Errorf("median of the sample %v, want about 49.5", med)
	}
	// 9,000 ones merged with 1,000 zeros: about 90 % ones.
	ones := reservoir{max: 1000, rng: rng}
	for range 9000 {
		ones.add(1)
	}
	zeros := reservoir{max: 1000, rng: rng}
	for range 1000 {
		zeros.add(0)
	}
	ones.merge(&zeros)
	sum := 0.0
	for _, x := range ones.vals {
		sum += x
	}
	if len(ones.vals) != 1000 || ones.seen != 10_000 || sum != 900 {
		t.Errorf("merged: %d values of %d seen, %v ones; want 1000 of 10000, 900 ones", len(ones.vals), ones.seen, sum)
	}
}

// TestTallyBound: past maxDistinct texts, new ones are counted together.
func TestTallyBound(t *testing.T) {
	tl := tally{counts: map[string]int{}}
	for i := range maxDistinct + 5 {
		tl.add(fmt.Sprint("error ", i))
	}
	tl.add("error 0")
	got := tl.top(1)
	if len(got) != 2 || got[0] != (count{Text: "error 0", N: 2}) || got[1].N != 5 {
		t.Errorf("top(1) = %+v, want error 0 twice, then the 5 uncounted together", got)
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
