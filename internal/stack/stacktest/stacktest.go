// Package stacktest starts the real Jaeger and Prometheus of package
// stack for a test, and gives the test the analyzer's clients of them.
package stacktest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/internal/stack"
)

// Jaeger starts Jaeger in t.TempDir() and stops it when the test ends.
// When the binary is missing it skips the test, or fails it under
// $LLMBENCH_INTEGRATION=1 (which `make test` sets); either way with the
// `make tools` hint.
func Jaeger(t testing.TB) *stack.Jaeger {
	t.Helper()
	j, err := stack.StartJaeger(t.Context(), stack.Options{Dir: t.TempDir()})
	if err != nil {
		missing(t, err)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Stop(); err != nil {
			t.Error(err)
		}
	})
	return j
}

// Prometheus starts Prometheus in t.TempDir(), scraping targets, and
// stops it when the test ends. It treats a missing binary as Jaeger does.
func Prometheus(t testing.TB, targets ...stack.Target) *stack.Prometheus {
	t.Helper()
	p, err := stack.StartPrometheus(t.Context(), stack.Options{Dir: t.TempDir()}, targets)
	if err != nil {
		missing(t, err)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// JaegerClient is the analyzer's client of j's query API, closed when the
// test ends.
func JaegerClient(t testing.TB, j *stack.Jaeger) *jaeger.Client {
	t.Helper()
	c, err := jaeger.Dial(t.Context(), j.QueryGRPC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Query evaluates promql now against p with the analyzer's client: its
// value, and false when the result is empty.
func Query(ctx context.Context, p *stack.Prometheus, promql string) (float64, bool, error) {
	c, err := prom.New(p.URL)
	if err != nil {
		return 0, false, err
	}
	return c.Instant(ctx, promql)
}

// missing skips or fails the test when err says a binary is missing.
func missing(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, stack.ErrNotBuilt) {
		return
	}
	if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
		t.Fatalf("integration test needs the pinned services: %v", err)
	}
	t.Skipf("skipping integration test: %v", err)
}
