package selfbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FakeConfig configures a FakeServer and `llmbench fake-llm`. Its zero
// value streams DefaultTokens tokens DefaultInterval apart after a
// DefaultTTFT delay, on a free loopback port.
type FakeConfig struct {
	Addr     string        // where ServeFake listens, e.g. 127.0.0.1:0 (a free port)
	Tokens   int           // tokens per answer, e.g. 50; a smaller max_tokens in the request wins
	Interval time.Duration // between consecutive tokens, e.g. 20ms
	TTFT     time.Duration // from the request's arrival to the first token, e.g. 20ms
	// NoStdin keeps ServeFake serving when its stdin closes; by default
	// the end of stdin stops it, so a child dies with its parent.
	NoStdin bool
}

// Defaults of FakeConfig's zero fields.
const (
	DefaultTokens   = 50
	DefaultInterval = 20 * time.Millisecond
	DefaultTTFT     = 20 * time.Millisecond
)

// RegisterFlags adds the flags of `llmbench fake-llm` to fs.
func (c *FakeConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "listen on this `host:port` (port 0: a free one); the address is printed on stdout's first line")
	fs.IntVar(&c.Tokens, "tokens", DefaultTokens, "tokens per answer (a smaller max_tokens in the request wins)")
	fs.DurationVar(&c.Interval, "interval", DefaultInterval, "time between consecutive tokens")
	fs.DurationVar(&c.TTFT, "ttft", DefaultTTFT, "time from the request's arrival to the first token")
	fs.BoolVar(&c.NoStdin, "no-stdin", false, "keep serving when stdin closes (by default its end stops the server)")
}

// Validate checks the configuration.
func (c *FakeConfig) Validate() error {
	if c.Tokens < 0 || c.Interval < 0 || c.TTFT < 0 {
		return errors.New("fake-llm: -tokens, -interval and -ttft must not be negative")
	}
	return nil
}

func (c FakeConfig) withDefaults() FakeConfig {
	if c.Tokens == 0 {
		c.Tokens = DefaultTokens
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.TTFT == 0 {
		c.TTFT = DefaultTTFT
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	return c
}

// StreamTiming is one stream as the fake server sent it.
type StreamTiming struct {
	TraceID string    `json:"trace_id"` // from the request's traceparent header; "" when it had none
	Start   time.Time `json:"start"`    // the request arrived (wall clock)
	// FlushNS holds, for each text event, when its flush returned, in
	// nanoseconds after Start (monotonic clock).
	FlushNS []int64 `json:"flush_ns"`
	// WriteNS holds, for each text event, when its write began, in
	// nanoseconds after Start. The event reached the client's socket
	// between WriteNS and FlushNS: how tightly the fake knows when it sent
	// it (a fake preempted after its write returns records a late flush).
	WriteNS []int64 `json:"write_ns,omitempty"`
	// LateNS holds how late each text event's write began against its
	// schedule (Start + TTFT + i·Interval), in nanoseconds.
	LateNS []int64 `json:"late_ns"`
}

// Timings is what a FakeServer recorded since it started or was last
// reset: GET /timings.
type Timings struct {
	Served      int64          `json:"served"`        // streams that ran to their end
	MaxInFlight int64          `json:"max_in_flight"` // most streams open at once
	Streams     []StreamTiming `json:"streams"`       // every stream, finished or cut short, in the order they ended
}

// FakeServer is a refserver-shaped LLM endpoint for benchmarking the load
// generator: POST /generate/stream answers with Tokens text events, the
// first TTFT after the request arrived and the next ones Interval apart,
// each written and flushed on a schedule anchored at the arrival (a late
// event does not delay the ones after it), then the final usage event and
// [DONE]. It records when each text event was flushed, keyed by the trace
// id of the request's traceparent header; GET /timings returns the record
// as JSON (?reset=1 also clears it), and so does Timings in-process.
// GET /health answers as refserver does.
//
// A FakeServer costs one goroutine and one timer per open stream, and each
// event is one pre-built write. It is safe for concurrent use.
type FakeServer struct {
	cfg      FakeConfig
	inFlight atomic.Int64

	mu      sync.Mutex
	maxIn   int64
	served  int64
	streams []StreamTiming
}

// NewFakeServer returns a FakeServer for cfg (zero fields: the defaults).
func NewFakeServer(cfg FakeConfig) *FakeServer {
	return &FakeServer{cfg: cfg.withDefaults()}
}

// The events every stream sends: one token per text event, as refserver.
var (
	textEvent = []byte("data: {\"text\":\" t\",\"token_ids\":[83]}\n\n")
	doneFmt   = "data: {\"done\":true,\"finish_reason\":\"length\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":%d,\"total_tokens\":%d},\"timings\":{\"queue_s\":0,\"ttft_s\":%g,\"tpot_s\":%g,\"total_s\":%g}}\n\ndata: [DONE]\n\n"
)

// ServeHTTP serves /generate/stream, /timings and /health.
func (s *FakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/generate/stream":
		s.stream(w, r)
	case "/timings":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Timings(r.URL.Query().Get("reset") == "1"))
	case "/health":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","model":"fake-llm","backend":"fake","device":"cpu","gpu_available":false}`)
	default:
		http.NotFound(w, r)
	}
}

