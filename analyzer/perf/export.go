package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/runfmt"
)

// The run folder's fixed descriptions of the simulated run.
const (
	scenario = "analyze_bench"
	model    = "gpt2"
	target   = "http://127.0.0.1:8000"
	route    = "/generate/stream"
)

// exported is what export sent.
type exported struct {
	requestSpans, stepSpans int64    // spans the exporters delivered
	failed                  int64    // spans an export call failed to deliver
	traceIDs, spanIDs       []string // of each request's client span
	lastStepTrace           string   // "" without steps
}

// export sends the workload's spans, anchored at base, to the OTLP gRPC
// receiver at addr: the client spans as service "llmbench", the server
// and engine.step spans as service "refserver", each through its own
// TracerProvider with a batch span processor, as the two processes
// would. With steps false it leaves out the engine.step spans. It
// returns when both providers have flushed.
func export(ctx context.Context, w *workload, base time.Time, addr string, steps bool) (*exported, error) {
	client, err := newProvider(ctx, addr, "llmbench")
	if err != nil {
		return nil, err
	}
	server, err := newProvider(ctx, addr, "refserver")
	if err != nil {
		client.tp.Shutdown(ctx)
		return nil, err
	}
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ct := client.tp.Tracer("github.com/llmbench/llmbench/loadgen/llm")
	st := server.tp.Tracer("github.com/llmbench/llmbench/refserver/server")
	et := server.tp.Tracer("github.com/llmbench/llmbench/refserver/engine")

	out := &exported{traceIDs: make([]string, len(w.reqs)), spanIDs: make([]string, len(w.reqs))}
	serverSpans := make([]trace.SpanContext, len(w.reqs))
	for i := range w.reqs {
		if err := ctx.Err(); err != nil {
			break
		}
		r := &w.reqs[i]
		csc, ssc := emitRequest(ctx, ct, st, r, at)
		out.traceIDs[i], out.spanIDs[i] = csc.TraceID().String(), csc.SpanID().String()
		serverSpans[i] = ssc
	}
	for i := range w.steps {
		if !steps || ctx.Err() != nil {
			break
		}
		s := &w.steps[i]
		links := make([]trace.Link, len(s.members))
		for k, m := range s.members {
			links[k] = trace.Link{SpanContext: serverSpans[m]}
		}
		_, sp := et.Start(ctx, "engine.step", trace.WithNewRoot(), trace.WithTimestamp(at(s.start)), trace.WithLinks(links...),
			trace.WithAttributes(
				attribute.Int("batch.size", len(s.members)),
				attribute.Int("batch.prefill_tokens", s.prefillTokens),
				attribute.Int("batch.decode_sequences", s.decodeSeqs)))
		sp.End(trace.WithTimestamp(at(s.start + s.dur)))
		out.lastStepTrace = sp.SpanContext().TraceID().String()
	}
	err = errors.Join(client.tp.Shutdown(ctx), server.tp.Shutdown(ctx), ctx.Err())
	out.requestSpans = client.exp.ok.Load() + server.exp.ok.Load()
	if steps {
		out.stepSpans = int64(len(w.steps))
		out.requestSpans -= out.stepSpans
	}
	out.failed = client.exp.failed.Load() + server.exp.failed.Load()
	if err != nil {
		return out, fmt.Errorf("export spans: %w", err)
	}
	return out, nil
}

