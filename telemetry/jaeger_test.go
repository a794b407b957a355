package telemetry_test

import (
	"errors"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/telemetry"
)

// TestJaeger sends a span to the real Jaeger (skipped without it; see
// stack.JaegerForTest) and finds it there with its resource.
func TestJaeger(t *testing.T) {
	j := stacktest.Jaeger(t)
	ctx := t.Context()
	tr, err := telemetry.Setup(ctx, telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "refserver"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(ctx)

	_, span := tr.Provider.Tracer("test").Start(ctx, "POST /generate")
	traceID := span.SpanContext().TraceID().String()
	span.End()

	// No Shutdown or flush: the batch timeout alone must bring it in.
	var spans []*model.Span
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans, err = stacktest.JaegerClient(t, j).Trace(ctx, traceID)
		if err == nil || !errors.Is(err, jaeger.ErrTraceNotFound) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(spans), 1; got != want {
		t.Fatalf("%d spans, want %d", got, want)
	}
	p := spans[0].Process
	if got, want := p.ServiceName, "refserver"; got != want {
		t.Errorf("service = %q, want %q", got, want)
	}
	tags := map[string]string{}
	for _, kv := range p.Tags {
		tags[kv.Key] = kv.AsString()
	}
	for _, key := range []string{"service.version", "host.name"} {
		if tags[key] == "" {
			t.Errorf("process tags lack %s: %v", key, tags)
		}
	}
}
