package attribution

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// breakdown is an OK breakdown whose total is the sum of parts.
func breakdown(seq int64, parts map[string]float64) runfmt.Breakdown {
	b := runfmt.Breakdown{Seq: seq, OK: true, Source: SourceTrace, Parts: map[string]float64{}}
	for _, p := range runfmt.Parts {
		b.Parts[p] = parts[p]
		b.TotalMS += parts[p]
	}
	finish(&b)
	return b
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestAggregateBands(t *testing.T) {
	// 100 requests whose totals are 1..100 ms, seq == total, in a
	// scrambled order; one failed request with a huge total.
	var bs []runfmt.Breakdown
	for i := range 100 {
		total := float64((i*37)%100 + 1)
		bs = append(bs, breakdown(int64(total), map[string]float64{runfmt.PartServerQueue: total * 0.75, runfmt.PartPrefill: total * 0.25}))
	}
	failed := breakdown(1000, map[string]float64{runfmt.PartNetwork: 1e6})
	failed.OK = false
	bs = append(bs, failed)

	a := Aggregate(bs)
	if a.Requests != 100 {
		t.Fatalf("requests = %d, want 100", a.Requests)
	}
	// Percentile of rank i is 100·i/99: p50 [45, 55] holds ranks 45..54,
	// p95 [90, 97.5] ranks 90..96, p99 [98.5, 100] ranks 98..99.
	want := map[string][]int64{"p50": seqRange(46, 55), "p95": seqRange(91, 97), "p99": seqRange(99, 100)}
	if len(a.Bands) != 3 {
		t.Fatalf("got %d bands, want 3", len(a.Bands))
	}
	for _, b := range a.Bands {
		t.Run(b.Name, func(t *testing.T) {
			if !slices.Equal(b.Seqs, want[b.Name]) {
				t.Errorf("seqs = %v, want %v", b.Seqs, want[b.Name])
			}
			if b.Requests != len(want[b.Name]) {
				t.Errorf("requests = %d, want %d", b.Requests, len(want[b.Name]))
			}
			wantTotal := mean(slices.Collect(func(yield func(float64) bool) {
				for _, s := range want[b.Name] {
					yield(float64(s))
				}
			}))
			if math.Abs(b.TotalMS-wantTotal) > 1e-9 || math.Abs(b.MeanMS[runfmt.PartServerQueue]-0.75*wantTotal) > 1e-9 {
				t.Errorf("total %g, server_queue %g; want %g, %g", b.TotalMS, b.MeanMS[runfmt.PartServerQueue], wantTotal, 0.75*wantTotal)
			}
		})
	}
	if got := a.MeanShare[runfmt.PartServerQueue]; math.Abs(got-0.75) > 1e-9 {
		t.Errorf("server_queue mean share = %g, want 0.75", got)
	}
	if got := a.MeanMS[runfmt.PartPrefill]; math.Abs(got-50.5*0.25) > 1e-9 {
		t.Errorf("prefill mean = %g ms, want %g", got, 50.5*0.25)
	}
	if a.MeanMS[runfmt.PartNetwork] != 0 {
		t.Errorf("network mean = %g ms, want 0: the failed request is left out", a.MeanMS[runfmt.PartNetwork])
	}
}

func TestAggregateFewRequests(t *testing.T) {
	// Three requests: percentiles 0, 50, 100. p95 and p99 catch no one and
	// take the request nearest 95 and 99: the slowest.
	bs := []runfmt.Breakdown{
		breakdown(1, map[string]float64{runfmt.PartPrefill: 30}),
		breakdown(2, map[string]float64{runfmt.PartPrefill: 10}),
		breakdown(3, map[string]float64{runfmt.PartPrefill: 20}),
	}
	a := Aggregate(bs)
	want := map[string][]int64{"p50": {3}, "p95": {1}, "p99": {1}}
	for _, b := range a.Bands {
		if !slices.Equal(b.Seqs, want[b.Name]) {
			t.Errorf("%s seqs = %v, want %v", b.Name, b.Seqs, want[b.Name])
		}
	}
	if empty := Aggregate(nil); empty.Requests != 0 || len(empty.Bands) != 0 {
		t.Errorf("empty aggregate = %d requests, %d bands; want 0, 0", empty.Requests, len(empty.Bands))
	}
}

func TestAggregateSLOAndUnexplained(t *testing.T) {
	miss := func(b runfmt.Breakdown) runfmt.Breakdown { b.SLOMissed = []string{"ttft"}; return b }
	off := breakdown(5, map[string]float64{runfmt.PartPrefill: 100})
	off.UnexplainedMS, off.TotalMS = -2, 98 // parts overlap by 2 ms
	bs := []runfmt.Breakdown{
		miss(breakdown(1, map[string]float64{runfmt.PartServerQueue: 900, runfmt.PartPrefill: 100})),
		miss(breakdown(2, map[string]float64{runfmt.PartServerQueue: 700, runfmt.PartPrefill: 100})),
		miss(breakdown(3, map[string]float64{runfmt.PartPrefill: 800})),
		breakdown(4, map[string]float64{runfmt.PartPrefill: 100}),
		off,
	}
	a := Aggregate(bs)
	want := []runfmt.SLOGroup{
		{Dominant: runfmt.PartServerQueue, Requests: 2},
		{Dominant: runfmt.PartPrefill, Requests: 1},
	}
	if len(a.SLOMisses) != len(want) {
		t.Fatalf("got %d SLO groups, want %d", len(a.SLOMisses), len(want))
	}
	for i, g := range a.SLOMisses {
		if g.Dominant != want[i].Dominant || g.Requests != want[i].Requests {
			t.Errorf("group %d = %s × %d, want %s × %d", i, g.Dominant, g.Requests, want[i].Dominant, want[i].Requests)
		}
	}
	if got := a.SLOMisses[0].MeanMS[runfmt.PartServerQueue]; got != 800 {
		t.Errorf("server_queue group mean = %g ms, want 800", got)
	}
	wantMax := 100 * 2 / 98.0
	if math.Abs(a.UnexplainedMaxPct-wantMax) > 1e-9 || math.Abs(a.UnexplainedMeanPct-wantMax/5) > 1e-9 {
		t.Errorf("unexplained mean %g %%, max %g %%; want %g, %g", a.UnexplainedMeanPct, a.UnexplainedMaxPct, wantMax/5, wantMax)
	}
}

func actions(recs []runfmt.Recommendation) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Action)
	}
	return out
}

