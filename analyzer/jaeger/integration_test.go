package jaeger_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
)

// TestIntegration exports OTel spans to the real Jaeger (bin/jaeger; the
// test skips without it) and reads them back through Client.
func TestIntegration(t *testing.T) {
	j := stacktest.Jaeger(t)
	ctx := t.Context()

	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(j.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	const service = "analyzer-jaeger-test"
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	tr := tp.Tracer("github.com/llmbench/llmbench/analyzer/jaeger")
	start := time.Now().UTC()

	// A span in a trace of its own, for the request span to link to.
	_, target := tr.Start(ctx, "engine.step", trace.WithTimestamp(start))
	target.End(trace.WithTimestamp(start.Add(time.Millisecond)))

	rctx, req := tr.Start(ctx, "llm.request", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start), trace.WithLinks(trace.Link{SpanContext: target.SpanContext()}),
		trace.WithAttributes(
			attribute.String("gen_ai.request.model", "gpt2"),
			attribute.Int("gen_ai.usage.output_tokens", 20),
			attribute.Float64("ratio", 0.25),
			attribute.Bool("stream", true),
			attribute.StringSlice("stop", []string{"a", "b"})))
	req.AddEvent("first_token", trace.WithTimestamp(start.Add(5*time.Millisecond)), trace.WithAttributes(attribute.Int("n", 1)))
	_, srv := tr.Start(rctx, "POST /generate", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start.Add(time.Millisecond)))
	srv.End(trace.WithTimestamp(start.Add(8 * time.Millisecond)))
	req.End(trace.WithTimestamp(start.Add(10 * time.Millisecond)))
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	traceHex := req.SpanContext().TraceID().String()
	reqHex := req.SpanContext().SpanID().String()

	c, err := jaeger.Dial(ctx, j.QueryGRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	missing := "0123456789abcdef0123456789abcdef"
	got, err := c.Fetch(ctx, []string{traceHex, missing}, jaeger.FetchOptions{
		Expect: []jaeger.Match{{Name: "llm.request", Kind: "client"}, {Name: "POST /generate", Kind: "server"}},
		Wait:   2 * time.Second,
		Poll:   100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Traces[1]; r.Status != jaeger.Missing {
		t.Errorf("unknown trace: status %v (err %v), want missing", r.Status, r.Err)
	}
	r := got.Traces[0]
	if r.Status != jaeger.Found {
		t.Fatalf("status %v (absent %v, err %v), want found", r.Status, r.Absent, r.Err)
	}

	s := r.Trace.Find("llm.request", service)
	want := &span.Span{
		TraceID:  traceHex,
		SpanID:   reqHex,
		Service:  service,
		Name:     "llm.request",
		Kind:     "client",
		Start:    start,
		Duration: 10 * time.Millisecond,
		Events:   []span.Event{{Name: "first_token", Time: start.Add(5 * time.Millisecond)}},
		Links:    []span.Link{{TraceID: target.SpanContext().TraceID().String(), SpanID: target.SpanContext().SpanID().String()}},
	}
	if s == nil {
		t.Fatalf("no llm.request span among %d", len(r.Trace.Spans))
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"trace id", s.TraceID, want.TraceID},
		{"span id", s.SpanID, want.SpanID},
		{"parent", s.ParentID, want.ParentID},
		{"service", s.Service, want.Service},
		{"kind", s.Kind, want.Kind},
		{"start", s.Start.UnixNano(), want.Start.UnixNano()},
		{"duration", s.Duration, want.Duration},
		{"links", s.Links, want.Links},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if len(s.Events) != 1 || s.Events[0].Name != "first_token" || !s.Events[0].Time.Equal(want.Events[0].Time) {
		t.Errorf("events = %v, want %v", s.Events, want.Events)
	}
	for k, v := range map[string]any{
		"gen_ai.request.model":       "gpt2",
		"gen_ai.usage.output_tokens": int64(20),
		"ratio":                      0.25,
		"stream":                     true,
		"stop":                       `["a","b"]`,
	} {
		if got := s.Attrs[k]; got != v {
			t.Errorf("attribute %s = %#v, want %#v", k, got, v)
		}
	}
	if child := r.Trace.Find("POST /generate", service); child == nil || child.ParentID != reqHex || child.Kind != "server" {
		t.Errorf("server span = %+v, want kind server, parent %s", child, reqHex)
	}

	services, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(services, service) {
		t.Errorf("services = %v, want %s among them", services, service)
	}
	ops, err := c.Operations(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"POST /generate", "engine.step", "llm.request"}; !slices.Equal(ops, want) {
		t.Errorf("operations = %v, want %v", ops, want)
	}
	steps, err := c.FindTraces(ctx, service, "engine.step", start.Add(-time.Minute), time.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].ID != target.SpanContext().TraceID().String() {
		t.Errorf("engine.step traces = %v, want the one of trace %s", steps, target.SpanContext().TraceID())
	}
}
