package telemetry

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Config says where spans go and how many are kept. The zero value means
// "the defaults": the endpoint from $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// $OTEL_EXPORTER_OTLP_ENDPOINT (tracing off when both are empty), the
// service name from $OTEL_SERVICE_NAME, and every span recorded.
type Config struct {
	// Endpoint is the OTLP gRPC collector, e.g. "127.0.0.1:4317",
	// "http://jaeger:4317" (plaintext) or "https://otel.example.com:4317"
	// (TLS). A bare host:port is plaintext when the host is a loopback
	// address or Insecure is set, and TLS otherwise. The port defaults to
	// 4317. Empty means $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then
	// $OTEL_EXPORTER_OTLP_ENDPOINT; if those are empty too, tracing is off
	// and Setup returns a no-op provider.
	Endpoint string
	// ServiceName is the resource's service.name, e.g. "refserver".
	// Empty means $OTEL_SERVICE_NAME, then "unknown_service".
	ServiceName string
	// SampleRatio is the fraction of new traces recorded. 1 records every
	// span, whatever the caller's traceparent says. A ratio 0 < r < 1
	// samples root spans by trace ID and follows the parent's decision
	// otherwise (parent-based). 0 means 1.
	SampleRatio float64
	// Insecure makes a bare host:port endpoint plaintext even when its
	// host is not a loopback address. It does not affect https:// endpoints.
	Insecure bool
}

// RegisterFlags adds --otlp-endpoint, --otlp-insecure and
// --trace-sample-ratio to fs. Their defaults come from the standard
// OpenTelemetry variables $OTEL_EXPORTER_OTLP_ENDPOINT,
// $OTEL_EXPORTER_OTLP_INSECURE and $OTEL_TRACES_SAMPLER_ARG. ServiceName
// is set to $OTEL_SERVICE_NAME, or to service when that is empty.
func (c *Config) RegisterFlags(fs *flag.FlagSet, service string) {
	c.ServiceName = envOr("OTEL_SERVICE_NAME", service)
	fs.StringVar(&c.Endpoint, "otlp-endpoint", tracesEndpointEnv(),
		"OTLP gRPC collector for spans: host:port, http://host:port (plaintext) or https://host:port (TLS) "+
			"[$OTEL_EXPORTER_OTLP_ENDPOINT]; empty: tracing off. The service name is $OTEL_SERVICE_NAME, default "+service)
	insecure, _ := strconv.ParseBool(os.Getenv("OTEL_EXPORTER_OTLP_INSECURE"))
	fs.BoolVar(&c.Insecure, "otlp-insecure", insecure,
		"plaintext gRPC to a non-loopback host:port --otlp-endpoint [$OTEL_EXPORTER_OTLP_INSECURE]")
	ratio, err := strconv.ParseFloat(os.Getenv("OTEL_TRACES_SAMPLER_ARG"), 64)
	if err != nil || ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	fs.Float64Var(&c.SampleRatio, "trace-sample-ratio", ratio,
		"fraction of new traces to record, 0 < r <= 1; below 1 the caller's sampled flag is followed [$OTEL_TRACES_SAMPLER_ARG]")
}

// Validate checks the endpoint's form and the sample ratio.
func (c Config) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("trace sample ratio %v: want 0 < r <= 1", c.SampleRatio)
	}
	if c.Endpoint != "" {
		if _, _, err := parseEndpoint(c.Endpoint, c.Insecure); err != nil {
			return err
		}
	}
	return nil
}

// tracesEndpointEnv is the endpoint the OpenTelemetry variables name, the
// traces-only one first.
func tracesEndpointEnv() string {
	return envOr("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseEndpoint turns an endpoint in one of Config.Endpoint's forms into
// the host:port to dial and whether the connection is plaintext.
func parseEndpoint(endpoint string, insecure bool) (addr string, plaintext bool, err error) {
	hostport := endpoint
	switch {
	case strings.Contains(endpoint, "://"):
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", false, fmt.Errorf("otlp endpoint %q: %w", endpoint, err)
		}
		switch u.Scheme {
		case "http":
			plaintext = true
		case "https":
			plaintext = false
		default:
			return "", false, fmt.Errorf("otlp endpoint %q: scheme %q: want http or https", endpoint, u.Scheme)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			return "", false, fmt.Errorf("otlp endpoint %q: gRPC takes no path (%q)", endpoint, u.Path)
		}
		hostport = u.Host
	case strings.Contains(endpoint, "/"):
		return "", false, fmt.Errorf("otlp endpoint %q: want host:port or a http(s):// URL", endpoint)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: the OTLP gRPC default.
		host, port = strings.Trim(hostport, "[]"), "4317"
	}
	if host == "" {
		return "", false, fmt.Errorf("otlp endpoint %q: no host", endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", false, fmt.Errorf("otlp endpoint %q: bad port %q", endpoint, port)
	}
	if !strings.Contains(endpoint, "://") {
		plaintext = insecure || isLoopback(host)
	}
	return net.JoinHostPort(host, port), plaintext, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
