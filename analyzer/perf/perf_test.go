package perf

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/runfmt"
)

// TestSimulate checks the simulated run's invariants: each request's
// times in order, one token per step it takes part in, batches within
// the cap, at most one request per user in flight, and room between the
// steps for the summed detokenize and stream-write time (so that the
// analyzer's step-based split keeps them whole). The same seed gives the
// same run.
func TestSimulate(t *testing.T) {
	tests := []struct {
		name string
		cfg  simConfig
	}{
		{"8 users, batch of 8", simConfig{requests: 300, users: 8, maxBatch: 8, seed: 1}},
		{"8 users, batch of 2: queueing", simConfig{requests: 300, users: 8, maxBatch: 2, seed: 2}},
		{"1 user", simConfig{requests: 20, users: 1, maxBatch: 8, seed: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := simulate(tt.cfg)
			if got := len(w.reqs); got != tt.cfg.requests {
				t.Fatalf("got %d requests, want %d", got, tt.cfg.requests)
			}
			inSteps := make([]int, len(w.reqs))
			stepped := make([]time.Duration, len(w.reqs)) // each request's decode steps, summed
			queued := false
			for k, st := range w.steps {
				if n := len(st.members); n == 0 || n > tt.cfg.maxBatch {
					t.Errorf("step %d: got a batch of %d, want 1 to %d", k, n, tt.cfg.maxBatch)
				}
				if k > 0 && st.start < w.steps[k-1].start+w.steps[k-1].dur {
					t.Errorf("step %d starts at %v, before step %d ends", k, st.start, k-1)
				}
				for _, m := range st.members {
					inSteps[m]++
					if st.start >= w.reqs[m].firstToken {
						stepped[m] += st.dur
					}
				}
			}
			for i := range w.reqs {
				r := &w.reqs[i]
				order := []time.Duration{r.started, r.sent, r.received, r.tokStart, r.tokEnd, r.submitted, r.scheduled, r.firstToken, r.finished, r.serverEnd, r.closed}
				for k := 1; k < len(order); k++ {
					if order[k] < order[k-1] {
						t.Fatalf("request %d: time %d (%v) before time %d (%v): %v", i, k, order[k], k-1, order[k-1], order)
					}
				}
				if r.scheduled-r.submitted > 20*time.Millisecond {
					queued = true
				}
				if len(r.tokens) != r.output || inSteps[i] != r.output || r.decodeSteps != r.output-1 {
					t.Errorf("request %d: %d tokens, in %d steps, %d decode steps; want %d, %d, %d",
						i, len(r.tokens), inSteps[i], r.decodeSteps, r.output, r.output, r.output-1)
				}
				if last := r.tokens[len(r.tokens)-1]; last <= r.finished || last > r.closed {
					t.Errorf("request %d: last token at the client %v, want in (%v, %v]", i, last, r.finished, r.closed)
				}
				if gaps := r.finished - r.firstToken - stepped[i]; r.detok+r.write > gaps {
					t.Errorf("request %d: detokenize + stream write %v exceed the gaps between steps (about %v)", i, r.detok+r.write, gaps)
				}
			}
			if tt.cfg.maxBatch < tt.cfg.users && !queued {
				t.Error("no request waited over 20 ms for a batch slot, want some with fewer slots than users")
			}
			inFlight := map[int]time.Duration{} // user → the end of its last request
			for i := range w.reqs {
				r := &w.reqs[i]
				if end, ok := inFlight[r.vu]; ok && r.started < end {
					t.Errorf("request %d of user %d starts at %v, before the user's previous one closed at %v", i, r.vu, r.started, end)
				}
				inFlight[r.vu] = r.closed
			}
			if again := simulate(tt.cfg); !reflect.DeepEqual(again, w) {
				t.Error("the same seed gave a different run")
			}
		})
	}
}

