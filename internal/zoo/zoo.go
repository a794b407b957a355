// Package zoo is a zoo of LLM servers: in-process fakes, for tests, that
// stream the way four real servers do — llama.cpp's llama-server, vLLM's
// OpenAI-compatible server, Hugging Face TGI and the OpenAI API — byte for
// byte where the facts allow. The facts, with their sources, are in
// FACTS.md next to this file; the code cites it by section ("FACTS.md
// §1a", or just "§1a"). Each kind follows its server's newest era there:
// llama.cpp tools/server (late 2025), vLLM >= 0.10 with the nested
// {"error":{...}} error model, and TGI v3.
//
// A fake generates Config.Tokens tokens (fewer if the request's max_tokens
// says so) on a fixed schedule: the first is ready Config.Prefill after the
// request body was read and the others follow Config.Gap apart. Token i's
// text is " tok<i>", so a client can check what it received by its bytes.
// The fake records when each token event left it (Server.Events), so a
// test can compare what a client measured with what the server did.
//
// What the zoo does not imitate: header-name case (Go writes canonical
// names; uvicorn and hyper write lower case, which HTTP treats the same),
// the order of the standard headers, SSE keep-alive comments (they need
// 15-30 s of silence, §1d, §3), tokenizers and chat templates (see
// countWords), stop strings, logprobs, tools, n > 1 and mid-stream errors.
package zoo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kind names a server the zoo imitates.
type Kind string

// The kinds of server in the zoo.
const (
	LlamaCpp Kind = "llama.cpp" // llama.cpp tools/server, late 2025 (FACTS.md §1)
	VLLM     Kind = "vllm"      // vLLM >= 0.10 OpenAI-compatible server (§2)
	TGI      Kind = "tgi"       // Hugging Face text-generation-inference v3 (§3)
	OpenAI   Kind = "openai"    // the OpenAI API (§4)
)

// Kinds lists them all, in a fixed order.
func Kinds() []Kind { return []Kind{LlamaCpp, VLLM, TGI, OpenAI} }

// Config shapes one fake server. Its zero value, apart from Kind, means
// the defaults given on each field.
type Config struct {
	Kind Kind
	// Model is the model id, e.g. "meta-llama/Llama-3.1-8B-Instruct" (the
	// default for vLLM and TGI); llama.cpp's default is "model.gguf" and
	// OpenAI's "gpt-4o-mini". Chunks carry it whatever model the request
	// names, except that vLLM answers 404 NotFoundError for a request
	// that names another model (§2e).
	Model string

	// The schedule every request follows:

	// Prefill is the time from the request body being read to the first
	// token being ready (and, with FirstEventTokens <= 1, its event
	// flushed), e.g. 5ms. Zero means no wait.
	Prefill time.Duration
	// Gap is the time between one token being ready and the next, e.g.
	// 2ms. Tokens are ready at fixed offsets from the body's arrival, so
	// a slow write does not push later tokens back.
	Gap time.Duration
	// Tokens is how many tokens are generated when the request has no
	// max_tokens (default 16); max_tokens caps it. Generation always
	// stops by running out of tokens, so finish_reason is "length".
	Tokens int
	// FirstEventTokens > 1 makes the first event carry that many tokens'
	// text at once (held-back UTF-8 in llama.cpp, §1g; merged deltas in
	// vLLM, §2g; OpenAI does as vLLM); the tokens are produced Gap apart
	// but sent together. TGI still sends one event per token, with empty
	// text for the held ones (§3g). Zero or one means one token per event.
	FirstEventTokens int
	// DropReused makes the server close a keep-alive connection, without
	// answering, when a second request arrives on it (after reading that
	// request): what a client sees when it reuses a connection the server
	// has just closed. It needs ConnContext installed (Start does that).
	DropReused bool
	// PerRequestMetrics is vLLM's --enable-per-request-metrics (§2c): a
	// "metrics" object on the usage chunk and on non-streamed answers.
	// Other kinds ignore it.
	PerRequestMetrics bool
}

// defaultModel is the model id each kind reports when Config.Model is empty.
func defaultModel(k Kind) string {
	switch k {
	case LlamaCpp:
		return "model.gguf"
	case OpenAI:
		return "gpt-4o-mini"
	default:
		return "meta-llama/Llama-3.1-8B-Instruct"
	}
}

// Event is one token-carrying event a fake sent: when its write and flush
// returned, and how many tokens' text it carried.
type Event struct {
	At     time.Time
	Tokens int
}

// Server is one fake; it is an http.Handler, safe for concurrent use.
// Start it with Start, or with httptest.NewUnstartedServer(s), setting
// ts.Config.ConnContext = s.ConnContext (needed for DropReused) before
// ts.Start().
//
// Routes, for every kind: POST /v1/completions and POST
// /v1/chat/completions (a stream when the body has "stream": true, else
// one JSON answer), GET /v1/models and GET /health (OpenAI has none: 404).
// llama.cpp also serves GET /props, and TGI GET /info and its native
// POST /generate_stream. Anything else is a 404 in the kind's error shape.
//
// The handler does all its work in the request's goroutine and stops
// when the request's context ends; it starts no goroutines.
type Server struct {
	cfg Config
	d   dialect

	served  atomic.Int64
	dropped atomic.Int64

	mu     sync.Mutex
	events map[string][]Event // by trace id; guarded by mu
}

