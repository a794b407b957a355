package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/engine"
)

// Buckets for LLM latencies: TTFT and whole requests from 5 ms to 60 s (and
// 120 s), TPOT from 1 ms to 2 s.
var (
	ttftBuckets     = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60}
	tpotBuckets     = []float64{.001, .0025, .005, .0075, .01, .015, .02, .025, .03, .04, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2}
	durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120}
)

// metrics are the original report's metrics and DESIGN.md's additions.
type metrics struct {
	requests *prometheus.CounterVec // llm_requests_total{endpoint,status}
	errors   *prometheus.CounterVec // llm_errors_total{endpoint,type}
	tokens   *prometheus.CounterVec // llm_tokens_processed_total{kind}
	ttft     prometheus.Histogram
	tpot     prometheus.Histogram
	queue    prometheus.Histogram
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, eng *engine.Engine) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_requests_total",
			Help: "Generation requests answered, by endpoint and HTTP status."}, []string{"endpoint", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_errors_total",
			Help: "Generation requests that failed, by endpoint and error type."}, []string{"endpoint", "type"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_tokens_processed_total",
			Help: "Tokens processed: prompt tokens prefilled and completion tokens generated."}, []string{"kind"}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llm_ttft_seconds",
			Help: "Time from request received to first generated token.", Buckets: ttftBuckets}),
		tpot: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llm_tpot_seconds",
			Help: "Time per output token after the first.", Buckets: tpotBuckets}),
		queue: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llm_queue_wait_seconds",
			Help: "Time a request waited for a batch slot.", Buckets: ttftBuckets}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llm_inference_duration_seconds",
			Help: "Time from request received to generation finished.", Buckets: durationBuckets}),
	}
	state := func(f func(engine.State) float64) func() float64 {
		return func() float64 { return f(eng.State()) }
	}
	cs := []prometheus.Collector{m.requests, m.errors, m.tokens, m.ttft, m.tpot, m.queue, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_requests_running", Help: "Sequences in the running batch."},
			state(func(s engine.State) float64 { return float64(s.Running) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_requests_waiting", Help: "Requests queued for a batch slot."},
			state(func(s engine.State) float64 { return float64(s.Waiting) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_kv_cache_usage_ratio", Help: "Share of the KV-cache budget reserved by running sequences."},
			state(func(s engine.State) float64 { return s.KVUsage() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_device_memory_bytes", Help: "The device's memory in use (all processes), on a GPU; 0 on the CPU.",
			ConstLabels: prometheus.Labels{"state": "used"}}, func() float64 { return float64(eng.Backend().Info().MemUsed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_device_memory_bytes", Help: "The device's memory in use (all processes), on a GPU; 0 on the CPU.",
			ConstLabels: prometheus.Labels{"state": "total"}}, func() float64 { return float64(eng.Backend().Info().MemTotal) }),
		backendInfo(eng.Backend().Info()),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "llm_engine_busy_seconds_total",
			Help: "Wall time the engine spent in batched forward steps."},
			state(func(s engine.State) float64 { return s.Busy.Seconds() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "llm_engine_cpu_seconds_total",
			Help: "CPU time the process used while the engine was in steps; over llm_engine_busy_seconds_total, the cores the busy engine got."},
			state(func(s engine.State) float64 { return s.BusyCPU.Seconds() })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, kind := range []string{"prompt", "completion"} {
		m.tokens.WithLabelValues(kind)
	}
	return m, nil
}

// backendInfo is llm_backend_info: 1, labelled with where the model runs.
func backendInfo(in backend.Info) prometheus.Collector {
	dtype := in.DType
	if dtype == "" {
		dtype = "f32"
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llm_backend_info", Help: "Where the model runs: backend, device, its name and the weights' type.",
		ConstLabels: prometheus.Labels{"backend": in.Backend, "device": in.Device, "name": in.Name, "dtype": dtype}}, func() float64 { return 1 })
}

// request counts one answered request.
func (m *metrics) request(endpoint string, status int, kind string) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	if kind != "" {
		m.errors.WithLabelValues(endpoint, kind).Inc()
	}
}

// observe records a finished generation's latencies and tokens.
func (m *metrics) observe(j *job, st *engine.Stats) {
	m.tokens.WithLabelValues("prompt").Add(float64(st.PromptTokens))
	m.tokens.WithLabelValues("completion").Add(float64(st.OutputTokens))
	if !st.Scheduled.IsZero() {
		m.queue.Observe(st.Scheduled.Sub(st.Submitted).Seconds())
	}
	if !st.FirstToken.IsZero() {
		m.ttft.Observe(st.FirstToken.Sub(j.received).Seconds())
		if st.OutputTokens > 1 {
			m.tpot.Observe(st.Finished.Sub(st.FirstToken).Seconds() / float64(st.OutputTokens-1))
		}
	}
	m.duration.Observe(st.Finished.Sub(j.received).Seconds())
}

// Steps traces and measures engine steps: give it to engine.New. Each step
// is an "engine.step" span in a trace of its own, linked to the request
// spans of the sequences in the batch, and sets the llm_batch_size gauge.
// It is safe for concurrent use.
type Steps struct {
	tracer trace.Tracer
	batch  prometheus.Gauge
}

// NewSteps returns a step observer that writes to tp and reg.
func NewSteps(tp trace.TracerProvider, reg prometheus.Registerer) (*Steps, error) {
	s := &Steps{tracer: tp.Tracer("github.com/llmbench/llmbench/refserver/engine"),
		batch: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llm_batch_size", Help: "Sequences in the last engine step."})}
	if err := reg.Register(s.batch); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		s.batch = are.ExistingCollector.(prometheus.Gauge)
	}
	return s, nil
}

// Step implements engine.StepObserver.
func (s *Steps) Step(info engine.StepInfo) {
	s.batch.Set(float64(len(info.Tags)))
	links := make([]trace.Link, 0, len(info.Tags))
	for _, t := range info.Tags {
		if sc, ok := t.(trace.SpanContext); ok && sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	_, span := s.tracer.Start(noParent, "engine.step", trace.WithTimestamp(info.Start), trace.WithLinks(links...),
		trace.WithNewRoot(), trace.WithAttributes(
			attribute.Int("batch.size", len(info.Tags)),
			attribute.Int("batch.prefill_tokens", info.Prefill),
			attribute.Int("batch.decode_sequences", info.Decode),
			attribute.Float64("cpu.process_ms", float64(info.CPU.Microseconds())/1000),
			attribute.String("device", info.Device),
			attribute.String("dtype", info.DType)))
	span.End(trace.WithTimestamp(info.Start.Add(info.Duration)))
}

// noParent is the context of step spans: each starts a trace of its own.
var noParent = context.Background()
