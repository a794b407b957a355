package attribution

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

// stepSpan is a decode-only engine.step of batch sequences taking msv.
func stepSpan(batch int64, prefill int64, msv float64) *span.Span {
	return &span.Span{Name: "engine.step", Duration: dur(msv),
		Attrs: map[string]any{"batch.size": batch, "batch.prefill_tokens": prefill}}
}

// stepsOf makes count steps at each batch size, costing cost(batch) plus
// Gaussian noise of sd ms.
func stepsOf(seed uint64, counts map[int64]int, sd float64, cost func(b float64) float64) []*span.Span {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*span.Span
	for b := int64(1); b <= 64; b++ {
		for range counts[b] {
			out = append(out, stepSpan(b, 0, max(cost(float64(b))+sd*rng.NormFloat64(), 0.1)))
		}
	}
	return out
}

func TestFitStepCost(t *testing.T) {
	tests := []struct {
		name    string
		steps   []*span.Span
		wantNil bool
		a, b    float64
	}{
		{"memory-bound: batching nearly free", []*span.Span{stepSpan(1, 0, 10), stepSpan(2, 0, 11), stepSpan(4, 0, 13), stepSpan(8, 0, 17), stepSpan(4, 128, 90)}, false, 9, 1},
		{"compute-bound: cost per sequence", []*span.Span{stepSpan(1, 0, 10), stepSpan(2, 0, 20), stepSpan(4, 0, 40)}, false, 0, 10},
		{"negative slope: returned as it is", []*span.Span{stepSpan(1, 0, 20), stepSpan(2, 0, 18), stepSpan(3, 0, 16)}, false, 22, -2},
		{"one batch size: nothing to fit", []*span.Span{stepSpan(4, 0, 13), stepSpan(4, 0, 14)}, true, 0, 0},
		{"only prefill steps", []*span.Span{stepSpan(1, 64, 40), stepSpan(2, 64, 50)}, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FitStepCost(tt.steps)
			if (f == nil) != tt.wantNil {
				t.Fatalf("got %+v, want nil %v", f, tt.wantNil)
			}
			if f != nil && (math.Abs(f.Intercept-tt.a) > 1e-9 || math.Abs(f.Slope-tt.b) > 1e-9) {
				t.Errorf("got %.3f + %.3f·batch, want %.3f + %.3f·batch", f.Intercept, f.Slope, tt.a, tt.b)
			}
		})
	}
}

func TestFitStandardErrors(t *testing.T) {
	// y = 1 + 2x + e with residuals +1, −1, −1, +1 at x = 1..4: SSE 4, s²
	// 2, Sxx 5, so SE(slope) = √(2/5) and SE(intercept) = √(2·(1/4 + 2.5²/5)).
	f := fitLine([]float64{1, 2, 3, 4}, []float64{4, 4, 6, 10})
	if math.Abs(f.Slope-2) > 1e-9 || math.Abs(f.Intercept-1) > 1e-9 {
		t.Fatalf("fit %.3f + %.3f·x, want 1 + 2·x", f.Intercept, f.Slope)
	}
	if want := math.Sqrt(2.0 / 5); math.Abs(f.SlopeSE-want) > 1e-9 {
		t.Errorf("slope SE %.6f, want %.6f", f.SlopeSE, want)
	}
	if want := math.Sqrt(2 * (0.25 + 6.25/5)); math.Abs(f.InterceptSE-want) > 1e-9 {
		t.Errorf("intercept SE %.6f, want %.6f", f.InterceptSE, want)
	}
}

