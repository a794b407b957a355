package stack

import (
	"errors"
	"os"
	"testing"
)

// JaegerForTest starts Jaeger in t.TempDir() and stops it when the test
// ends. When the binary is missing it skips the test, or fails it under
// $LLMBENCH_INTEGRATION=1 (which `make test` sets); either way with the
// `make tools` hint.
func JaegerForTest(t testing.TB) *Jaeger {
	t.Helper()
	j, err := StartJaeger(t.Context(), Options{Dir: t.TempDir()})
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

// PrometheusForTest starts Prometheus in t.TempDir(), scraping targets,
// and stops it when the test ends. It treats a missing binary as
// JaegerForTest does.
func PrometheusForTest(t testing.TB, targets ...Target) *Prometheus {
	t.Helper()
	p, err := StartPrometheus(t.Context(), Options{Dir: t.TempDir()}, targets)
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

// missing skips or fails the test when err says a binary is missing.
func missing(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotBuilt) {
		return
	}
	if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
		t.Fatalf("integration test needs the pinned services: %v", err)
	}
	t.Skipf("skipping integration test: %v", err)
}