func TestFitPrefill(t *testing.T) {
	// Prefill = 5 + 0.5 ms per input token, from traces.
	line := func(lengths ...int) []runfmt.Breakdown {
		var bs []runfmt.Breakdown
		for i, n := range lengths {
			r, tr := with(base, func(s *shape) { s.seq, s.input, s.prefill = int64(i), n, 5+0.5*float64(n) }).build()
			b, _ := Attribute(r, tr, Options{})
			bs = append(bs, b)
		}
		return bs
	}
	clientOnly := line(100, 200, 300, 400, 500, 600)
	for i := range clientOnly {
		clientOnly[i].Source = SourceClient
	}
	noisy := line(100, 200, 300, 400, 500)
	noisy[0].Parts[runfmt.PartPrefill] += 40
	noisy[3].Parts[runfmt.PartPrefill] -= 40

	tests := []struct {
		name                 string
		bs                   []runfmt.Breakdown
		slope, intercept, r2 float64
		n                    int
		isNil                bool
	}{
		{name: "exact line", bs: line(100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 100), slope: 0.5, intercept: 5, r2: 1, n: 11},
		// y = 95, 105, 155, 165, 255 over x = 100..500: Sxy = 38000,
		// Sxx = 100000, Syy = 16200.
		{name: "noisy line", bs: noisy, slope: 0.38, intercept: 41, r2: 38000.0 * 38000 / (100000 * 16200), n: 5},
		{name: "four lengths", bs: line(100, 200, 300, 400, 400, 100), isNil: true},
		{name: "client-only breakdowns", bs: clientOnly, isNil: true},
		{name: "none", isNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FitPrefill(tt.bs)
			if tt.isNil {
				if f != nil {
					t.Errorf("fit = %+v, want nil", *f)
				}
				return
			}
			if f == nil {
				t.Fatalf("fit = nil, want slope %g", tt.slope)
			}
			if math.Abs(f.Slope-tt.slope) > 1e-6 || math.Abs(f.Intercept-tt.intercept) > 1e-6 || f.N != tt.n {
				t.Errorf("fit = %g + %g·x over %d, want %g + %g·x over %d", f.Intercept, f.Slope, f.N, tt.intercept, tt.slope, tt.n)
			}
			if math.Abs(f.R2-tt.r2) > 1e-9 {
				t.Errorf("R² = %g, want %g", f.R2, tt.r2)
			}
			if f.X != "input_tokens" || f.Y != "prefill_ms" {
				t.Errorf("fit of %s against %s, want prefill_ms against input_tokens", f.Y, f.X)
			}
		})
	}

	// The fit feeds "shorten prompts" when prefill dominates.
	bs := line(100, 200, 300, 400, 500, 600, 700, 800, 900, 1000)
	_, recs := Verdict(bs, Evidence{PrefillFit: FitPrefill(bs)})
	if got := actions(recs); !slices.Equal(got, []string{"shorten prompts"}) {
		t.Fatalf("actions = %q, want [shorten prompts]", got)
	}
	if !strings.Contains(recs[0].Because, "0.500 ms per input token") {
		t.Errorf("because = %q, want the slope, 0.500 ms per input token", recs[0].Because)
	}
}