// New returns a fake of cfg.Kind. It panics if cfg.Kind is not one of
// Kinds(), which is a mistake in the test that calls it.
func New(cfg Config) *Server {
	if cfg.Model == "" {
		cfg.Model = defaultModel(cfg.Kind)
	}
	if cfg.Tokens <= 0 {
		cfg.Tokens = 16
	}
	cfg.FirstEventTokens = max(cfg.FirstEventTokens, 1)
	cfg.Prefill = max(cfg.Prefill, 0)
	cfg.Gap = max(cfg.Gap, 0)
	s := &Server{cfg: cfg, events: make(map[string][]Event)}
	switch cfg.Kind {
	case LlamaCpp:
		s.d = llamaCpp{model: cfg.Model}
	case VLLM:
		s.d = vllm{model: cfg.Model, metrics: cfg.PerRequestMetrics}
	case TGI:
		s.d = tgi{model: cfg.Model}
	case OpenAI:
		s.d = openAI{model: cfg.Model}
	default:
		panic(fmt.Sprintf("zoo: unknown kind %q", cfg.Kind))
	}
	return s
}

// Start starts a fake of cfg on a local port for the length of the test
// and returns it with its base URL ("http://127.0.0.1:port"). When the
// test ends, requests still in flight are cancelled and the server is
// closed.
func Start(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ConnContext = s.ConnContext
	ctx := t.Context() // cancelled before cleanups run, so ts.Close need not wait out long streams
	ts.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	ts.Start()
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// connKey is the context key under which ConnContext stores a *connInfo.
type connKey struct{}

// connInfo is what the server knows about one client connection.
type connInfo struct {
	conn     net.Conn
	requests atomic.Int64 // requests read on it so far
}

// ConnContext is an http.Server ConnContext hook: it gives each
// connection a request counter (and keeps the net.Conn), which DropReused
// needs.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{conn: c})
}

// Served returns how many generation requests (completions, chat,
// generate_stream) were answered with a complete stream or body.
func (s *Server) Served() int { return int(s.served.Load()) }

// Dropped returns how many generation requests (POSTs) were read and then
// dropped by DropReused.
func (s *Server) Dropped() int { return int(s.dropped.Load()) }

// Events returns, for the generation request whose W3C traceparent header
// carried traceID (32 hex digits), the time each token event's write and
// flush returned and how many tokens it carried, in order. Only events
// with text count: not role, finish or usage chunks, nor TGI's empty
// held-back events. A non-streamed answer is one event carrying all the
// tokens. It returns nil for a trace id it has not seen; if several
// requests carried the same trace id, the latest one's events.
func (s *Server) Events(traceID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, ok := s.events[strings.ToLower(traceID)]
	if !ok {
		return nil
	}
	return append([]Event{}, evs...)
}

// begin forgets any earlier events of trace; record adds one.
func (s *Server) begin(trace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[trace] = []Event{}
}

func (s *Server) record(trace string, ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[trace] = append(s.events[trace], ev)
}

// maxBody bounds the request bodies the fake reads.
const maxBody = 16 << 20

// ServeHTTP answers one request as the configured kind of server would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return // the client went away while sending
	}
	read := time.Now()
	if c, ok := r.Context().Value(connKey{}).(*connInfo); ok {
		if c.requests.Add(1) > 1 && s.cfg.DropReused {
			s.drop(w, c, r.Method == http.MethodPost)
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/completions":
		s.generate(w, r, completions, body, read)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		s.generate(w, r, chat, body, read)
	case r.Method == http.MethodPost && r.URL.Path == "/generate_stream" && s.cfg.Kind == TGI:
		s.generate(w, r, native, body, read)
	default:
		if page, ok := s.d.page(r.Method, r.URL.Path); ok {
			s.writePage(w, page)
			return
		}
		s.fail(w, failure{kind: noRoute, method: r.Method, path: r.URL.Path})
	}
}

// drop closes the request's connection without a word. It counts the drop
// of a generation request (a POST; a GET is retried by any HTTP client)
// first, so a client that sees the connection close also sees Dropped
// include it.
func (s *Server) drop(w http.ResponseWriter, c *connInfo, count bool) {
	if count {
		s.dropped.Add(1)
	}
	if nc, _, err := http.NewResponseController(w).Hijack(); err == nil {
		nc.Close()
		return
	}
	c.conn.Close()
}

// writePage writes a 200 answer for a GET route; a nil page is an empty
// body, as vLLM's and TGI's /health send.
func (s *Server) writePage(w http.ResponseWriter, page obj) {
	h := w.Header()
	s.d.base(h, http.StatusOK)
	if page == nil {
		h["Content-Type"] = nil // no sniffed text/plain
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", s.d.jsonType())
	w.WriteHeader(http.StatusOK)
	w.Write(encode(page))
}

// fail writes an error answer in the kind's shape.
func (s *Server) fail(w http.ResponseWriter, f failure) {
	status, body := s.d.fail(f)
	h := w.Header()
	s.d.base(h, status)
	if body == nil {
		h["Content-Type"] = nil
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", s.d.jsonType())
	w.WriteHeader(status)
	w.Write(encode(body))
}
