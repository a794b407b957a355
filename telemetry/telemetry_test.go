package telemetry

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// collector is a fake OTLP gRPC collector on a loopback port that keeps
// what it receives.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string

	mu   sync.Mutex
	got  []*tracepb.ResourceSpans
	seen chan struct{} // gets a value (if there is room) on each export
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: lis.Addr().String(), seen: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	c.got = append(c.got, req.ResourceSpans...)
	c.mu.Unlock()
	select {
	case c.seen <- struct{}{}:
	default:
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// spans returns the spans received so far, each with its resource's
// service.name.
func (c *collector) spans() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{} // span name → service.name
	for _, rs := range c.got {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				out[s.Name] = service
			}
		}
	}
	return out
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, rs := range c.got {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	return n
}

func (c *collector) resource() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	if len(c.got) > 0 {
		for _, kv := range c.got[0].GetResource().GetAttributes() {
			out[kv.Key] = kv.GetValue().GetStringValue()
		}
	}
	return out
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestSetupSendsSpans(t *testing.T) {
	c := startCollector(t)
	tr, err := Setup(t.Context(), Config{Endpoint: c.addr, ServiceName: "refserver-test"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if got, want := tr.Endpoint, c.addr; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}

	_, span := tr.Provider.Tracer("test").Start(t.Context(), "model_generate")
	span.End()

	// The short batch timeout sends the span without a Shutdown.
	deadline := time.After(10 * time.Second)
	for c.count() == 0 {
		select {
		case <-c.seen:
		case <-deadline:
			t.Fatal("no span at the collector after 10s")
		}
	}
	if got, want := c.spans()["model_generate"], "refserver-test"; got != want {
		t.Errorf("service.name of model_generate = %q, want %q", got, want)
	}
	res := c.resource()
	for _, key := range []string{"service.version", "host.name"} {
		if res[key] == "" {
			t.Errorf("resource has no %s: %v", key, res)
		}
	}
}

func TestFlushAndShutdown(t *testing.T) {
	c := startCollector(t)
	tr, err := Setup(t.Context(), Config{Endpoint: "http://" + c.addr, ServiceName: "flush"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider.Tracer("test")
	spans := func(n int) {
		for range n {
			_, span := tracer.Start(t.Context(), "decode")
			span.End()
		}
	}
	spans(10)
	if err := tr.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := c.count(), 10; got != want {
		t.Errorf("spans after Flush = %d, want %d", got, want)
	}
	spans(5)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := c.count(), 15; got != want {
		t.Errorf("spans after Shutdown = %d, want %d", got, want)
	}
}

func TestSampleRatio(t *testing.T) {
	c := startCollector(t)
	const n, ratio = 1000, 0.25
	tr, err := Setup(t.Context(), Config{Endpoint: c.addr, ServiceName: "ratio", SampleRatio: ratio}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider.Tracer("test")
	for range n {
		_, span := tracer.Start(t.Context(), "llm.request")
		span.End()
	}

	// A sampled remote parent is followed whatever the ratio.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1},
		SpanID:     trace.SpanID{1},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	for range 20 {
		_, span := tracer.Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "child")
		if !span.SpanContext().IsSampled() {
			t.Fatal("child of a sampled parent was not sampled")
		}
		span.End()
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Binomial(1000, 0.25): mean 250, standard deviation 14.
	got := c.count() - 20
	if got < 150 || got > 350 {
		t.Errorf("sampled %d of %d root spans at ratio %v, want about %d", got, n, ratio, int(n*ratio))
	}
}

func TestSetupOff(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tr, err := Setup(t.Context(), Config{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Endpoint != "" {
		t.Errorf("Endpoint = %q, want empty", tr.Endpoint)
	}
	// A no-op provider still carries the caller's trace context.
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{7}, Remote: true})
	_, span := tr.Provider.Tracer("test").Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "x")
	if span.IsRecording() {
		t.Error("span of a disabled provider is recording")
	}
	if got, want := span.SpanContext().TraceID(), parent.TraceID(); got != want {
		t.Errorf("trace id = %v, want %v", got, want)
	}
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}

func TestSetupEndpointFromEnv(t *testing.T) {
	c := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+c.addr)
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	tr, err := Setup(t.Context(), Config{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(t.Context(), "tokenize_input")
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := c.spans()["tokenize_input"], "from-env"; got != want {
		t.Errorf("service.name = %q, want %q", got, want)
	}
}

func TestSetupPropagator(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	if _, err := Setup(t.Context(), Config{}, quietLog()); err != nil {
		t.Fatal(err)
	}
	got := otel.GetTextMapPropagator().Fields()
	for _, want := range []string{"traceparent", "baggage"} {
		if !strings.Contains(strings.Join(got, ","), want) {
			t.Errorf("propagator fields %v lack %q", got, want)
		}
	}
}

// TestCollectorDown checks that spans for a collector that is not there
// neither block the caller nor flood the log.
func TestCollectorDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	tr, err := Setup(t.Context(), Config{Endpoint: addr, ServiceName: "down"}, log)
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider.Tracer("test")
	start := time.Now()
	for range 5000 {
		_, span := tracer.Start(t.Context(), "POST /generate")
		span.End()
	}
	// A bound that only a blocking exporter breaks (each span waiting out
	// the exporter's retries would take hours), not a timing: make test
	// asserts none.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("5000 spans took %v with the collector down: ending a span waits on the exporter", d)
	}
	// The first failure is logged once the exporter's retries give up.
	const failing = "trace export failing"
	deadline := time.Now().Add(exportRetry.MaxElapsedTime + 10*time.Second)
	for !strings.Contains(buf.String(), failing) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	tr.Shutdown(ctx) // its error (a deadline) does not matter here

	t.Logf("log:\n%s", buf.String())
	if got, want := strings.Count(buf.String(), failing), 1; got != want {
		t.Errorf("%d %q lines, want %d; log:\n%s", got, failing, want, buf.String())
	}
}

func TestQuietExporter(t *testing.T) {
	var buf syncBuffer
	fake := &fakeExporter{err: errors.New("connection refused")}
	q := newQuietExporter(fake, slog.New(slog.NewTextHandler(&buf, nil)), "127.0.0.1:4317")
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	spans := make([]sdktrace.ReadOnlySpan, 3)
	export := func(n int) {
		t.Helper()
		for range n {
			if err := q.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans = %v, want nil", err)
			}
		}
	}
	failLines := func() int { return strings.Count(buf.String(), "trace export failing") }

	export(50)
	if got, want := failLines(), 1; got != want {
		t.Fatalf("after 50 failed exports: %d failure lines, want %d; log:\n%s", got, want, buf.String())
	}

	now = now.Add(30 * time.Second)
	export(10)
	if got, want := failLines(), 1; got != want {
		t.Fatalf("30s later: %d failure lines, want %d", got, want)
	}

	now = now.Add(31 * time.Second)
	export(1)
	if got, want := failLines(), 2; got != want {
		t.Fatalf("61s later: %d failure lines, want %d", got, want)
	}
	// The second line counts the 59 failures since the first plus this one.
	if !strings.Contains(buf.String(), "failed_exports=60 spans_dropped=180") {
		t.Errorf("second line lacks the count of suppressed failures; log:\n%s", buf.String())
	}

	fake.setErr(nil)
	export(5)
	if got, want := strings.Count(buf.String(), "trace export works again"), 1; got != want {
		t.Errorf("%d recovery lines, want %d", got, want)
	}
	if got, want := strings.Count(buf.String(), "\n"), 3; got != want {
		t.Errorf("%d log lines in all, want %d; log:\n%s", got, want, buf.String())
	}
}

type fakeExporter struct {
	mu  sync.Mutex
	err error
}

func (f *fakeExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeExporter) Shutdown(context.Context) error { return nil }

func (f *fakeExporter) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for the exporter's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name      string
		endpoint  string
		insecure  bool
		wantAddr  string
		wantPlain bool
		wantErr   bool
	}{
		{name: "loopback host:port", endpoint: "127.0.0.1:4317", wantAddr: "127.0.0.1:4317", wantPlain: true},
		{name: "localhost", endpoint: "localhost:14317", wantAddr: "localhost:14317", wantPlain: true},
		{name: "ipv6 loopback", endpoint: "[::1]:4317", wantAddr: "[::1]:4317", wantPlain: true},
		{name: "remote host:port is TLS", endpoint: "otel.example.com:4317", wantAddr: "otel.example.com:4317", wantPlain: false},
		{name: "remote host:port insecure", endpoint: "jaeger:4317", insecure: true, wantAddr: "jaeger:4317", wantPlain: true},
		{name: "http scheme", endpoint: "http://jaeger:4317", wantAddr: "jaeger:4317", wantPlain: true},
		{name: "http trailing slash", endpoint: "http://jaeger:4317/", wantAddr: "jaeger:4317", wantPlain: true},
		{name: "https scheme", endpoint: "https://otel.example.com:443", wantAddr: "otel.example.com:443", wantPlain: false},
		{name: "https ignores insecure", endpoint: "https://127.0.0.1:4317", insecure: true, wantAddr: "127.0.0.1:4317", wantPlain: false},
		{name: "default port", endpoint: "http://jaeger", wantAddr: "jaeger:4317", wantPlain: true},
		{name: "bare host default port", endpoint: "localhost", wantAddr: "localhost:4317", wantPlain: true},
		{name: "grpc scheme", endpoint: "grpc://jaeger:4317", wantErr: true},
		{name: "path", endpoint: "http://jaeger:4318/v1/traces", wantErr: true},
		{name: "path without scheme", endpoint: "jaeger:4317/v1/traces", wantErr: true},
		{name: "no host", endpoint: ":4317", wantErr: true},
		{name: "bad port", endpoint: "jaeger:http", wantErr: true},
		{name: "port out of range", endpoint: "jaeger:70000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, plain, err := parseEndpoint(tt.endpoint, tt.insecure)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("parseEndpoint(%q) error = %v, want error %v", tt.endpoint, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if addr != tt.wantAddr || plain != tt.wantPlain {
				t.Errorf("parseEndpoint(%q) = %q, plaintext %v; want %q, plaintext %v",
					tt.endpoint, addr, plain, tt.wantAddr, tt.wantPlain)
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
		{name: "zero value", cfg: Config{}},
		{name: "ratio 1", cfg: Config{SampleRatio: 1}},
		{name: "ratio 0.1", cfg: Config{SampleRatio: 0.1, Endpoint: "127.0.0.1:4317"}},
		{name: "negative ratio", cfg: Config{SampleRatio: -0.1}, wantErr: true},
		{name: "ratio above 1", cfg: Config{SampleRatio: 1.5}, wantErr: true},
		{name: "bad endpoint", cfg: Config{Endpoint: "ftp://x:1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want Config
	}{
		{
			name: "defaults",
			want: Config{ServiceName: "refserver", SampleRatio: 1},
		},
		{
			name: "environment",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317",
				"OTEL_SERVICE_NAME":           "gpt2",
				"OTEL_TRACES_SAMPLER_ARG":     "0.5",
				"OTEL_EXPORTER_OTLP_INSECURE": "true",
			},
			want: Config{Endpoint: "http://jaeger:4317", ServiceName: "gpt2", SampleRatio: 0.5, Insecure: true},
		},
		{
			name: "traces endpoint first",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://all:4317",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
			},
			want: Config{Endpoint: "http://traces:4317", ServiceName: "refserver", SampleRatio: 1},
		},
		{
			name: "flags over environment",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317"},
			args: []string{"--otlp-endpoint", "127.0.0.1:4317", "--trace-sample-ratio", "0.1"},
			want: Config{Endpoint: "127.0.0.1:4317", ServiceName: "refserver", SampleRatio: 0.1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
				"OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_INSECURE"} {
				t.Setenv(k, tt.env[k])
			}
			var got Config
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			got.RegisterFlags(fs, "refserver")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