// run makes n breakdowns with normally distributed parts.
func run(rng *rand.Rand, n int, queue, prefill, decode float64) []runfmt.Breakdown {
	var bs []runfmt.Breakdown
	for i := range n {
		parts := map[string]float64{
			runfmt.PartServerQueue: queue * (1 + 0.2*rng.NormFloat64()),
			runfmt.PartPrefill:     prefill * (1 + 0.1*rng.NormFloat64()),
			runfmt.PartDecodeOwn:   decode * (1 + 0.1*rng.NormFloat64()),
			runfmt.PartNetwork:     0.5,
		}
		b := breakdown(int64(i+1), parts)
		b.TTFTMS = parts[runfmt.PartServerQueue] + parts[runfmt.PartPrefill]
		bs = append(bs, b)
	}
	return bs
}

func TestCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := run(rng, 200, 100, 1000, 300)
	same := run(rng, 200, 100, 1000, 300)
	faster := run(rng, 150, 100, 50, 300) // prefill 20× faster, the rest unchanged

	t.Run("no change", func(t *testing.T) {
		c := Compare(a, same)
		for _, d := range c.Metrics {
			if d.Significant {
				t.Errorf("%s: significant (p = %g, %+.1f %%), want not", d.Name, d.P, d.DeltaPct)
			}
		}
		if !strings.Contains(c.Summary, "not significant") {
			t.Errorf("summary = %q, want it to say not significant", c.Summary)
		}
	})
	t.Run("faster prefill", func(t *testing.T) {
		c := Compare(a, faster)
		if c.A != 200 || c.B != 150 || len(c.Metrics) != 2+len(runfmt.Parts) {
			t.Fatalf("compared %d vs %d over %d metrics, want 200 vs 150 over %d", c.A, c.B, len(c.Metrics), 2+len(runfmt.Parts))
		}
		sig := map[string]bool{}
		for _, d := range c.Metrics {
			sig[d.Name] = d.Significant
		}
		for name, want := range map[string]bool{"total": true, "ttft": true, runfmt.PartPrefill: true,
			runfmt.PartServerQueue: false, runfmt.PartDecodeOwn: false, runfmt.PartNetwork: false, runfmt.PartClientQueue: false} {
			if sig[name] != want {
				t.Errorf("%s significant = %v, want %v", name, sig[name], want)
			}
		}
		total := c.Metrics[0]
		if total.DeltaPct > -60 || total.DeltaMS > -900 {
			t.Errorf("total changed %+.1f %% (%+.1f ms), want about −67 %% (−950 ms)", total.DeltaPct, total.DeltaMS)
		}
		for _, want := range []string{"B vs A: total p95 −", "significant (p = ", "mostly prefill (−9", "server_queue, decode_own unchanged"} {
			if !strings.Contains(c.Summary, want) {
				t.Errorf("summary = %q, want it to contain %q", c.Summary, want)
			}
		}
	})
	t.Run("empty side", func(t *testing.T) {
		c := Compare(a, nil)
		if c.B != 0 || !strings.HasPrefix(c.Summary, "nothing to compare") {
			t.Errorf("summary = %q with %d B requests, want nothing to compare", c.Summary, c.B)
		}
	})
}

