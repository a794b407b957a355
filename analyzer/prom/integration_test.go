package prom_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/runfmt"
)

// TestIntegration runs the default queries against the real Prometheus
// (bin/prometheus; the test skips without it), scraping a registry with
// refserver's and the load generator's metric names: every query must
// parse, and the gauges must come back.
func TestIntegration(t *testing.T) {
	reg := prometheus.NewRegistry()
	gauge := func(name string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		g.Set(v)
		reg.MustRegister(g)
	}
	gauge("llm_requests_waiting", 3)
	gauge("llm_requests_running", 2)
	gauge("llm_batch_size", 2)
	gauge("llm_kv_cache_usage_ratio", 0.5)
	gauge("llmbench_requests_in_flight", 5)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_requests_total", Help: "h"}, []string{"endpoint", "status"})
	requests.WithLabelValues("/generate", "200").Add(7)
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_errors_total", Help: "h"}, []string{"endpoint", "type"})
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_tokens_processed_total", Help: "h"}, []string{"kind"})
	tokens.WithLabelValues("completion").Add(100)
	reg.MustRegister(requests, errs, tokens, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, name := range []string{"llm_ttft_seconds", "llm_tpot_seconds", "llm_queue_wait_seconds"} {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: name})
		h.Observe(0.2)
		reg.MustRegister(h)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	p := stacktest.Prometheus(t, stack.Target{Job: "refserver", Addr: strings.TrimPrefix(srv.URL, "http://")})
	c, err := prom.New(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		now := time.Now()
		series := c.All(ctx, prom.Defaults(), now.Add(-30*time.Second), now, 0)
		for _, s := range series {
			if s.Error != "" {
				t.Fatalf("default query %s: %s", s.Name, s.Error)
			}
		}
		err := check(series)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after 30 s: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// check says which gauge series have not come back right yet.
func check(series []runfmt.Series) error {
	byName := map[string]runfmt.Series{}
	for _, s := range series {
		byName[s.Name] = s
	}
	for name, want := range map[string]float64{prom.QueueDepth: 3, prom.Running: 2, prom.LoadgenInFlight: 5, prom.KVCacheUsage: 0.5} {
		if got, _, ok := prom.Max(byName[name]); !ok || got != want {
			return fmt.Errorf("%s peaked at %v (points: %v), want %v", name, got, ok, want)
		}
	}
	if v, _, ok := prom.Max(byName[prom.RefserverMemory]); !ok || v <= 0 {
		return fmt.Errorf("%s = %v (points: %v), want > 0", prom.RefserverMemory, v, ok)
	}
	return nil
}
