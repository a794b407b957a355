// Package server is refserver's HTTP API: the original report's
// /generate, a streaming /generate/stream, OpenAI-compatible
// /v1/completions and /v1/chat/completions (streaming and not), /health,
// /metrics, and the API docs. Every route is traced (W3C traceparent in,
// spans named as in DESIGN.md out) and measured with Prometheus metrics.
package server

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/hostguard"
	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
)

// Config is the HTTP layer's settings. The zero value means: listen on
// 127.0.0.1:8000, serve the model as "gpt2", accept bodies up to 1 MiB, and
// drain for 30 s on shutdown.
type Config struct {
	Addr         string        // listen address, e.g. 127.0.0.1:8000
	ModelName    string        // the model id in responses and /v1/models, e.g. gpt2
	MaxBodyBytes int64         // largest request body, e.g. 1 MiB
	DrainTimeout time.Duration // how long shutdown waits for requests in flight
	// BodyTimeout bounds reading a request's body (a slow body is cut off
	// with 408), IdleTimeout how long a keep-alive connection may sit
	// idle, MaxConns how many connections are open at once (those over it
	// get 503 at once). Zero means 30 s, 60 s, and half the process's
	// file-descriptor limit (between 16 and 4096).
	BodyTimeout time.Duration
	IdleTimeout time.Duration
	MaxConns    int
	// AllowedHosts are Host names the server answers besides loopback
	// ones: a guard against DNS rebinding, with cross-origin POSTs from
	// web pages refused. A listener beyond loopback answers any name
	// unless these are given.
	AllowedHosts []string
}

// RegisterFlags adds the HTTP flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8000", "listen address; loopback unless you say otherwise")
	fs.StringVar(&c.ModelName, "model-name", "gpt2", "model id reported by the API")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body accepted; larger ones get 413")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long to let requests in flight finish")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 30*time.Second, "longest time to read a request's body; a slower one gets 408")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 60*time.Second, "how long a keep-alive connection may sit idle before it is closed")
	fs.Func("allowed-hosts", "comma-separated Host `names` to answer besides loopback ones (a guard against DNS rebinding; a listener beyond loopback answers any name unless these are given)", func(v string) error {
		c.AllowedHosts = append(c.AllowedHosts, strings.Split(v, ",")...)
		return nil
	})
	fs.IntVar(&c.MaxConns, "max-conns", 0, "most connections open at once; more get 503 at once (0: half the file-descriptor limit, 16..4096)")
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.MaxBodyBytes < 0 || c.DrainTimeout < 0 || c.BodyTimeout < 0 || c.IdleTimeout < 0 || c.MaxConns < 0 {
		return fmt.Errorf("server: negative body limit, timeout or connection cap")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8000"
	}
	if c.ModelName == "" {
		c.ModelName = "gpt2"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	return c
}

// Server answers the API over one engine. Its handler is safe for
// concurrent use.
type Server struct {
	cfg     Config
	model   *gpt2.Model
	tok     *bpe.Tokenizer
	eng     *engine.Engine
	tracer  trace.Tracer
	metrics *metrics
	info    Info
	handler http.Handler

	draining atomic.Bool
	inflight atomic.Int64 // generations admitted and not yet finished
	started  time.Time
}

// Info describes where the model runs, for /health.
type Info struct {
	Backend string // e.g. cpu
	Device  string // e.g. cpu
	Kernels string // e.g. avx512
	Threads int    // the engine's compute threads
	// CoresAllowed are the cores the process may run on (its affinity,
	// e.g. "0-3"; "" when the OS does not say), NumAllowed their count,
	// GOMAXPROCS the Go runtime's limit on parallel threads.
	CoresAllowed string
	NumAllowed   int
	GOMAXPROCS   int
	// Live, when not nil, says what the backend runs on now: the GPU's
	// name, the weights' type, the device memory.
	Live func() backend.Info
}

// New builds the API over eng. tp receives the request spans (use
// noop.NewTracerProvider() for none) and reg the metrics.
func New(cfg Config, m *gpt2.Model, tok *bpe.Tokenizer, eng *engine.Engine, info Info, tp trace.TracerProvider, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	met, err := newMetrics(reg, eng)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg.withDefaults(), model: m, tok: tok, eng: eng, info: info,
		tracer: tp.Tracer("github.com/llmbench/llmbench/refserver"), metrics: met, started: time.Now()}
	s.handler = hostguard.New(s.cfg.Addr, s.cfg.AllowedHosts).Wrap(s.routes(tp, reg), func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		writeError(w, &apiError{Status: status, Type: "permission_error", Message: msg, kind: "forbidden"})
	})
	return s, nil
}

// Config returns the settings with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Route is one route of the API.
type Route struct {
	Method, Path string
	Summary      string
}

// Routes lists the API, in the order /docs shows it.
func Routes() []Route {
	return []Route{
		{"POST", "/generate", "generate text (the original report's API)"},
		{"POST", "/generate/stream", "generate text as Server-Sent Events"},
		{"POST", "/v1/completions", "OpenAI-compatible completions, streaming or not"},
		{"POST", "/v1/chat/completions", "OpenAI-compatible chat completions, streaming or not"},
		{"GET", "/v1/models", "the served model"},
		{"GET", "/health", "status, model, device and the engine's live state"},
		{"GET", "/metrics", "Prometheus metrics"},
		{"GET", "/docs", "interactive API docs"},
		{"GET", "/openapi.json", "the OpenAPI 3 document"},
	}
}