func TestSaturation(t *testing.T) {
	// A server that saturates at 8 VUs: throughput flattens, latency climbs.
	curve := []runfmt.LoadPoint{
		{Label: "16 VUs", Offered: 16, Throughput: 80, TTFTP95MS: 900, TotalP95MS: 210},
		{Label: "1 VU", Offered: 1, Throughput: 10, TTFTP95MS: 40, TotalP95MS: 100},
		{Label: "2 VUs", Offered: 2, Throughput: 20, TTFTP95MS: 40, TotalP95MS: 100},
		{Label: "4 VUs", Offered: 4, Throughput: 40, TTFTP95MS: 45, TotalP95MS: 105},
		{Label: "8 VUs", Offered: 8, Throughput: 78, TTFTP95MS: 60, TotalP95MS: 110},
		{Label: "32 VUs", Offered: 32, Throughput: 80.5, TTFTP95MS: 2000, TotalP95MS: 420},
	}
	linear := []runfmt.LoadPoint{
		{Label: "1", Offered: 1, Throughput: 10, TotalP95MS: 100},
		{Label: "2", Offered: 2, Throughput: 20, TotalP95MS: 100},
		{Label: "4", Offered: 4, Throughput: 40, TotalP95MS: 101},
	}
	tests := []struct {
		name     string
		points   []runfmt.LoadPoint
		slo      map[string]float64
		knee     string // "" for none
		capacity float64
		note     string
	}{
		{name: "knee at 8 VUs, e2e SLO", points: curve, slo: map[string]float64{"e2e": 200}, knee: "8 VUs", capacity: 78},
		{name: "ttft SLO", points: curve, slo: map[string]float64{"ttft": 50}, knee: "8 VUs", capacity: 40},
		{name: "both SLOs", points: curve, slo: map[string]float64{"ttft": 1000, "e2e": 300, "tpot": 20}, knee: "8 VUs", capacity: 80,
			note: "capacity at SLO ignores tpot"},
		{name: "no usable SLO", points: curve, slo: map[string]float64{"tpot": 20}, knee: "8 VUs", note: "capacity at SLO not computed"},
		{name: "knee not reached", points: linear, slo: map[string]float64{"e2e": 200}, capacity: 40, note: "did not reach the knee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Saturation(tt.points, tt.slo)
			got := ""
			if s.Knee != nil {
				got = s.Knee.Label
			}
			if got != tt.knee {
				t.Errorf("knee = %q, want %q", got, tt.knee)
			}
			if s.CapacityAtSLO != tt.capacity {
				t.Errorf("capacity at SLO = %g, want %g", s.CapacityAtSLO, tt.capacity)
			}
			if !strings.Contains(s.Note, tt.note) {
				t.Errorf("note = %q, want it to contain %q", s.Note, tt.note)
			}
			if !slices.IsSortedFunc(s.Points, func(a, b runfmt.LoadPoint) int { return int(a.Offered - b.Offered) }) {
				t.Errorf("points not sorted by offered load")
			}
		})
	}
	if Saturation(nil, nil) != nil {
		t.Errorf("Saturation(nil) is not nil")
	}
}

func TestLoadPoints(t *testing.T) {
	var bs []runfmt.Breakdown
	var reqs []*runfmt.Request
	add := func(vus int, start time.Duration, total, ttft float64, ok bool) {
		r := &runfmt.Request{Seq: int64(len(reqs) + 1), Started: t0.Add(start), Tags: map[string]string{"stage": fmt.Sprint(vus)}}
		b := breakdown(r.Seq, map[string]float64{runfmt.PartPrefill: total})
		b.TTFTMS, b.OK = ttft, ok
		reqs, bs = append(reqs, r), append(bs, b)
	}
	// 4 VUs: 10 requests of 400 ms started 100 ms apart: 1.3 s in all.
	for i := range 10 {
		add(4, time.Duration(i)*100*time.Millisecond, 400, 50+float64(i), true)
	}
	add(4, 0, 99999, 0, false) // failed: left out
	// 8 VUs: 4 requests of 1000 ms, all at 10 s.
	for i := range 4 {
		add(8, 10*time.Second, 1000, 100*float64(i+1), true)
	}
	add(0, 0, 5, 5, true) // no stage: left out

	key := func(r *runfmt.Request) (string, float64) {
		if r.Tags["stage"] == "0" {
			return "", 0
		}
		var n float64
		fmt.Sscan(r.Tags["stage"], &n)
		return r.Tags["stage"] + " VUs", n
	}
	got := LoadPoints(bs, reqs, key)
	want := []runfmt.LoadPoint{
		{Label: "4 VUs", Offered: 4, Throughput: 10 / 1.3, Concurrent: 10 / 1.3 * 0.4, TTFTP95MS: 58 + 0.55, TotalP95MS: 400},
		{Label: "8 VUs", Offered: 8, Throughput: 4, Concurrent: 4, TTFTP95MS: 300 + 0.85*100, TotalP95MS: 1000},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Label != w.Label || g.Offered != w.Offered || math.Abs(g.Throughput-w.Throughput) > 1e-9 ||
			math.Abs(g.Concurrent-w.Concurrent) > 1e-9 || math.Abs(g.TTFTP95MS-w.TTFTP95MS) > 1e-9 || g.TotalP95MS != w.TotalP95MS {
			t.Errorf("point %d = %+v, want %+v", i, g, w)
		}
	}
}
