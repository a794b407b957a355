package output

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// otelOut is k6's opentelemetry output
// (https://grafana.com/docs/k6/latest/results-output/real-time/opentelemetry/):
// each metric becomes an OTel instrument named k6_<metric> (a counter for
// a counter, a gauge for a gauge, a histogram for a trend, and for a rate
// two counters, k6_<metric>.occurred and k6_<metric>.total), each sample a
// measurement with its tags as attributes, exported over OTLP every
// export interval and at the end. It reads k6's variables:
// K6_OTEL_EXPORTER_TYPE (grpc, the default, or http),
// K6_OTEL_GRPC_EXPORTER_ENDPOINT (localhost:4317),
// K6_OTEL_HTTP_EXPORTER_ENDPOINT (localhost:4318),
// K6_OTEL_HTTP_EXPORTER_URL_PATH (/v1/metrics), K6_OTEL_..._INSECURE,
// K6_OTEL_EXPORT_INTERVAL (10s), K6_OTEL_SERVICE_NAME (k6).
type otelOut struct {
	provider *sdkmetric.MeterProvider
	meter    metric.Meter
	inst     map[string]*instrument
}

type instrument struct {
	counter          metric.Float64Counter
	gauge            metric.Float64Gauge
	hist             metric.Float64Histogram
	occurred, totals metric.Int64Counter
}

func newOTel(getenv func(string) string) (*otelOut, error) {
	ctx := context.Background()
	interval := 10 * time.Second
	if v := getenv("K6_OTEL_EXPORT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("K6_OTEL_EXPORT_INTERVAL %q: want a duration such as 10s", v)
		}
		interval = d
	}
	insecure := func(name string) bool {
		b, _ := strconv.ParseBool(getenv(name))
		return b
	}
	var exp sdkmetric.Exporter
	var err error
	switch t := strings.ToLower(getenv("K6_OTEL_EXPORTER_TYPE")); t {
	case "", "grpc":
		endpoint := getenv("K6_OTEL_GRPC_EXPORTER_ENDPOINT")
		if endpoint == "" {
			endpoint = "localhost:4317"
		}
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(endpoint)}
		if insecure("K6_OTEL_GRPC_EXPORTER_INSECURE") {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case "http":
		endpoint := getenv("K6_OTEL_HTTP_EXPORTER_ENDPOINT")
		if endpoint == "" {
			endpoint = "localhost:4318"
		}
		path := getenv("K6_OTEL_HTTP_EXPORTER_URL_PATH")
		if path == "" {
			path = "/v1/metrics"
		}
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(endpoint), otlpmetrichttp.WithURLPath(path)}
		if insecure("K6_OTEL_HTTP_EXPORTER_INSECURE") {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("K6_OTEL_EXPORTER_TYPE %q: want grpc or http", t)
	}
	if err != nil {
		return nil, fmt.Errorf("opentelemetry exporter: %w", err)
	}
	service := getenv("K6_OTEL_SERVICE_NAME")
	if service == "" {
		service = "k6"
	}
	res := resource.NewSchemaless(attribute.String("service.name", service))
	p := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))))
	return &otelOut{provider: p, meter: p.Meter("llmbench"), inst: map[string]*instrument{}}, nil
}

func (o *otelOut) Metric(name, typ, contains string, _ []string) error {
	in := &instrument{}
	base := "k6_" + name
	unit := ""
	switch contains {
	case "time":
		unit = "ms"
	case "data":
		unit = "By"
	}
	var err error
	switch typ {
	case "counter":
		in.counter, err = o.meter.Float64Counter(base, metric.WithUnit(unit))
	case "gauge":
		in.gauge, err = o.meter.Float64Gauge(base, metric.WithUnit(unit))
	case "trend":
		in.hist, err = o.meter.Float64Histogram(base, metric.WithUnit(unit))
	case "rate":
		if in.occurred, err = o.meter.Int64Counter(base + ".occurred"); err == nil {
			in.totals, err = o.meter.Int64Counter(base + ".total")
		}
	default:
		err = fmt.Errorf("metric %s: unknown type %q", name, typ)
	}
	if err != nil {
		return err
	}
	o.inst[name] = in
	return nil
}

func (o *otelOut) Sample(s *Sample) error {
	in := o.inst[s.Metric]
	if in == nil {
		return nil
	}
	kvs := make([]attribute.KeyValue, 0, len(s.Tags))
	for k, v := range s.Tags {
		kvs = append(kvs, attribute.String(k, v))
	}
	opt := metric.WithAttributes(kvs...)
	ctx := context.Background()
	switch {
	case in.counter != nil:
		in.counter.Add(ctx, s.Value, opt)
	case in.gauge != nil:
		in.gauge.Record(ctx, s.Value, opt)
	case in.hist != nil:
		in.hist.Record(ctx, s.Value, opt)
	case in.totals != nil:
		in.totals.Add(ctx, 1, opt)
		if s.Value != 0 {
			in.occurred.Add(ctx, 1, opt)
		}
	}
	return nil
}

// Close exports what is left and stops the exporter.
func (o *otelOut) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.provider.Shutdown(ctx)
}
