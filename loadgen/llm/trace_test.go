package llm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/llmbench/llmbench/runfmt"
)

// traceServer answers a generate stream of two tokens, or a 503 when the
// prompt is "fail", and sends each request's traceparent on got.
func traceServer(got chan<- string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"server is shutting down","type":"unavailable_error"}}`))
			return
		}
		startSSE(w)
		writeSSE(w, piece(" a", 1))
		time.Sleep(2 * time.Millisecond)
		writeSSE(w, piece(" b", 2), final(4, 2), "[DONE]")
	}))
}

func TestSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	got := make(chan string, 1)
	srv := traceServer(got)
	defer srv.Close()

	// A parent span: llm.request must be its child, in its trace.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "iteration")
	c := newClient(t, Config{BaseURL: srv.URL, Stream: true, Model: "gpt2", TracerProvider: tp})
	res := c.Do(ctx, Request{Prompt: "p", MaxTokens: 2})
	parent.End()
	checkOK(t, res)
	traceparent := <-got

	var span *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		if spans[i].Name == "llm.request" {
			span = &spans[i]
		}
	}
	if span == nil {
		t.Fatalf("got spans %v, want one named llm.request", spans)
	}
	sc := span.SpanContext
	if sc.TraceID().String() != res.TraceID || sc.SpanID().String() != res.SpanID {
		t.Errorf("got span %s/%s, result %s/%s; want the same", sc.TraceID(), sc.SpanID(), res.TraceID, res.SpanID)
	}
	if sc.TraceID() != parent.SpanContext().TraceID() || span.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("got trace %s parent %s, want the caller's span %s", sc.TraceID(), span.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	if want := "00-" + res.TraceID + "-" + res.SpanID + "-01"; traceparent != want {
		t.Errorf("server got traceparent %q, want %q", traceparent, want)
	}
	if span.SpanKind != trace.SpanKindClient {
		t.Errorf("got kind %v, want client", span.SpanKind)
	}

	// Events at their real times: the times the Result's latencies give.
	at := func(ms float64) time.Time { return res.Sent.Add(time.Duration(ms * float64(time.Millisecond))) }
	want := map[string]time.Time{"first_byte": at(*res.FirstByteMS), "first_token": at(*res.TTFTMS), "last_token": at(*res.E2EMS)}
	if len(span.Events) != len(want) {
		t.Errorf("got %d events, want %d", len(span.Events), len(want))
	}
	for _, ev := range span.Events {
		w, ok := want[ev.Name]
		if d := ev.Time.Sub(w).Abs(); !ok || d > time.Microsecond {
			t.Errorf("got event %s at %v, want one of %v at its time (off by %v)", ev.Name, ev.Time, want, d)
		}
	}
	if span.StartTime.After(res.Started) || span.EndTime.Sub(at(res.CloseMS)).Abs() > time.Microsecond {
		t.Errorf("got span %v → %v, want it from before started %v to closed %v", span.StartTime, span.EndTime, res.Started, at(res.CloseMS))
	}

	wantAttrs := map[attribute.Key]attribute.Value{
		"llm.protocol":               attribute.StringValue("generate"),
		"gen_ai.request.model":       attribute.StringValue("gpt2"),
		"gen_ai.request.max_tokens":  attribute.IntValue(2),
		"gen_ai.usage.input_tokens":  attribute.IntValue(4),
		"gen_ai.usage.output_tokens": attribute.IntValue(2),
		"http.response.status_code":  attribute.IntValue(200),
	}
	gotAttrs := map[attribute.Key]attribute.Value{}
	for _, kv := range span.Attributes {
		gotAttrs[kv.Key] = kv.Value
	}
	for k, v := range wantAttrs {
		if gotAttrs[k] != v {
			t.Errorf("got attribute %s = %v, want %v", k, gotAttrs[k].String(), v.String())
		}
	}
	if _, ok := gotAttrs["error.type"]; ok || span.Status.Code == codes.Error {
		t.Errorf("got error.type %v, status %v on success", gotAttrs["error.type"].String(), span.Status)
	}
}

func TestSpanError(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	got := make(chan string, 1)
	srv := traceServer(got)
	defer srv.Close()

	res := newClient(t, Config{BaseURL: srv.URL + "?fail=1", Stream: true, TracerProvider: tp}).Do(context.Background(), Request{Prompt: "p"})
	<-got
	if res.ErrorClass != runfmt.ErrorHTTP {
		t.Fatalf("got class %q, want %q", res.ErrorClass, runfmt.ErrorHTTP)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Status.Code != codes.Error || s.Status.Description != res.Error {
		t.Errorf("got status %v, want error %q", s.Status, res.Error)
	}
	found := false
	for _, kv := range s.Attributes {
		if kv.Key == "error.type" && kv.Value.AsString() == runfmt.ErrorHTTP {
			found = true
		}
		if kv.Key == "http.response.status_code" && kv.Value.AsInt64() != 503 {
			t.Errorf("got status code attribute %d, want 503", kv.Value.AsInt64())
		}
	}
	if !found {
		t.Errorf("got attributes %v, want error.type = http", s.Attributes)
	}
}

// TestSpanNoop checks that without a recording tracer the client still
// sends a valid traceparent, with random ids, and records them.
func TestSpanNoop(t *testing.T) {
	got := make(chan string, 1)
	srv := traceServer(got)
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL, Stream: true, TracerProvider: noop.NewTracerProvider()})
	seen := map[string]bool{}
	for range 2 {
		res := c.Do(context.Background(), Request{Prompt: "p"})
		checkOK(t, res)
		tp := <-got
		if !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`).MatchString(tp) {
			t.Fatalf("got traceparent %q, want a valid sampled one", tp)
		}
		if want := "00-" + res.TraceID + "-" + res.SpanID + "-01"; tp != want {
			t.Errorf("got traceparent %q, want the result's ids %q", tp, want)
		}
		if seen[res.TraceID] {
			t.Errorf("got trace id %s twice, want a new one per request", res.TraceID)
		}
		seen[res.TraceID] = true
	}
}