// emitRequest records one request's spans: the client's llm.request and,
// under it, refserver's route span with its children, as refserver's
// record does. It returns the client and server span contexts.
func emitRequest(ctx context.Context, ct, st trace.Tracer, r *simRequest, at func(time.Duration) time.Time) (trace.SpanContext, trace.SpanContext) {
	ts := trace.WithTimestamp
	_, c := ct.Start(ctx, "llm.request", trace.WithSpanKind(trace.SpanKindClient), ts(at(r.started)),
		trace.WithAttributes(
			attribute.String("llm.protocol", "generate"),
			attribute.Bool("llm.stream", true),
			attribute.String("gen_ai.request.model", model),
			attribute.Int("gen_ai.request.max_tokens", r.output)))
	csc := c.SpanContext()

	// The server's side, in a context that has the client's span as its
	// remote parent, as a traceparent header gives it.
	sctx := trace.ContextWithRemoteSpanContext(ctx, csc)
	sctx, s := st.Start(sctx, "POST "+route, trace.WithSpanKind(trace.SpanKindServer), ts(at(r.received)),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.String("url.path", route),
			attribute.String("url.scheme", "http"),
			attribute.String("server.address", "127.0.0.1"),
			attribute.Int("server.port", 8000),
			attribute.String("network.protocol.version", "1.1"),
			attribute.String("user_agent.original", "llmbench")))
	ssc := s.SpanContext()

	_, tok := st.Start(sctx, "tokenize_input", ts(at(r.tokStart)))
	tok.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", r.prompt), attribute.Int("prompt.bytes", 4*r.prompt))
	tok.End(ts(at(r.tokEnd)))
	_, q := st.Start(sctx, "queue_wait", ts(at(r.submitted)))
	q.End(ts(at(r.scheduled)))
	gctx, g := st.Start(sctx, "model_generate", ts(at(r.scheduled)))
	_, p := st.Start(gctx, "prefill", ts(at(r.scheduled)))
	p.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", r.prompt))
	p.End(ts(at(r.firstToken)))
	_, d := st.Start(gctx, "decode", ts(at(r.firstToken)))
	d.SetAttributes(attribute.Int("steps", r.decodeSteps), attribute.Float64("mean_batch_size", r.meanBatch()),
		attribute.Int("gen_ai.usage.output_tokens", r.output))
	d.End(ts(at(r.finished)))
	g.End(ts(at(r.finished)))
	_, dt := st.Start(sctx, "decode_output", ts(at(r.firstToken)))
	dt.SetAttributes(attribute.Bool("summed", true), attribute.Int("count", r.output))
	dt.End(ts(at(r.firstToken + r.detok)))
	_, sw := st.Start(sctx, "stream_write", ts(at(r.firstToken)))
	sw.SetAttributes(attribute.Bool("summed", true), attribute.Int("count", r.output))
	sw.End(ts(at(r.firstToken + r.write)))
	received := at(r.received)
	s.SetAttributes(
		attribute.Int("http.response.status_code", 200),
		attribute.String("gen_ai.system", "refserver"),
		attribute.String("gen_ai.operation.name", "generate"),
		attribute.String("gen_ai.request.model", model),
		attribute.Int("gen_ai.request.max_tokens", r.output),
		attribute.Float64("gen_ai.request.temperature", 0),
		attribute.Int("gen_ai.usage.input_tokens", r.prompt),
		attribute.Int("gen_ai.usage.output_tokens", r.output),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"length"}),
		attribute.Float64("gen_ai.latency.e2e", at(r.finished).Sub(received).Seconds()),
		attribute.Float64("gen_ai.latency.time_in_queue", (r.scheduled-r.submitted).Seconds()),
		attribute.Float64("gen_ai.latency.time_to_first_token", at(r.firstToken).Sub(received).Seconds()),
		attribute.Float64("gen_ai.latency.time_in_model_prefill", (r.firstToken-r.scheduled).Seconds()),
		attribute.Float64("gen_ai.latency.time_in_model_decode", (r.finished-r.firstToken).Seconds()))
	s.End(ts(at(r.serverEnd)))

	c.AddEvent("first_byte", ts(at(r.tokens[0])))
	c.AddEvent("first_token", ts(at(r.tokens[0])))
	c.AddEvent("last_token", ts(at(r.tokens[len(r.tokens)-1])))
	c.SetAttributes(
		attribute.Int("gen_ai.usage.input_tokens", r.prompt),
		attribute.Int("gen_ai.usage.output_tokens", r.output),
		attribute.Int("http.response.status_code", 200),
		attribute.String("gen_ai.response.model", model),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"length"}))
	c.End(ts(at(r.closed)))
	return csc, ssc
}

// provider is a TracerProvider and its counting exporter.
type provider struct {
	tp  *sdktrace.TracerProvider
	exp *countingExporter
}