func (s *Server) routes(tp trace.TracerProvider, reg prometheus.Registerer) http.Handler {
	r := mux.NewRouter()
	handlers := map[string]http.HandlerFunc{
		"/generate":            s.handleGenerate(false),
		"/generate/stream":     s.handleGenerate(true),
		"/v1/completions":      s.handleCompletions,
		"/v1/chat/completions": s.handleChat,
		"/v1/models":           s.handleModels,
		"/health":              s.handleHealth,
		"/docs":                handleDocs,
		"/openapi.json":        handleOpenAPI,
	}
	gatherer, _ := reg.(prometheus.Gatherer)
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}
	metricsHandler := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	for _, rt := range Routes() {
		h := http.Handler(handlers[rt.Path])
		if rt.Path == "/metrics" {
			h = metricsHandler
		}
		name := rt.Method + " " + rt.Path
		// Each route gets its own server span, named as DESIGN.md says
		// ("POST /generate"), continuing the client's traceparent.
		h = otelhttp.NewHandler(h, name, otelhttp.WithTracerProvider(tp),
			otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return name }))
		h = bodyDeadline(h, s.cfg.BodyTimeout)
		methods := []string{rt.Method}
		if rt.Method == http.MethodGet {
			methods = append(methods, http.MethodHead) // HEAD /health, for probes
		}
		r.Handle(rt.Path, h).Methods(methods...)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found_error",
			Message: fmt.Sprintf("no route %s %s; see /docs", req.Method, req.URL.Path), kind: "not_found"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
			Message: fmt.Sprintf("%s is not allowed on %s; see /docs", req.Method, req.URL.Path), kind: "bad_request"})
	})
	return r
}

// Drain makes the server refuse new generations with 503 and waits until
// those in flight finish or ctx ends.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("drain: %d requests still in flight after the timeout: %w", s.inflight.Load(), ctx.Err())
		}
	}
	return nil
}

// admit registers a generation in flight, or refuses it while draining.
// Counting before the check means Drain never misses one that got in.
func (s *Server) admit() *apiError {
	s.inflight.Add(1)
	if s.draining.Load() {
		s.inflight.Add(-1)
		return shuttingDown()
	}
	return nil
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": s.cfg.ModelName, "object": "model", "created": s.started.Unix(), "owned_by": "llmbench",
			"max_model_len": s.model.Config.NPositions,
		}},
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := s.eng.State()
	status, code := "ok", http.StatusOK
	if s.draining.Load() {
		status, code = "draining", http.StatusServiceUnavailable
	}
	c := s.model.Config
	var bi backend.Info
	if s.info.Live != nil {
		bi = s.info.Live()
	}
	gpu := map[string]any(nil)
	if bi.Device == "cuda" {
		gpu = map[string]any{"name": bi.Name, "compute_capability": bi.ComputeCapability,
			"memory_used_bytes": bi.MemUsed, "memory_total_bytes": bi.MemTotal, "memory_free_bytes": bi.MemTotal - bi.MemUsed}
	}
	dtype := bi.DType
	if dtype == "" {
		dtype = "f32"
	}
	health := map[string]any{
		"status":        status,
		"model":         s.cfg.ModelName,
		"model_source":  s.model.Source,
		"synthetic":     s.model.Synthetic,
		"model_config":  map[string]any{"n_layer": c.NLayer, "n_embd": c.NEmbd, "n_head": c.NHead, "n_positions": c.NPositions, "vocab_size": c.VocabSize, "parameters": c.Params()},
		"backend":       s.info.Backend,
		"device":        s.info.Device,
		"gpu_available": s.info.Device == "cuda",
		"gpu":           gpu,
		"dtype":         dtype,
		"kernels":       s.info.Kernels,
		"threads":       s.info.Threads,
		"cores_allowed": s.info.CoresAllowed,
		"num_allowed":   s.info.NumAllowed,
		"gomaxprocs":    s.info.GOMAXPROCS,
		"uptime_s":      time.Since(s.started).Seconds(),
		"engine": map[string]any{
			"running": st.Running, "waiting": st.Waiting, "batch_size": st.BatchSize,
			"kv_used_tokens": st.KVUsed, "kv_total_tokens": st.KVTotal, "kv_usage": st.KVUsage(),
			"steps": st.Steps, "max_batch": s.eng.Config().MaxBatch, "max_queue": s.eng.Config().MaxQueue,
			"threads": s.eng.Config().Threads, "busy_s": st.Busy.Seconds(), "busy_cpu_s": st.BusyCPU.Seconds(),
			"step_cost": stepCost(s.eng.StepCost()),
		},
	}
	if bi.KVDType != "" {
		health["kv_dtype"] = bi.KVDType
	}
	writeJSON(w, code, health)
}

// costPoint is one calibrated decode step cost, as /health reports it.
type costPoint struct {
	Batch    int     `json:"batch"`
	N        int     `json:"n"` // steps timed
	MS       float64 `json:"ms"`
	SpreadMS float64 `json:"spread_ms"`
	CPUMS    float64 `json:"cpu_ms"`
}

// stepCost is the engine's calibration for /health: an empty list when it
// did not calibrate.
func stepCost(points []engine.CostPoint) []costPoint {
	out := []costPoint{}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, p := range points {
		out = append(out, costPoint{Batch: p.Batch, N: p.N, MS: ms(p.Median), SpreadMS: ms(p.Spread), CPUMS: ms(p.CPU)})
	}
	return out
}