// TestStepCostFromFit is the identification rules of a fitted decode
// split, each with the case that made them.
func TestStepCostFromFit(t *testing.T) {
	memoryBound := func(b float64) float64 { return 18 + 0.5*b }
	tests := []struct {
		name       string
		steps      []*span.Span
		meanBatch  float64
		identified bool
		reason     string  // a substring of the reason
		own        float64 // the own share wanted when identified (±0.02)
	}{
		// The report's case: a handful of batch-1 steps against hundreds
		// of batch-2 steps, R² near 0. Two batch sizes cannot be told from
		// noise.
		{"a fit over two batch sizes", stepsOf(1, map[int64]int{1: 5, 2: 300}, 2, memoryBound), 1.98, false,
			"2 batch sizes with 5 steps or more, and a fit needs 3", 0},
		{"one batch size", stepsOf(2, map[int64]int{4: 200}, 1, memoryBound), 4, false, "needs 3", 0},
		{"a negative slope beyond noise", stepsOf(3, map[int64]int{1: 50, 2: 50, 4: 50}, 0.5, func(b float64) float64 { return 30 - 3*b }), 2.3, false,
			"got faster as the batch grew", 0},
		// Memory-bound decode: the slope is zero within noise, which says
		// batching costs nothing measurable. The own share is about 1, not
		// 1/n.
		{"a slope within noise of zero", stepsOf(4, map[int64]int{1: 60, 2: 60, 4: 60, 8: 60}, 1.5, func(float64) float64 { return 18 }), 3.75, true,
			"own share is", 1},
		{"a slope too uncertain to split", stepsOf(5, map[int64]int{1: 6, 2: 6, 8: 6}, 10, memoryBound), 3.7, false,
			"within noise", 0},
		{"a clear memory-bound line", stepsOf(6, map[int64]int{1: 50, 2: 50, 4: 50, 8: 50}, 0.3, memoryBound), 4, true,
			"own share is", 18.5 / 20},
		{"every step a batch of one", stepsOf(8, map[int64]int{1: 50}, 0.3, memoryBound), 1, true,
			"every decode step had one sequence", 1},
		{"a clear compute-bound line", stepsOf(7, map[int64]int{1: 50, 2: 50, 4: 50}, 0.3, func(b float64) float64 { return 10 * b }), 2, true,
			"own share is", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FitStepCost(tt.steps)
			sc := StepCostFromFit(f, tt.steps, tt.meanBatch)
			if sc.Identified != tt.identified || !strings.Contains(sc.Reason, tt.reason) {
				t.Fatalf("identified %v (%s), want %v with %q", sc.Identified, sc.Reason, tt.identified, tt.reason)
			}
			if sc.Source != "fit" {
				t.Errorf("source %q, want fit", sc.Source)
			}
			c := NewCost(sc)
			if !tt.identified {
				if c != nil {
					t.Errorf("NewCost of an unidentified fit = %+v, want nil", c)
				}
				return
			}
			if got := c.Own(tt.meanBatch); math.Abs(got-tt.own) > 0.02 {
				t.Errorf("own share at batch %.2f = %.3f, want %.3f", tt.meanBatch, got, tt.own)
			}
			if sc.OwnLo > sc.OwnShare || sc.OwnHi < sc.OwnShare || sc.OwnHi-sc.OwnLo > MaxOwnWidth {
				t.Errorf("own share %.3f in [%.3f, %.3f], want inside an interval narrower than %.2f", sc.OwnShare, sc.OwnLo, sc.OwnHi, MaxOwnWidth)
			}
		})
	}
}

func TestStepCostFromCalibration(t *testing.T) {
	ptsN := func(n int, spread float64, ms ...float64) []runfmt.StepCostPoint {
		var out []runfmt.StepCostPoint
		for i, m := range ms {
			out = append(out, runfmt.StepCostPoint{Batch: 1 << i, N: n, MS: m, SpreadMS: spread * m})
		}
		return out
	}
	pts := func(spread float64, ms ...float64) []runfmt.StepCostPoint { return ptsN(15, spread, ms...) }
	tests := []struct {
		name       string
		points     []runfmt.StepCostPoint
		meanBatch  float64
		identified bool
		reason     string
		own        float64
	}{
		{"memory-bound", pts(0.01, 18, 18.4, 19.2, 21), 2, true, "own share is", 18 / 18.4},
		{"between points", pts(0.01, 18, 18.4, 19.2, 21), 3, true, "own share is", 18 / 18.8},
		{"batch of one only", pts(0.01, 18), 2, false, "one batch size only", 0},
		{"every step a batch of one", pts(0.01, 18), 1, true, "every decode step had one sequence", 1},
		{"no batch of one", []runfmt.StepCostPoint{{Batch: 2, MS: 20}, {Batch: 4, MS: 22}}, 2, false, "no batch of one", 0},
		{"noisy calibration", pts(0.3, 18, 18.4, 19.2, 21), 2, false, "varied by", 0},
		// A 5 % spread is fine over 15 steps (each median known to about
		// 2 %), too much over one.
		{"5 % spread, 15 steps", ptsN(15, 0.05, 18, 18.4, 19.2, 21), 4, true, "own share is", 18 / 19.2},
		{"5 % spread, one step", ptsN(1, 0.05, 18, 18.4, 19.2, 21), 4, false, "too noisy", 0},
		{"a bigger batch timed cheaper: batching free", pts(0.01, 18, 17.9, 18.1), 2, true, "own share is", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := StepCostFromCalibration(tt.points, tt.meanBatch)
			if sc.Identified != tt.identified || !strings.Contains(sc.Reason, tt.reason) {
				t.Fatalf("identified %v (%s), want %v with %q", sc.Identified, sc.Reason, tt.identified, tt.reason)
			}
			if tt.identified {
				if got := NewCost(sc).Own(tt.meanBatch); math.Abs(got-tt.own) > 1e-9 {
					t.Errorf("own share at batch %g = %.4f, want %.4f", tt.meanBatch, got, tt.own)
				}
			}
		})
	}
	if StepCostFromCalibration(nil, 2) != nil {
		t.Error("no calibration gave a step cost")
	}
}