// Timings returns what was recorded; reset also clears it (and the
// in-flight maximum) for the next phase.
func (s *FakeServer) Timings(reset bool) Timings {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Timings{Served: s.served, MaxInFlight: s.maxIn, Streams: s.streams}
	if reset {
		s.served, s.maxIn, s.streams = 0, s.inFlight.Load(), nil
	} else {
		t.Streams = append([]StreamTiming(nil), s.streams...)
	}
	return t
}

func (s *FakeServer) stream(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"POST only","type":"invalid_request_error"}}`, http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		MaxTokens int `json:"max_tokens"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad JSON body","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	n := s.cfg.Tokens
	if req.MaxTokens > 0 && req.MaxTokens < n {
		n = req.MaxTokens
	}
	in := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.mu.Lock()
	s.maxIn = max(s.maxIn, in)
	s.mu.Unlock()

	st := StreamTiming{TraceID: traceID(r.Header.Get("traceparent")), Start: start,
		FlushNS: make([]int64, 0, n), WriteNS: make([]int64, 0, n), LateNS: make([]int64, 0, n)}
	defer func() {
		s.mu.Lock()
		s.streams = append(s.streams, st)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	timer := time.NewTimer(s.cfg.TTFT)
	defer timer.Stop()
	for i := range n {
		due := s.cfg.TTFT + time.Duration(i)*s.cfg.Interval
		if wait := due - time.Since(start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
			}
		}
		began := time.Since(start)
		if _, err := w.Write(textEvent); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		st.FlushNS = append(st.FlushNS, int64(time.Since(start)))
		st.WriteNS = append(st.WriteNS, int64(began))
		st.LateNS = append(st.LateNS, int64(began-due))
	}
	total := time.Since(start).Seconds()
	fmt.Fprintf(w, doneFmt, n, n+1, s.cfg.TTFT.Seconds(), s.cfg.Interval.Seconds(), total)
	if rc.Flush() == nil {
		s.mu.Lock()
		s.served++
		s.mu.Unlock()
	}
}

// traceID returns the trace id of a W3C traceparent header
// (00-<32 hex>-<16 hex>-<2 hex>), or "".
func traceID(h string) string {
	parts := strings.Split(h, "-")
	if len(parts) < 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}

// ServeFake is `llmbench fake-llm`: it serves a FakeServer on cfg.Addr,
// prints the address it listens on (host:port) as stdout's first line, and
// serves until ctx ends or stdin reaches its end (unless cfg.NoStdin, or
// stdin is nil). It raises its open-file limit to the hard limit first.
// The goroutine reading stdin cannot be interrupted; it ends with the
// process, which is what ServeFake is meant to be.
func ServeFake(ctx context.Context, cfg FakeConfig, stdin io.Reader, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	_, _ = raiseFDLimit()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("fake-llm: listen: %w", err)
	}
	srv := &http.Server{Handler: NewFakeServer(cfg), ReadHeaderTimeout: 10 * time.Second}
	if _, err := fmt.Fprintln(stdout, ln.Addr().String()); err != nil {
		ln.Close()
		return fmt.Errorf("fake-llm: print address: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil && !cfg.NoStdin {
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
			cancel()
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("fake-llm: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// fakeArgs are the command-line arguments of `llmbench fake-llm` for cfg.
func fakeArgs(cfg FakeConfig) []string {
	return []string{"fake-llm", "-addr", cfg.Addr, "-tokens", strconv.Itoa(cfg.Tokens), "-interval", cfg.Interval.String(), "-ttft", cfg.TTFT.String()}
}
