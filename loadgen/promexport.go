package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmbench/llmbench/runfmt"
)

// selfMetrics are the load generator's own Prometheus metrics, so that
// Prometheus can scrape the client side next to the server: requests in
// flight, VUs, dropped iterations and the llm_* latencies.
type selfMetrics struct {
	requests             *prometheus.CounterVec
	errors               *prometheus.CounterVec
	ttft, tpot, e2e, itl *prometheus.HistogramVec
}

// Buckets like refserver's: TTFT 5 ms to 60 s, TPOT and ITL 1 ms to 2 s.
var (
	ttftBuckets = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60}
	tokBuckets  = []float64{.001, .002, .005, .01, .015, .02, .03, .04, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2}
	e2eBuckets  = []float64{.05, .1, .25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300}
)

func newSelfMetrics(reg prometheus.Registerer, live *liveStats) *selfMetrics {
	labels := []string{"scenario", "protocol"}
	m := &selfMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmbench_llm_requests_total", Help: "LLM requests completed by the load generator, by status."}, []string{"scenario", "protocol", "status"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmbench_llm_errors_total", Help: "LLM requests that failed, by error class."}, []string{"scenario", "protocol", "error_class"}),
		ttft:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmbench_llm_ttft_seconds", Help: "Client-side time to first token.", Buckets: ttftBuckets}, labels),
		tpot:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmbench_llm_tpot_seconds", Help: "Client-side time per output token.", Buckets: tokBuckets}, labels),
		itl:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmbench_llm_itl_seconds", Help: "Client-side gaps between text-carrying events.", Buckets: tokBuckets}, labels),
		e2e:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmbench_llm_e2e_seconds", Help: "Client-side request written to last token.", Buckets: e2eBuckets}, labels),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(m.requests, m.errors, m.ttft, m.tpot, m.itl, m.e2e,
		gauge("llmbench_requests_in_flight", "LLM requests the load generator has in flight.", func() float64 { return float64(live.inflight.Load()) }),
		gauge("llmbench_vus", "Virtual users running iterations.", func() float64 { return float64(live.vus.Load()) }),
		gauge("llmbench_vus_max", "Virtual users allocated.", func() float64 { return float64(live.vusMax.Load()) }),
		counter("llmbench_iterations_total", "Iterations completed.", func() float64 { return float64(live.iters.Load()) }),
		counter("llmbench_dropped_iterations_total", "Iterations an arrival-rate executor could not start for lack of a VU.", func() float64 { return float64(live.dropped.Load()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *selfMetrics) observe(r *runfmt.Request) {
	m.requests.WithLabelValues(r.Scenario, r.Protocol, strconv.Itoa(r.Status)).Inc()
	if !r.OK {
		m.errors.WithLabelValues(r.Scenario, r.Protocol, r.ErrorClass).Inc()
	}
	obs := func(h *prometheus.HistogramVec, ms *float64) {
		if ms != nil {
			h.WithLabelValues(r.Scenario, r.Protocol).Observe(*ms / 1e3)
		}
	}
	obs(m.ttft, r.TTFTMS)
	obs(m.tpot, r.TPOTMS)
	obs(m.e2e, r.E2EMS)
	for _, g := range r.GapsMS {
		m.itl.WithLabelValues(r.Scenario, r.Protocol).Observe(g / 1e3)
	}
}

// serveMetrics starts the /metrics endpoint on addr. The caller closes the
// returned server.
func (r *runState) serveMetrics(addr string) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	m := newSelfMetrics(reg, r.live)
	r.live.mu.Lock()
	r.live.observers = append(r.live.observers, m.observe)
	r.live.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(r.stderr, "llmbench: metrics endpoint: %v\n", err)
		}
	}()
	fmt.Fprintf(r.stderr, "llmbench: load generator metrics on http://%s/metrics\n", ln.Addr())
	return srv, nil
}