func TestHostFromSteps(t *testing.T) {
	calib := []runfmt.StepCostPoint{{Batch: 1, MS: 20}, {Batch: 2, MS: 22}}
	step := func(at time.Duration, batch int64, wall, cpu float64) *span.Span {
		return &span.Span{Name: "engine.step", Start: t0.Add(at), Duration: dur(wall),
			Attrs: map[string]any{"batch.size": batch, "batch.prefill_tokens": int64(0), "cpu.process_ms": cpu}}
	}
	one := HostInfo{Threads: 1, CoresAllowed: "0", NumAllowed: 1, GOMAXPROCS: 1}
	tests := []struct {
		name      string
		steps     []*span.Span
		h         HostInfo
		got       float64
		slowdown  float64
		contended bool
	}{
		{"a core of its own", []*span.Span{step(0, 1, 20, 19.6), step(time.Second, 2, 22, 21.5)}, one, 41.1 / 42, 1, false},
		{"sharing its core with a hog", []*span.Span{step(0, 1, 40, 20), step(time.Second, 2, 44, 22)}, one, 0.5, 2, true},
		{"more threads than cores: asks for the cores",
			[]*span.Span{step(0, 1, 20, 39)}, HostInfo{Threads: 4, NumAllowed: 2, GOMAXPROCS: 4}, 39.0 / 20, 1, false},
		{"steps outside the run are left out", []*span.Span{step(-time.Minute, 1, 40, 1), step(0, 1, 20, 19.6)}, one, 0.98, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := HostFromSteps(tt.steps, t0.Add(-10*time.Millisecond), t0.Add(1050*time.Millisecond), tt.h, calib)
			if h == nil {
				t.Fatal("no host figures")
			}
			if math.Abs(h.GotCores-tt.got) > 1e-9 || math.Abs(h.StepSlowdown-tt.slowdown) > 1e-9 {
				t.Errorf("got %.4f cores, slowdown %.3f; want %.4f, %.3f", h.GotCores, h.StepSlowdown, tt.got, tt.slowdown)
			}
			if Contended(h) != tt.contended {
				t.Errorf("contended %v (starved %.2f, busy %.2f), want %v", Contended(h), h.Starved, h.BusyShare, tt.contended)
			}
		})
	}
	if HostFromSteps([]*span.Span{stepSpan(1, 0, 20)}, t0, t0.Add(time.Hour), one, nil) != nil {
		t.Error("steps without cpu.process_ms gave host figures")
	}

	// The same from Prometheus' counters.
	h := HostFromCounters(8, 4.1, 10*time.Second, one)
	if h == nil || math.Abs(h.GotCores-4.1/8) > 1e-9 || math.Abs(h.BusyShare-0.8) > 1e-9 || !Contended(h) {
		t.Errorf("from counters: %+v, want 0.51 cores of 1, busy 0.8, contended", h)
	}
	if HostFromCounters(8, 4, 10*time.Second, HostInfo{}) != nil {
		t.Error("unknown threads gave host figures")
	}
}

func TestCheckLoad(t *testing.T) {
	tests := []struct {
		name        string
		l           runfmt.Load
		clientShare float64
		short       bool
	}{
		{"all delivered", runfmt.Load{Iterations: 100}, 0, false},
		{"a few dropped", runfmt.Load{Iterations: 100, Dropped: 3}, 0, false},
		{"most dropped", runfmt.Load{Iterations: 36, Dropped: 564}, 0, true},
		{"started late", runfmt.Load{Iterations: 100}, 0.2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l
			CheckLoad(&l, tt.clientShare)
			if l.Short != tt.short {
				t.Errorf("short = %v (dropped %.3f, client %.2f), want %v", l.Short, l.DroppedShare, l.ClientQueueShare, tt.short)
			}
		})
	}
}
