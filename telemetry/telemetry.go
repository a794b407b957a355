// Package telemetry sets up OpenTelemetry tracing for refserver and the
// load generator: an OTLP gRPC exporter behind a batch span processor, a
// sampler, and the service's resource (service.name, service.version,
// host.name).
//
// Setup returns the TracerProvider instead of installing it globally, so
// callers inject it where spans are made (otelhttp.WithTracerProvider,
// engine options). The one global it sets is the text-map propagator (W3C
// TraceContext and Baggage), which otelhttp reads to join the caller's trace.
//
// Tracing never stands in the way of serving: spans are queued and sent in
// the background, dropped when the queue is full, and a collector that is
// down is reported in the log once, then at most once a minute.
package telemetry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"
)

const (
	// batchTimeout is how long a finished span waits in the batch span
	// processor before it is sent. It is short (the SDK's default is 5 s)
	// so that a trace is in Jaeger about half a second after its request
	// ends, which tests and `llmbench analyze` right after a run rely on.
	batchTimeout = 500 * time.Millisecond
	// exportTimeout bounds one export, retries included.
	exportTimeout = 10 * time.Second
)

// exportRetry keeps a failing export short: the batch processor's queue
// is filling meanwhile, and spans beyond it are dropped anyway.
var exportRetry = otlptracegrpc.RetryConfig{
	Enabled:         true,
	InitialInterval: 250 * time.Millisecond,
	MaxInterval:     1 * time.Second,
	MaxElapsedTime:  3 * time.Second,
}

// Tracing is a configured tracer provider and what it takes to stop it.
// Its methods are safe for concurrent use.
type Tracing struct {
	// Provider makes the tracers. When tracing is off it is a no-op
	// provider, whose spans still carry the caller's trace context.
	Provider trace.TracerProvider
	// Endpoint is the host:port spans are sent to; empty when tracing is off.
	Endpoint string

	sdk *sdktrace.TracerProvider // nil when tracing is off
}

// Setup builds the tracer provider cfg describes and installs the W3C
// TraceContext and Baggage propagator globally. It does not contact the
// collector: a collector that is down, or comes up later, shows in the
// log, not here. A nil log means slog.Default(). The caller must call
// Shutdown to send the spans still queued.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (*Tracing, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))

	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = tracesEndpointEnv()
	}
	if endpoint == "" {
		log.Info("tracing off: no --otlp-endpoint or $OTEL_EXPORTER_OTLP_ENDPOINT")
		return &Tracing{Provider: noop.NewTracerProvider()}, nil
	}
	addr, plaintext, err := parseEndpoint(endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	service := cfg.ServiceName
	if service == "" {
		service = envOr("OTEL_SERVICE_NAME", "unknown_service")
	}
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}

	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(addr),
		otlptracegrpc.WithRetry(exportRetry),
		otlptracegrpc.WithTimeout(exportTimeout),
	}
	if plaintext {
		opts = append(opts, otlptracegrpc.WithInsecure())
	} else {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(
			credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", addr, err)
	}
	res, err := newResource(ctx, service)
	if err != nil {
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler(ratio)),
		sdktrace.WithBatcher(newQuietExporter(exp, log, addr),
			sdktrace.WithBatchTimeout(batchTimeout),
			sdktrace.WithExportTimeout(exportTimeout)),
	)
	log.Info("tracing on", "endpoint", addr, "tls", !plaintext, "service", service, "sample_ratio", ratio)
	return &Tracing{Provider: tp, Endpoint: addr, sdk: tp}, nil
}

// Flush sends the spans queued so far and returns when they are sent or
// ctx ends, e.g. at the end of a load test, before reading the traces
// back. When tracing is off it does nothing.
func (t *Tracing) Flush(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.ForceFlush(ctx); err != nil {
		return fmt.Errorf("flush spans: %w", err)
	}
	return nil
}

// Shutdown sends the spans still queued and closes the connection to the
// collector. It returns when that is done or ctx ends: with the collector
// down, that is when ctx ends, so give it a deadline. When tracing is off
// it does nothing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracing: %w", err)
	}
	return nil
}

// sampler records everything at ratio 1 and otherwise samples new traces
// by trace ID, following the parent's decision in traces that came with one.
func sampler(ratio float64) sdktrace.Sampler {
	if ratio >= 1 {
		return sdktrace.AlwaysSample()
	}
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
}

// newResource describes this process: service.name, service.version,
// host.name, the SDK, and whatever $OTEL_RESOURCE_ATTRIBUTES adds.
func newResource(ctx context.Context, service string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(
			attribute.String("service.name", service),
			attribute.String("service.version", version()),
		),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return res, nil
}

// version is the main module's version from the build info: its tag or
// pseudo-version, else its VCS revision, else "dev".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return rev + dirty
}
