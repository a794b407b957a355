package attribution_test

import (
	"fmt"
	"time"

	"github.com/llmbench/llmbench/analyzer/attribution"
	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

func ExampleAttribute() {
	sent := time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return sent.Add(time.Duration(ms * float64(time.Millisecond))) }
	e2e, ttft := 712.0, 212.0
	r := &runfmt.Request{Seq: 1, OK: true, TraceID: "t1", SpanID: "c1", Started: at(-1), Sent: sent, E2EMS: &e2e, TTFTMS: &ttft}

	sp := func(id, parent, name, kind string, from, to float64, attrs map[string]any) *span.Span {
		return &span.Span{TraceID: "t1", SpanID: id, ParentID: parent, Name: name, Kind: kind,
			Start: at(from), Duration: at(to).Sub(at(from)), Attrs: attrs}
	}
	trace := &span.Trace{ID: "t1", Spans: []*span.Span{
		sp("c1", "", "llm.request", "client", -1, 713, nil),
		sp("s1", "c1", "POST /generate/stream", "server", 1, 711, nil),
		sp("q1", "s1", "queue_wait", "internal", 2, 150, nil),
		sp("g1", "s1", "model_generate", "internal", 150, 710, nil),
		sp("p1", "g1", "prefill", "internal", 150, 210, nil),
		sp("d1", "g1", "decode", "internal", 210, 710, map[string]any{"mean_batch_size": 4.0}),
		sp("w1", "s1", "stream_write", "internal", 210, 230, map[string]any{"summed": true}),
	}}

	// The server timed its decode steps at start-up: one sequence 20 ms,
	// four 25 ms, so a sequence's own share of a step of four is 0.8.
	cost := attribution.NewCost(&runfmt.StepCost{Identified: true, Points: []runfmt.StepCostPoint{{Batch: 1, MS: 20}, {Batch: 4, MS: 25}}})
	b, info := attribution.Attribute(r, trace, attribution.Options{StepCost: cost})
	for _, p := range runfmt.Parts {
		if b.Parts[p] != 0 {
			fmt.Printf("%-14s %6.1f ms\n", p, b.Parts[p])
		}
	}
	fmt.Printf("total %.1f ms, unexplained %.1f ms, dominant %s, server span %q\n", b.TotalMS, b.UnexplainedMS, b.Dominant, info.ServerSpan)
	// Output:
	// connect_send      1.0 ms
	// network           3.0 ms
	// server_other      1.0 ms
	// server_queue    148.0 ms
	// prefill          60.0 ms
	// decode_own      384.0 ms
	// decode_shared    96.0 ms
	// stream_write     20.0 ms
	// total 713.0 ms, unexplained 0.0 ms, dominant decode_own, server span "POST /generate/stream"
}
