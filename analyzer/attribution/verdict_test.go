package attribution

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/runfmt"
)

// requests makes n successful breakdowns of one source whose parts vary by
// ±5 % around parts, so the bootstrap has something to resample.
func requests(n int, source string, parts map[string]float64) []runfmt.Breakdown {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var bs []runfmt.Breakdown
	for i := range n {
		p := map[string]float64{}
		for _, k := range runfmt.Parts { // in a fixed order: the same data every run
			if v, ok := parts[k]; ok {
				p[k] = v * (1 + 0.05*(2*rng.Float64()-1))
			}
		}
		b := breakdown(int64(i+1), p)
		b.Source = source
		bs = append(bs, b)
	}
	return bs
}

func traced(n int, parts map[string]float64) []runfmt.Breakdown {
	return requests(n, SourceTrace, parts)
}

const (
	raiseVUs    = actionRaiseVUs
	narrowerF32 = "serve narrower weights: refserver --dtype bf16 (half the bytes) or int8 (a quarter)"
)

func TestVerdict(t *testing.T) {
	queueBound := traced(40, map[string]float64{runfmt.PartServerQueue: 610, runfmt.PartPrefill: 200, runfmt.PartDecodeOwn: 190})
	prefillBound := traced(40, map[string]float64{runfmt.PartPrefill: 700, runfmt.PartDecodeOwn: 200, runfmt.PartNetwork: 100})
	decodeBound := traced(40, map[string]float64{runfmt.PartPrefill: 100, runfmt.PartDecodeOwn: 750, runfmt.PartNetwork: 150})
	unsplitDecode := traced(40, map[string]float64{runfmt.PartPrefill: 100, runfmt.PartDecode: 750, runfmt.PartNetwork: 150})
	sharedBound := traced(40, map[string]float64{runfmt.PartDecodeOwn: 100, runfmt.PartDecodeShared: 800, runfmt.PartPrefill: 100})
	gapBound := traced(40, map[string]float64{runfmt.PartDecodeOwn: 300, runfmt.PartBetweenSteps: 600, runfmt.PartPrefill: 100})
	clientBound := traced(40, map[string]float64{runfmt.PartClientQueue: 600, runfmt.PartPrefill: 400})
	networkBound := traced(40, map[string]float64{runfmt.PartNetwork: 600, runfmt.PartPrefill: 400})
	clientOnly := requests(40, SourceClient, map[string]float64{runfmt.PartUnsplit: 900, runfmt.PartConnectSend: 1})
	fit := &runfmt.Fit{X: "input_tokens", Y: "prefill_ms", Slope: 0.5, Intercept: 5, R2: 0.98, N: 200}
	contended := &runfmt.Host{Source: "engine.step spans", Threads: 1, CoresAllowed: "0", NumAllowed: 1, AskedCores: 1,
		GotCores: 0.5, Starved: 0.5, BusyShare: 0.9, StepSlowdown: 1.95, CPUShare: -1}
	calm := &runfmt.Host{Source: "engine.step spans", Threads: 2, CoresAllowed: "0-1", NumAllowed: 2, AskedCores: 2,
		GotCores: 1.95, Starved: 0.025, BusyShare: 0.9, CPUShare: -1}
	dropped := &runfmt.Load{Iterations: 36, Dropped: 564}
	CheckLoad(dropped, 0)

	tests := []struct {
		name       string
		bs         []runfmt.Breakdown
		ev         Evidence
		kind       string
		bottleneck string
		summary    string // a prefix of the summary
		actions    []string
		qualified  string // a substring of a qualification
	}{
		{name: "queue-bound, batch at its cap", bs: queueBound,
			ev:   Evidence{PeakQueueDepth: ptr(14), PeakBatch: ptr(8), MaxBatch: 8},
			kind: KindQueue, bottleneck: runfmt.PartServerQueue,
			summary: "queue-bound: server_queue is 6", actions: []string{actionRaiseBatch}},
		{name: "queue-bound, batch below its cap", bs: queueBound,
			ev:   Evidence{PeakQueueDepth: ptr(14), PeakBatch: ptr(5), MaxBatch: 8},
			kind: KindQueue, bottleneck: runfmt.PartServerQueue, summary: "queue-bound: server_queue is 6"},
		{name: "queue-bound, CPU saturated on a CPU", bs: queueBound, ev: Evidence{CPU: ptr(0.97), Device: "cpu", Host: calm},
			kind: KindQueue, bottleneck: runfmt.PartServerQueue, summary: "queue-bound", actions: []string{"add a replica", actionGPU}},
		{name: "queue-bound, CPU saturated on a GPU", bs: queueBound, ev: Evidence{CPU: ptr(0.95), Device: "cuda"},
			kind: KindQueue, bottleneck: runfmt.PartServerQueue, summary: "queue-bound", actions: []string{"add a replica"}},
		{name: "queue-bound on a contended host", bs: queueBound,
			ev:   Evidence{CPU: ptr(0.97), Device: "cpu", Host: contended, PeakBatch: ptr(8), MaxBatch: 8},
			kind: KindHostContended, bottleneck: "host_cpu", summary: "host-contended: while its engine was busy, the server got 0.50 of the 1 core",
			actions: []string{actionOwnCores, actionRaiseBatch}, qualified: "queue-bound"},
		{name: "prefill-bound with a fit", bs: prefillBound, ev: Evidence{PrefillFit: fit},
			kind: KindCompute, bottleneck: runfmt.PartPrefill, summary: "compute-bound: prefill and decode are 90 % [",
			actions: []string{"shorten prompts"}},
		{name: "prefill-bound, poor fit", bs: prefillBound, ev: Evidence{PrefillFit: &runfmt.Fit{Slope: 0.5, R2: 0.2, N: 50}},
			kind: KindCompute, bottleneck: runfmt.PartPrefill, summary: "compute-bound"},
		{name: "decode-bound on a CPU", bs: decodeBound, ev: Evidence{Device: "cpu", Host: calm},
			kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound: prefill and decode are 8", actions: []string{actionGPU}},
		{name: "decode-bound on a CPU, f32 weights", bs: decodeBound, ev: Evidence{Device: "cpu", DType: "f32", Host: calm},
			kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound", actions: []string{actionGPU, narrowerF32}},
		{name: "decode-bound on a CPU, bf16 weights", bs: decodeBound, ev: Evidence{Device: "cpu", DType: "bf16", Host: calm},
			kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound", actions: []string{actionGPU, "serve narrower weights: refserver --dtype int8 (half the bytes of bf16)"}},
		{name: "decode-bound on a CPU, int8 weights: nothing narrower", bs: decodeBound, ev: Evidence{Device: "cpu", DType: "int8", Host: calm},
			kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound", actions: []string{actionGPU}},
		{name: "decode-bound on a GPU, f32 weights: not measured there", bs: decodeBound, ev: Evidence{Device: "cuda", DType: "f32", Host: calm},
			kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound"},
		{name: "queue-bound, CPU saturated, f32 weights", bs: queueBound, ev: Evidence{CPU: ptr(0.97), Device: "cpu", DType: "f32", Host: calm},
			kind: KindQueue, bottleneck: runfmt.PartServerQueue, summary: "queue-bound", actions: []string{"add a replica", actionGPU, narrowerF32}},
		{name: "decode-bound on a contended CPU, f32 weights: cores first", bs: decodeBound, ev: Evidence{Device: "cpu", DType: "f32", Host: contended},
			kind: KindHostContended, bottleneck: "host_cpu", summary: "host-contended", actions: []string{actionOwnCores},
			qualified: "not on a slow model"},
		{name: "decode-bound on a contended CPU: no GPU", bs: decodeBound, ev: Evidence{Device: "cpu", Host: contended},
			kind: KindHostContended, bottleneck: "host_cpu", summary: "host-contended", actions: []string{actionOwnCores},
			qualified: "not on a slow model"},
		{name: "decode-bound, device unknown", bs: decodeBound, kind: KindCompute, bottleneck: runfmt.PartDecodeOwn, summary: "compute-bound"},
		{name: "decode not split", bs: unsplitDecode, ev: Evidence{Device: "cpu"},
			kind: KindCompute, bottleneck: runfmt.PartDecode,
			summary: "compute-bound: prefill and decode are 8", actions: []string{actionGPU}},
		{name: "batch contention", bs: sharedBound, kind: KindBatch, bottleneck: runfmt.PartDecodeShared, summary: "batch-bound: decode_shared",
			actions: []string{"lower the max batch size, or add a replica"}},
		{name: "time between steps", bs: gapBound, kind: KindEngine, bottleneck: runfmt.PartBetweenSteps,
			summary: "engine-loop-bound: between_steps (the engine's own work between its batched steps, not other sequences)",
			actions: []string{"look at what the engine does between steps: for refserver, a shorter --admit-wait holds the next step less for arriving requests"}},
		{name: "requests started late", bs: clientBound, kind: KindLoadGenerator, bottleneck: runfmt.PartClientQueue,
			summary: "load-generator-bound: it could not deliver the load the script asked for: client_queue is ", actions: []string{raiseVUs}},
		{name: "dropped iterations come first", bs: decodeBound, ev: Evidence{Load: dropped, Device: "cpu"},
			kind: KindLoadGenerator, bottleneck: "load_generator",
			summary:   "load-generator-bound: it could not deliver the load the script asked for: the load generator dropped 564 of the 600 iterations it was asked for (94 %)",
			actions:   []string{raiseVUs},
			qualified: "at the load it did deliver, the server was compute-bound"},
		{name: "network-bound", bs: networkBound, kind: KindNetwork, bottleneck: runfmt.PartNetwork, summary: "network-bound: network is 6",
			actions: []string{"bring the load generator closer to the server (same host or zone), or check the link"}},
		{name: "nothing split", bs: clientOnly, kind: KindUndetermined, bottleneck: "none",
			summary:   "cannot tell where the server's time went",
			actions:   []string{"send the server's spans to Jaeger (refserver --otlp-endpoint), or measure a server that reports its timings in its stream"},
			qualified: "neither server spans nor server timings"},
		{name: "no requests", kind: KindUnknown, bottleneck: "unknown", summary: "no successful requests"},
		{name: "every request refused", kind: KindFailed, bottleneck: runfmt.ErrorConnect,
			ev:      Evidence{Failures: []Failure{{Class: runfmt.ErrorConnect, Count: 5, First: "dial tcp 127.0.0.1:1: connect: connection refused"}}},
			summary: "no successful requests: 5 of 5 failed with connect (dial tcp 127.0.0.1:1: connect: connection refused)",
			actions: []string{"check that the target is up and listening at the URL the script uses (-e TARGET=...)"}},
		{name: "failures of two kinds", kind: KindFailed, bottleneck: runfmt.ErrorHTTP,
			ev:      Evidence{Failures: []Failure{{Class: runfmt.ErrorHTTP, Count: 3, First: "HTTP 404: no route POST /v1/chat"}, {Class: runfmt.ErrorTimeout, Count: 2, First: "timeout"}}},
			summary: "no successful requests: 3 of 5 failed with http (HTTP 404",
			actions: []string{"read the server's answers in requests.jsonl: a 4xx means the requests do not suit it (the URL's path, the protocol: -e PROTOCOL=..., the model name), a 5xx that it failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, recs := Verdict(tt.bs, tt.ev)
			if v.Kind != tt.kind || v.Bottleneck != tt.bottleneck {
				t.Errorf("kind, bottleneck = %q, %q; want %q, %q", v.Kind, v.Bottleneck, tt.kind, tt.bottleneck)
			}
			if !strings.HasPrefix(v.Summary, tt.summary) {
				t.Errorf("summary = %q, want it to start %q", v.Summary, tt.summary)
			}
			if got := actions(recs); !slices.Equal(got, tt.actions) {
				t.Errorf("actions = %q, want %q", got, tt.actions)
			}
			for _, r := range recs {
				if len(r.Evidence) == 0 || r.Because == "" {
					t.Errorf("recommendation %q has evidence %q and because %q, want both", r.Action, r.Evidence, r.Because)
				}
			}
			if tt.qualified != "" && !slices.ContainsFunc(v.Qualifications, func(q string) bool { return strings.Contains(q, tt.qualified) }) {
				t.Errorf("qualifications = %q, want one with %q", v.Qualifications, tt.qualified)
			}
			if tt.kind == KindFailed && len(v.Evidence) != len(tt.ev.Failures) {
				t.Errorf("evidence %q: want a line for each error class", v.Evidence)
			}
			if tt.kind != KindUnknown && tt.kind != KindFailed && (len(v.Evidence) == 0 || v.Agreement == 0 || len(v.Shares) == 0) {
				t.Errorf("evidence %q, agreement %g, shares %v: want all three", v.Evidence, v.Agreement, v.Shares)
			}
		})
	}
}

func TestVerdictWithinNoise(t *testing.T) {
	// Forty requests of 1000 ms: half spent 55 % queued and 45 % in
	// compute, half the other way round. Which class leads the p95 band
	// depends on which requests a resample draws: no single bottleneck.
	var bs []runfmt.Breakdown
	for i := range 40 {
		q := 550.0
		if i%2 == 1 {
			q = 450
		}
		bs = append(bs, breakdown(int64(i+1), map[string]float64{runfmt.PartServerQueue: q, runfmt.PartDecodeOwn: 1000 - q}))
	}
	v, recs := Verdict(bs, Evidence{Device: "cpu"})
	if v.Kind != KindUndetermined || v.Bottleneck != "none" {
		t.Fatalf("kind %q, bottleneck %q (%s), want undetermined, none", v.Kind, v.Bottleneck, v.Summary)
	}
	if !strings.HasPrefix(v.Summary, "no single bottleneck: ") || !strings.Contains(v.Summary, "queue") || !strings.Contains(v.Summary, "compute") {
		t.Errorf("summary = %q, want no single bottleneck with both classes", v.Summary)
	}
	if v.Agreement >= MinAgreement {
		t.Errorf("agreement %.2f, want below %.2f", v.Agreement, MinAgreement)
	}
	if got := actions(recs); len(got) != 1 || !strings.HasPrefix(got[0], "measure more requests") {
		t.Errorf("actions = %q, want only to measure more", got)
	}
	// Determinism: the same requests give the same verdict, to the digit.
	again, _ := Verdict(bs, Evidence{Device: "cpu"})
	if again.Summary != v.Summary || again.Agreement != v.Agreement {
		t.Errorf("a second call gave %q (%g), want %q (%g)", again.Summary, again.Agreement, v.Summary, v.Agreement)
	}
}

func TestVerdictMixedSources(t *testing.T) {
	// 60 traced requests queue-bound, 40 whose traces were lost, split by
	// the server's timings: the shares are the traced ones', and the
	// others are kept apart and said to agree.
	bs := append(traced(60, map[string]float64{runfmt.PartServerQueue: 700, runfmt.PartPrefill: 100, runfmt.PartDecodeOwn: 200}),
		requests(40, SourceServer, map[string]float64{runfmt.PartServerQueue: 650, runfmt.PartPrefill: 100, runfmt.PartDecode: 250})...)
	v, _ := Verdict(bs, Evidence{})
	if v.Kind != KindQueue || v.Basis != "60 traced requests of 100" {
		t.Errorf("kind %q, basis %q; want queue from 60 traced requests of 100", v.Kind, v.Basis)
	}
	if !slices.ContainsFunc(v.Qualifications, func(q string) bool {
		return strings.Contains(q, "40 other requests without server spans") && strings.Contains(q, "also queue")
	}) {
		t.Errorf("qualifications = %q, want the 40 untraced requests kept apart, agreeing", v.Qualifications)
	}
	a, others := BySource(bs)
	if a.Source != SourceTrace || a.Requests != 60 || len(others) != 1 || others[0].Source != SourceServer || others[0].Requests != 40 {
		t.Errorf("BySource: %s × %d, others %v; want trace × 60 and server × 40", a.Source, a.Requests, others)
	}
	if a.MeanMS[runfmt.PartDecode] != 0 {
		t.Errorf("traced aggregate has %g ms of unsplit decode: the sources were mixed", a.MeanMS[runfmt.PartDecode])
	}

	// When most traces are missing, the server's timings are the basis,
	// and the headline says what they cannot split.
	bs = append(traced(20, map[string]float64{runfmt.PartServerQueue: 700, runfmt.PartDecodeOwn: 300}),
		requests(80, SourceServer, map[string]float64{runfmt.PartServerQueue: 650, runfmt.PartPrefill: 100, runfmt.PartDecode: 250})...)
	v, _ = Verdict(bs, Evidence{})
	if v.Kind != KindQueue || !strings.HasPrefix(v.Basis, "80 untraced") ||
		!slices.ContainsFunc(v.Qualifications, func(q string) bool { return strings.Contains(q, "decode is not split") }) {
		t.Errorf("kind %q, basis %q, qualifications %q; want queue from the 80 untraced, saying decode is not split", v.Kind, v.Basis, v.Qualifications)
	}
}

func TestPrimary(t *testing.T) {
	mk := func(trace, server, client int) []runfmt.Breakdown {
		var bs []runfmt.Breakdown
		bs = append(bs, requests(trace, SourceTrace, map[string]float64{runfmt.PartPrefill: 1})...)
		bs = append(bs, requests(server, SourceServer, map[string]float64{runfmt.PartPrefill: 1})...)
		return append(bs, requests(client, SourceClient, map[string]float64{runfmt.PartUnsplit: 1})...)
	}
	tests := []struct {
		name                  string
		trace, server, client int
		want                  string
	}{
		{"all traced", 10, 0, 0, SourceTrace},
		{"half traced", 5, 0, 5, SourceTrace},
		{"a third each, server most", 3, 4, 3, SourceServer},
		{"mostly client-only", 2, 2, 6, SourceClient},
		{"nothing", 0, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Primary(mk(tt.trace, tt.server, tt.client)); got != tt.want {
				t.Errorf("Primary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBootstrapShares(t *testing.T) {
	bs := traced(50, map[string]float64{runfmt.PartServerQueue: 700, runfmt.PartPrefill: 100, runfmt.PartDecodeOwn: 200})
	sh := BootstrapShares(bs)
	if sh.Top != ClassQueue || sh.Agreement != 1 {
		t.Errorf("top %q agreed %.2f, want queue in every resample", sh.Top, sh.Agreement)
	}
	for class, v := range sh.Class {
		if v < sh.Lo[class]-1e-9 || v > sh.Hi[class]+1e-9 {
			t.Errorf("%s: share %.3f outside its interval [%.3f, %.3f]", class, v, sh.Lo[class], sh.Hi[class])
		}
	}
	if q := sh.Class[ClassQueue]; q < 0.65 || q > 0.75 {
		t.Errorf("queue share %.3f, want about 0.70", q)
	}
	// The p95 band is the aggregate's.
	a := Aggregate(bs)
	if !slices.Equal(sh.Band.Seqs, a.Bands[1].Seqs) {
		t.Errorf("bootstrap band %v, aggregate's p95 band %v", sh.Band.Seqs, a.Bands[1].Seqs)
	}
	// Band positions match Aggregate's for every size, the tiny ones
	// included.
	for n := 1; n <= 60; n++ {
		var bs []runfmt.Breakdown
		for i := range n {
			bs = append(bs, breakdown(int64(i+1), map[string]float64{runfmt.PartPrefill: float64(i + 1)}))
		}
		lo, hi := bandPositions(n)
		want := Aggregate(bs).Bands[1].Seqs
		if int(want[0]) != lo+1 || int(want[len(want)-1]) != hi+1 {
			t.Errorf("n = %d: band ranks %d..%d, Aggregate's p95 band %v", n, lo, hi, want)
		}
	}
}

// TestVerdictNamesTheDType: the verdict's evidence names the weights' type
// beside the device (issue 22): bf16 weights on the same CPU stream half
// the bytes, so two runs that differ only there must say so.
func TestVerdictNamesTheDType(t *testing.T) {
	bs := traced(40, map[string]float64{runfmt.PartPrefill: 100, runfmt.PartDecodeOwn: 750, runfmt.PartNetwork: 150})
	calm := &runfmt.Host{Source: "engine.step spans", Threads: 2, CoresAllowed: "0-1", NumAllowed: 2, AskedCores: 2,
		GotCores: 1.95, Starved: 0.025, BusyShare: 0.9, CPUShare: -1}
	for _, dt := range []string{"f32", "bf16"} {
		v, _ := Verdict(bs, Evidence{Device: "cpu", DType: dt, Host: calm})
		if want := "device: cpu, " + dt + " weights"; !strings.Contains(strings.Join(v.Evidence, "; "), want) {
			t.Errorf("%s: evidence %q lacks %q", dt, v.Evidence, want)
		}
	}
}
