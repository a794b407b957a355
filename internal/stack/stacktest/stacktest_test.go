package stacktest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/internal/stack"
)

// These tests run the real binaries, and read them back with the
// analyzer's clients; without the binaries they skip, or fail under
// LLMBENCH_INTEGRATION=1.

func TestJaeger(t *testing.T) {
	j := Jaeger(t)
	ctx := t.Context()
	c := JaegerClient(t, j)

	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(j.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "stack-test"))),
	)
	_, span := tp.Tracer("stack").Start(ctx, "llm.request")
	traceID := span.SpanContext().TraceID().String()
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	var spans []*model.Span
	eventually(t, 10*time.Second, func() error {
		spans, err = c.Trace(ctx, traceID)
		return err
	})
	if got, want := len(spans), 1; got != want {
		t.Fatalf("trace %s has %d spans, want %d", traceID, got, want)
	}
	if got, want := spans[0].OperationName, "llm.request"; got != want {
		t.Errorf("operation = %q, want %q", got, want)
	}
	if got, want := spans[0].TraceID.String(), traceID; got != want {
		t.Errorf("trace id = %q, want %q", got, want)
	}
	if got, want := spans[0].Process.ServiceName, "stack-test"; got != want {
		t.Errorf("service = %q, want %q", got, want)
	}

	services, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(services, "stack-test") {
		t.Errorf("services = %v, want stack-test among them", services)
	}

	if _, err := c.Trace(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, jaeger.ErrTraceNotFound) {
		t.Errorf("Trace of an unknown id: error = %v, want ErrTraceNotFound", err)
	}
	if resp, err := http.Get("http://" + j.UI + "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("UI: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	pid := j.Pid()
	if err := j.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, pid)
}

func TestPrometheus(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		io.WriteString(w, "# HELP demo_total A demo counter.\n# TYPE demo_total counter\ndemo_total 3\n")
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	p := Prometheus(t, stack.Target{Job: "demo", Addr: lis.Addr().String()})
	ctx := t.Context()
	for _, tc := range []struct {
		promql string
		want   float64
	}{
		{promql: "demo_total", want: 3},
		{promql: `up{job="demo"}`, want: 1},
	} {
		eventually(t, 30*time.Second, func() error {
			v, ok, err := Query(ctx, p, tc.promql)
			switch {
			case err != nil:
				return err
			case !ok:
				return errors.New(tc.promql + ": no sample yet")
			case v != tc.want:
				t.Fatalf("%s = %v, want %v", tc.promql, v, tc.want)
			}
			return nil
		})
	}

	pid := p.Pid()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, pid)
}

// eventually calls f until it returns nil, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %v: %v", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkGone fails the test if a process with id pid still exists.
func checkGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill -0: %v)", pid, err)
	}
}