// newProvider returns a TracerProvider for service that exports to the
// OTLP gRPC receiver at addr through a batch span processor that blocks
// rather than drops when its queue is full.
func newProvider(ctx context.Context, addr, service string) (*provider, error) {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("make OTLP exporter for %s: %w", service, err)
	}
	ce := &countingExporter{SpanExporter: exp}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", service),
			attribute.String("telemetry.sdk.language", "go"),
			attribute.String("telemetry.sdk.name", "opentelemetry"))),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(ce, sdktrace.WithBlocking(), sdktrace.WithMaxQueueSize(8192), sdktrace.WithMaxExportBatchSize(1024)))
	return &provider{tp: tp, exp: ce}, nil
}

// countingExporter counts the spans its exporter delivered and those it
// failed to. It is safe for concurrent use.
type countingExporter struct {
	sdktrace.SpanExporter
	ok, failed atomic.Int64
}

// ExportSpans exports spans and counts them.
func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.failed.Add(int64(len(spans)))
	} else {
		c.ok.Add(int64(len(spans)))
	}
	return err
}

// writeRun writes the run folder of the workload: run.json and
// requests.jsonl, the requests in the order they completed, with the
// trace ids export gave them.
func writeRun(dir string, w *workload, base time.Time, traceIDs, spanIDs []string, jaegerQuery string, users int) error {
	at := func(d time.Duration) time.Time { return base.Add(d) }
	opts, _ := json.Marshal(map[string]any{
		"scenarios": map[string]any{scenario: map[string]any{"executor": "shared-iterations", "vus": users, "iterations": len(w.reqs)}},
		"slo":       map[string]float64{"ttft": 100, "tpot": 10},
	})
	run := &runfmt.Run{
		ID: "analyze-bench", Scenario: scenario, Script: "(simulated by llmbench-dev analyze-bench)",
		Options: opts, Target: target, Protocol: "generate",
		Start: at(0), End: at(w.end), Status: runfmt.StatusFinished, Jaeger: jaegerQuery,
	}
	if err := runfmt.WriteRun(dir, run); err != nil {
		return err
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		return err
	}
	order := make([]int, len(w.reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDur(w.reqs[a].closed, w.reqs[b].closed) })
	for _, i := range order {
		rec := request(&w.reqs[i], at)
		rec.TraceID, rec.SpanID = traceIDs[i], spanIDs[i]
		if err := log.Append(rec); err != nil {
			log.Close()
			return err
		}
	}
	return log.Close()
}

// request is the requests.jsonl line of r, as the load generator writes
// it.
func request(r *simRequest, at func(time.Duration) time.Time) *runfmt.Request {
	n := len(r.tokens)
	first, last := r.tokens[0], r.tokens[n-1]
	gaps := make([]float64, n-1)
	chunks := make([]int, n)
	for k := range chunks {
		chunks[k] = 1
		if k > 0 {
			gaps[k-1] = ms(r.tokens[k] - r.tokens[k-1])
		}
	}
	send := r.sent - r.started - r.connecting
	rec := &runfmt.Request{
		Scenario: scenario, Protocol: "generate", Model: model, URL: target + route,
		VU: r.vu, Iter: r.iter, Stream: true,
		Started: at(r.started), Sent: at(r.sent),
		ConnectingMS: ms(r.connecting), SendingMS: ms(send),
		WaitingMS: ms(first - r.sent), ReceivingMS: ms(r.closed - first),
		FirstByteMS: msPtr(first - r.sent), TTFTMS: msPtr(first - r.sent), E2EMS: msPtr(last - r.sent),
		CloseMS: ms(r.closed - r.sent), GapsMS: gaps, ChunkTokens: chunks, Chunks: n,
		Status: 200, OK: true,
		InputTokens: r.prompt, OutputTokens: r.output, TokenSource: "usage", ClientOutputTokens: r.output,
		FinishReason:  "length",
		ServerQueueMS: msPtr(r.scheduled - r.submitted), ServerTTFTMS: msPtr(r.firstToken - r.received),
		ServerTotalMS: msPtr(r.serverEnd - r.received),
	}
	if n > 1 {
		rec.TTSTMS = msPtr(r.tokens[1] - first)
		tpot := ms(last-first) / float64(n-1)
		rec.TPOTMS = &tpot
		stpot := ms(r.finished-r.firstToken) / float64(n-1)
		rec.ServerTPOTMS = &stpot
	}
	return rec
}

func msPtr(d time.Duration) *float64 { v := ms(d); return &v }
