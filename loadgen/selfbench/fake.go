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
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FakeConfig configures a FakeServer and `llmbench-dev fake-llm`. Its zero
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

// RegisterFlags adds the flags of `llmbench-dev fake-llm` to fs.
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
// A FakeServer costs one goroutine per connection, asleep while it
// streams, and one goroutine that writes every stream's events when they
// are due (each one pre-built write on the bare connection). It is safe for concurrent use.
type FakeServer struct {
	cfg      FakeConfig
	inFlight atomic.Int64
	pacers   []pacer // one per P: the writes are most of the fake's work
	next     atomic.Uint64

	mu      sync.Mutex
	maxIn   int64
	served  int64
	streams []StreamTiming
}

// NewFakeServer returns a FakeServer for cfg (zero fields: the defaults).
func NewFakeServer(cfg FakeConfig) *FakeServer {
	return &FakeServer{cfg: cfg.withDefaults(), pacers: make([]pacer, runtime.GOMAXPROCS(0))}
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
	n, err := s.tokens(r)
	if err != nil {
		http.Error(w, `{"error":{"message":"bad JSON body","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	// The events go out through the bare connection: net/http's response
	// writer cost the fake as much CPU again as its system calls, and on
	// a small machine the fake shares the cores with the load generator
	// it measures. The connection stays the client's keep-alive
	// connection: its next requests are served here.
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil { // not HTTP/1 (tests may use other servers): the plain way
		s.streamHTTP(w, r, start, n)
		return
	}
	defer conn.Close()
	for {
		if n >= 0 && !s.streamRaw(conn, r, start, n) || r.Close {
			return
		}
		if r, err = http.ReadRequest(rw.Reader); err != nil {
			return
		}
		start, n = time.Now(), -1
		if r.URL.Path == "/generate/stream" && r.Method == http.MethodPost {
			if n, err = s.tokens(r); err == nil {
				continue
			}
			n = -1
		}
		if !s.answerRaw(conn, r) { // anything else, or a bad body: as ServeHTTP answers it
			return
		}
	}
}

// tokens reads the request's body and returns how many tokens to stream.
func (s *FakeServer) tokens(r *http.Request) (int, error) {
	var req struct {
		MaxTokens int `json:"max_tokens"`
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) // the connection's next request follows
	if err != nil {
		return 0, err
	}
	n := s.cfg.Tokens
	if req.MaxTokens > 0 && req.MaxTokens < n {
		n = req.MaxTokens
	}
	return n, nil
}

// answerRaw answers a request other than a stream on a hijacked
// connection, through ServeHTTP; false when the connection is done.
func (s *FakeServer) answerRaw(conn net.Conn, r *http.Request) bool {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.ContentLength = int64(rec.Body.Len()) // else the body would end with the connection
	resp.Close = r.Close
	return resp.Write(conn) == nil && !r.Close
}

// The bytes of a stream on the wire: chunked transfer encoding, one chunk
// per event.
var (
	streamHead = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
	textChunk  = fmt.Appendf(nil, "%x\r\n%s\r\n", len(textEvent), textEvent)
	lastChunk  = []byte("0\r\n\r\n")
)

// begin counts a stream in and returns its record.
func (s *FakeServer) begin(r *http.Request, start time.Time, n int) *StreamTiming {
	in := s.inFlight.Add(1)
	s.mu.Lock()
	s.maxIn = max(s.maxIn, in)
	s.mu.Unlock()
	return &StreamTiming{TraceID: traceID(r.Header.Get("traceparent")), Start: start,
		FlushNS: make([]int64, 0, n), WriteNS: make([]int64, 0, n), LateNS: make([]int64, 0, n)}
}

// end records a stream that ended, served to its end or not.
func (s *FakeServer) end(st *StreamTiming, served bool) {
	s.inFlight.Add(-1)
	s.mu.Lock()
	s.streams = append(s.streams, *st)
	if served {
		s.served++
	}
	s.mu.Unlock()
}

// doneEvent is the final usage event and the end marker.
func (s *FakeServer) doneEvent(n int, start time.Time) []byte {
	return fmt.Appendf(nil, doneFmt, n, n+1, s.cfg.TTFT.Seconds(), s.cfg.Interval.Seconds(), time.Since(start).Seconds())
}

// streamRaw streams n events on a hijacked connection, each one write at
// its time, through the server's pacer; false when the connection failed.
func (s *FakeServer) streamRaw(conn net.Conn, r *http.Request, start time.Time, n int) bool {
	rs := &rawStream{conn: conn, start: start, n: n, st: s.begin(r, start, n), head: streamHead, done: make(chan bool, 1)}
	s.pacers[s.next.Add(1)%uint64(len(s.pacers))].add(s, rs)
	return <-rs.done
}

// pacerTick is the least time the pacer sleeps between its rounds: the
// events of a round's streams go out together, up to about this late. A
// goroutine per stream, each sleeping until its next event, cost the fake
// a thread wake-up per event, most of its CPU on a small machine, where
// it shares the cores with the load generator it measures.
const pacerTick = time.Millisecond

// pacer writes its raw streams' events when they are due, from one
// goroutine, started with the first stream and ended with the last. A
// FakeServer has one per P (GOMAXPROCS), the streams dealt out in turn,
// so that the writes can use every core.
type pacer struct {
	mu      sync.Mutex
	streams []*rawStream // added since the goroutine last looked
	running bool
	wakeAt  time.Time     // when the goroutine wakes next
	kick    chan struct{} // wakes it earlier, for a stream due before
}

// rawStream is one answer the pacer writes: events i..n-1 are to come.
type rawStream struct {
	conn  net.Conn
	start time.Time
	n, i  int
	st    *StreamTiming
	head  []byte    // the response head, sent with the first write
	buf   []byte    // the first write, or the end
	done  chan bool // the result: true when the answer went out whole
}

// add hands rs to the pacer's goroutine, starting it if need be, and
// waking it if it would sleep past rs's first event.
func (p *pacer) add(s *FakeServer, rs *rawStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams = append(p.streams, rs)
	if p.kick == nil {
		p.kick = make(chan struct{}, 1)
	}
	if !p.running {
		p.running = true
		p.wakeAt = time.Time{}
		go p.run(s)
		return
	}
	if p.wakeAt.After(rs.start.Add(s.cfg.TTFT)) {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// run writes the due events, round after round, until no stream is left.
func (p *pacer) run(s *FakeServer) {
	var mine []*rawStream
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		mine = append(mine, p.streams...)
		clear(p.streams)
		p.streams = p.streams[:0]
		if len(mine) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		next := time.Now().Add(time.Hour)
		kept := mine[:0]
		for _, rs := range mine {
			due, more := s.writeDue(rs)
			if more {
				kept = append(kept, rs)
				if due.Before(next) {
					next = due
				}
			}
		}
		clear(mine[len(kept):])
		mine = kept
		if len(mine) == 0 {
			continue // new streams, or the end
		}
		wait := max(time.Until(next), pacerTick)
		p.mu.Lock()
		p.wakeAt = time.Now().Add(wait)
		p.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-p.kick:
			timer.Stop() // since Go 1.23 no stale tick is left behind
		}
	}
}

// writeDue writes rs's events that are due, and the end after the last
// one; more is false once rs is done (its result sent), and due is when
// its next event is.
func (s *FakeServer) writeDue(rs *rawStream) (due time.Time, more bool) {
	for rs.i < rs.n {
		d := s.cfg.TTFT + time.Duration(rs.i)*s.cfg.Interval
		if time.Since(rs.start) < d {
			return rs.start.Add(d), true
		}
		out := textChunk
		if rs.head != nil {
			rs.buf = append(append(rs.buf[:0], rs.head...), textChunk...)
			out, rs.head = rs.buf, nil
		}
		began := time.Since(rs.start)
		if !s.write(rs, out) {
			return due, false
		}
		rs.st.FlushNS = append(rs.st.FlushNS, int64(time.Since(rs.start)))
		rs.st.WriteNS = append(rs.st.WriteNS, int64(began))
		rs.st.LateNS = append(rs.st.LateNS, int64(began-d))
		rs.i++
	}
	done := s.doneEvent(rs.n, rs.start)
	rs.buf = append(rs.buf[:0], rs.head...)
	rs.buf = fmt.Appendf(rs.buf, "%x\r\n%s\r\n", len(done), done)
	if !s.write(rs, rs.buf) {
		return due, false
	}
	s.end(rs.st, true) // recorded before the client sees the body end
	_, err := rs.conn.Write(lastChunk)
	rs.done <- err == nil
	return due, false
}

// stalledWrite is how long the pacer waits for room in a stream's socket
// before it gives the stream up: a client that stopped reading must not
// hold up every other stream.
const stalledWrite = time.Second

// write writes p on rs's connection; on failure it ends rs as cut short.
func (s *FakeServer) write(rs *rawStream, p []byte) bool {
	_ = rs.conn.SetWriteDeadline(time.Now().Add(stalledWrite))
	if _, err := rs.conn.Write(p); err != nil {
		s.end(rs.st, false)
		rs.done <- false
		return false
	}
	return true
}

// streamHTTP streams n events through w.
func (s *FakeServer) streamHTTP(w http.ResponseWriter, r *http.Request, start time.Time, n int) {
	st := s.begin(r, start, n)
	served := false
	defer func() { s.end(st, served) }()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range n {
		due := s.cfg.TTFT + time.Duration(i)*s.cfg.Interval
		if wait := due - time.Since(start); wait > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(wait):
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
	_, _ = w.Write(s.doneEvent(n, start))
	served = rc.Flush() == nil
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

// ServeFake is `llmbench-dev fake-llm`: it serves a FakeServer on cfg.Addr,
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

// fakeArgs are the command-line arguments of `llmbench-dev fake-llm` for cfg.
func fakeArgs(cfg FakeConfig) []string {
	return []string{"fake-llm", "-addr", cfg.Addr, "-tokens", strconv.Itoa(cfg.Tokens), "-interval", cfg.Interval.String(), "-ttft", cfg.TTFT.String()}
}