// TestAnalysisMatchesSimulation exports a simulated run of 200 requests
// to the real Jaeger, analyzes it as the child process does (Run with
// AnalyzeOnly) and checks that every trace was found and that each
// request's breakdown is the simulated durations: the analyzer reads back
// what was generated, engine.step spans included (the run is small
// enough for the analyzer to fetch them).
func TestAnalysisMatchesSimulation(t *testing.T) {
	j := stacktest.Jaeger(t)
	ctx := t.Context()
	dir := t.TempDir()
	cfg := Config{Requests: 200}.withDefaults()
	var rep Report
	wl, ex, err := generate(ctx, cfg, j, dir, &rep, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(9 * cfg.Requests); rep.RequestSpans != want || rep.StepSpans != int64(len(wl.steps)) || rep.FailedSpans != 0 {
		t.Errorf("got %d request spans, %d step spans, %d failed; want %d, %d, 0", rep.RequestSpans, rep.StepSpans, rep.FailedSpans, want, len(wl.steps))
	}

	var out bytes.Buffer
	if _, err := Run(ctx, Config{AnalyzeOnly: dir, Jaeger: j.QueryGRPC}, &out); err != nil {
		t.Fatal(err)
	}
	m, err := parseMeasurement(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != cfg.Requests || m.Analyzed != cfg.Requests || m.MissingTraces != 0 || m.PartialTraces != 0 || m.ClientOnly != 0 {
		t.Errorf("got coverage %+v, want all %d requests analyzed from their traces", m, cfg.Requests)
	}
	if m.WallS <= 0 || m.PeakRSSMiB <= 0 {
		t.Errorf("got wall %g s, peak RSS %g MiB; want both measured", m.WallS, m.PeakRSSMiB)
	}

	a, err := runfmt.ReadAnalysis(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The decode steps of each request, and the analyzer's rule for a
	// request's own share of a step of n sequences: what a batch of one
	// costs over what the batch costs, by the run's step-cost fit, which
	// the simulated steps identify.
	if f := a.StepFit; f == nil || math.Abs(f.Intercept-ms(stepBase)) > 0.1*ms(stepBase) || math.Abs(f.Slope-ms(stepPerSeq)) > 0.1*ms(stepPerSeq) {
		t.Errorf("got step-cost fit %+v, want about %.1f ms + %.1f ms per sequence, as simulated", f, ms(stepBase), ms(stepPerSeq))
	}
	if sc := a.StepCost; sc == nil || !sc.Identified || sc.Source != "fit" {
		t.Fatalf("step cost %+v: want the run's fit, identified", sc)
	}
	share := func(n float64) float64 {
		f := a.StepFit
		return (f.Intercept + f.Slope) / (f.Intercept + f.Slope*n)
	}
	own := make([]float64, len(wl.reqs))
	stepped := make([]float64, len(wl.reqs))
	for _, st := range wl.steps {
		for _, m := range st.members {
			if st.start >= wl.reqs[m].firstToken {
				n := float64(len(st.members))
				own[m] += ms(st.dur) * min(share(n), 1)
				stepped[m] += ms(st.dur)
			}
		}
	}
	byTrace := map[string]int{}
	for i, id := range ex.traceIDs {
		byTrace[id] = i
	}
	const tol = 0.01 // ms: Jaeger keeps times to the microsecond
	for _, b := range a.Requests {
		i, ok := byTrace[b.TraceID]
		if !ok {
			t.Fatalf("breakdown of an unknown trace %s", b.TraceID)
		}
		r := &wl.reqs[i]
		last := r.tokens[len(r.tokens)-1]
		want := map[string]float64{
			runfmt.PartClientQueue:  0,
			runfmt.PartConnectSend:  ms(r.sent - r.started),
			runfmt.PartNetwork:      ms(r.received-r.sent) + ms(last-r.finished),
			runfmt.PartServerOther:  ms(r.tokStart-r.received) + ms(r.submitted-r.tokEnd),
			runfmt.PartTokenize:     ms(r.tokEnd - r.tokStart),
			runfmt.PartServerQueue:  ms(r.scheduled - r.submitted),
			runfmt.PartPrefill:      ms(r.firstToken - r.scheduled),
			runfmt.PartDecodeOwn:    own[i],
			runfmt.PartDecodeShared: stepped[i] - own[i],
			runfmt.PartBetweenSteps: ms(r.finished-r.firstToken-r.detok-r.write) - stepped[i],
			runfmt.PartDetokenize:   ms(r.detok),
			runfmt.PartStreamWrite:  ms(r.write),
		}
		for _, p := range runfmt.Parts {
			if got := b.Parts[p]; math.Abs(got-want[p]) > tol {
				t.Errorf("request %d (trace %s): got %s %.4f ms, want %.4f ms", b.Seq, b.TraceID, p, got, want[p])
			}
		}
		if got, want := b.TotalMS, ms(last-r.started); math.Abs(got-want) > tol {
			t.Errorf("request %d: got total %.4f ms, want %.4f ms", b.Seq, got, want)
		}
		if got, want := b.MeanBatch, r.meanBatch(); math.Abs(got-want) > 1e-9 {
			t.Errorf("request %d: got mean batch %g, want %g", b.Seq, got, want)
		}
	}
}

// TestRun runs the whole benchmark, small and in process, and checks its
// report, table and JSON file.
func TestRun(t *testing.T) {
	if _, err := stack.Find("jaeger"); err != nil {
		stacktest.Jaeger(t) // Run starts its own; this skips (or fails under LLMBENCH_INTEGRATION=1) with the hint
	}
	out := filepath.Join(t.TempDir(), "report.json")
	var text bytes.Buffer
	rep, err := Run(t.Context(), Config{Requests: 100, InProcess: true, Out: out, WorkDir: t.TempDir()}, &text)
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Analysis
	if a.Requests != 100 || a.MissingTraces != 0 || rep.RequestSpans != 900 || rep.StepSpans == 0 || !a.InProcess {
		t.Errorf("got %d requests, %d missing, %d request spans, %d step spans, in process %v; want 100, 0, 900, some, true",
			a.Requests, a.MissingTraces, rep.RequestSpans, rep.StepSpans, a.InProcess)
	}
	if rep.JaegerRSSBeforeMiB <= 0 || rep.JaegerRSSMaxMiB < rep.JaegerRSSBeforeMiB {
		t.Errorf("got Jaeger RSS %g MiB before, %g MiB max; want measured, max ≥ before", rep.JaegerRSSBeforeMiB, rep.JaegerRSSMaxMiB)
	}
	results := map[string]string{}
	for _, r := range rep.Rows {
		results[r.What] = "info"
		if r.Met != nil {
			results[r.What] = map[bool]string{true: "met", false: "MISSED"}[*r.Met]
		}
	}
	for what, want := range map[string]string{
		"requests analyzed": "MISSED", // 100, not 10,000
		"traces found / partial / missing / client-only": "met",
	} {
		if got := results[what]; got != want {
			t.Errorf("row %q: got %q, want %q", what, got, want)
		}
	}
	for _, want := range []string{"COMPARED", "analysis wall time", "analysis peak RSS", "<= 1024 MiB"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("printed table lacks %q:\n%s", want, text.String())
		}
	}
	var back Report
	if b, err := os.ReadFile(out); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Analysis.Requests != 100 || len(back.Rows) != len(rep.Rows) {
		t.Errorf("report file: got %d requests and %d rows, want 100 and %d", back.Analysis.Requests, len(back.Rows), len(rep.Rows))
	}
}

func TestParseMeasurement(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    float64 // WallS
		wantErr bool
	}{
		{"one line", `{"wall_s":1.5,"requests":3}` + "\n", 1.5, false},
		{"after other output", "a log line\n" + `{"wall_s":2}` + "\n\n", 2, false},
		{"no JSON", "panic: oops\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMeasurement([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && m.WallS != tt.want {
				t.Errorf("got wall %g, want %g", m.WallS, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero value", Config{}, false},
		{"negative requests", Config{Requests: -1}, true},
		{"child without Jaeger", Config{AnalyzeOnly: "run"}, true},
		{"child", Config{AnalyzeOnly: "run", Jaeger: "127.0.0.1:16685"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestProcReaders(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	rss, hwm := procStatus(0, "VmRSS"), procStatus(0, "VmHWM")
	if rss <= 0 || hwm < rss {
		t.Errorf("got VmRSS %d, VmHWM %d; want VmRSS > 0 and VmHWM ≥ VmRSS", rss, hwm)
	}
	if got := procStatus(0, "NoSuchField"); got != 0 {
		t.Errorf("got %d for an unknown field, want 0", got)
	}
	if got := procStatus(os.Getpid(), "VmRSS"); got <= 0 {
		t.Errorf("got VmRSS %d by pid, want > 0", got)
	}
	if got := procCPU(1 << 30); got != 0 {
		t.Errorf("got CPU %v of no process, want 0", got)
	}
}
