package zoo

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// dialect is what one kind of server says. The engine below decides when
// to say it: it owns the schedule, the flushing and the bookkeeping, so
// the four kinds differ only in their words (llamacpp.go, vllm.go, tgi.go,
// openai.go).
type dialect interface {
	// base sets the headers every answer of the kind carries, given its
	// status (llama.cpp: Server, and Keep-Alive or Connection: close).
	base(h http.Header, status int)
	// jsonType is the Content-Type of the kind's JSON answers.
	jsonType() string
	// validate refuses a parsed request the kind would not serve, such as
	// a max_tokens below its minimum; nil means serve it.
	validate(rq request) *failure
	// includeUsage decides whether a stream ends with a usage chunk.
	includeUsage(rq request) bool
	// newID returns a fresh completion id for the endpoint.
	newID(ep endpoint) string
	// headers sets the headers of a 200 generation answer; elapsed is
	// the time since the body was read, as the headers go out.
	headers(h http.Header, g *gen, stream bool, elapsed time.Duration)
	// late reports whether a stream's status and headers wait for its
	// first event (true) or go out as soon as the request is accepted.
	late() bool
	// sse is the text before an event's JSON: "data: " or "data:".
	sse() string
	// heldEvents reports whether a token whose text is held back still
	// gets an event of its own, with empty text (TGI, §3g).
	heldEvents() bool
	// opening returns the events sent just before the first token event
	// (chat's role chunk).
	opening(g *gen) []obj
	// token returns the event for the tokens just generated, whose text
	// is text; last is true for the stream's last token.
	token(g *gen, text string, last bool) obj
	// closing returns the events after the last token event: finish,
	// usage, timings.
	closing(g *gen) []obj
	// done reports whether the stream ends with data: [DONE].
	done(g *gen) bool
	// answer returns the body of a non-streamed answer.
	answer(g *gen) obj
	// fail returns the status and body of an error answer; a nil body is
	// an empty one.
	fail(f failure) (int, obj)
	// page returns the body of a GET route other than generation (nil: an
	// empty body) and whether the kind serves it.
	page(method, path string) (obj, bool)
}

// failKind says what was wrong with a request.
type failKind int

const (
	badBody      failKind = iota // not JSON, or JSON of the wrong shape
	badMaxTokens                 // max_tokens below the kind's minimum
	noRoute                      // unknown method or path
	noModel                      // vLLM: a model it does not serve
)

// failure is a request the fake refuses, with what the kinds' messages
// need to say why.
type failure struct {
	kind         failKind
	detail       string // badBody: the parse error; noModel: the model asked for
	maxTokens    int    // badMaxTokens: the value asked for
	method, path string // noRoute
}

// gen is the state of one generation request, shared by the engine and
// the dialect that words it.
type gen struct {
	ep       endpoint
	id       string
	model    string
	created  int64 // the request's time, for kinds that fix it per request
	prompt   int   // prompt tokens (see countWords)
	chars    int   // prompt bytes
	n        int   // tokens to generate
	done     int   // tokens generated so far
	usage    bool  // the stream ends with usage (dialect.includeUsage)
	details  bool  // TGI native: details on the last event
	received time.Time
	first    time.Time // the first token was ready (or prefill ended, if n == 0)
	last     time.Time // the latest token was ready
}

// text returns the text of tokens lo to hi-1: " tok<lo> ... tok<hi-1>".
func (g *gen) text(lo, hi int) string {
	var b strings.Builder
	for i := lo; i < hi; i++ {
		b.WriteString(" tok")
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

// ms returns d in milliseconds, as a float.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// generate serves one generation request whose body arrived at received.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, ep endpoint, body []byte, received time.Time) {
	rq, err := parseRequest(body, ep)
	if err != nil {
		var be *bodyError
		errors.As(err, &be)
		s.fail(w, failure{kind: badBody, detail: be.detail})
		return
	}
	if f := s.d.validate(rq); f != nil {
		s.fail(w, *f)
		return
	}
	g := &gen{
		ep:       ep,
		id:       s.d.newID(ep),
		model:    s.cfg.Model,
		created:  received.Unix(),
		prompt:   rq.words,
		chars:    rq.chars,
		n:        s.cfg.Tokens,
		usage:    rq.stream && ep != native && s.d.includeUsage(rq),
		details:  rq.details,
		received: received,
	}
	if rq.maxTokens != nil {
		g.n = min(g.n, max(*rq.maxTokens, 0))
	}
	record := func(Event) {}
	if trace, ok := traceID(r.Header.Get("traceparent")); ok {
		s.begin(trace)
		record = func(ev Event) { s.record(trace, ev) }
	}
	var ok bool
	if rq.stream {
		ok = s.stream(r.Context(), w, g, record)
	} else {
		ok = s.answer(r.Context(), w, g, record)
	}
	if ok {
		s.served.Add(1) // before the handler returns, so before the client sees the body end
	}
}

// ready waits for token i's time on the schedule, then notes that it is
// ready. It returns false if ctx ended first.
func (s *Server) ready(ctx context.Context, g *gen, i int) bool {
	if !sleepUntil(ctx, g.received.Add(s.cfg.Prefill+time.Duration(i)*s.cfg.Gap)) {
		return false
	}
	now := time.Now()
	if i == 0 {
		g.first = now
	}
	g.last = now
	g.done = i + 1
	return true
}

// prefillOnly waits out the prefill of a request that generates nothing.
func (s *Server) prefillOnly(ctx context.Context, g *gen) bool {
	if !sleepUntil(ctx, g.received.Add(s.cfg.Prefill)) {
		return false
	}
	g.first = time.Now()
	g.last = g.first
	return true
}

// sleepUntil waits until t, or until ctx ends, and reports whether ctx is
// still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// stream sends g as server-sent events and reports whether it sent all
// of it. It stops at the first failed write or when ctx ends.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, g *gen, record func(Event)) bool {
	d := s.d
	rc := http.NewResponseController(w)
	send := func(o obj) bool { return s.event(w, rc, encode(o)) == nil }
	head := func() bool {
		h := w.Header()
		d.base(h, http.StatusOK)
		d.headers(h, g, true, time.Since(g.received))
		w.WriteHeader(http.StatusOK)
		return rc.Flush() == nil
	}
	begun := false
	begin := func() bool { // late headers, then the opening events
		if begun {
			return true
		}
		begun = true
		if d.late() && !head() {
			return false
		}
		for _, o := range d.opening(g) {
			if !send(o) {
				return false
			}
		}
		return true
	}
	if !d.late() && !head() {
		return false
	}
	pending := 0 // tokens generated but not yet sent
	for i := range g.n {
		if !s.ready(ctx, g, i) {
			return false
		}
		pending++
		last := i == g.n-1
		if i < s.cfg.FirstEventTokens-1 && !last { // held for the first event
			if d.heldEvents() && (!begin() || !send(d.token(g, "", false))) {
				return false
			}
			continue
		}
		if !begin() || !send(d.token(g, g.text(i+1-pending, i+1), last)) {
			return false
		}
		record(Event{At: time.Now(), Tokens: pending})
		pending = 0
	}
	if g.n == 0 && !s.prefillOnly(ctx, g) {
		return false
	}
	if !begin() {
		return false
	}
	for _, o := range d.closing(g) {
		if !send(o) {
			return false
		}
	}
	if d.done(g) {
		return s.event(w, rc, []byte("[DONE]")) == nil
	}
	return true
}

// event writes one server-sent event, "data: <payload>\n\n" (or "data:"
// with no space for TGI, §3), and flushes it.
func (s *Server) event(w http.ResponseWriter, rc *http.ResponseController, payload []byte) error {
	b := make([]byte, 0, len(payload)+10)
	b = append(b, s.d.sse()...)
	b = append(b, payload...)
	b = append(b, "\n\n"...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}

// answer generates g in full, then writes it as one JSON body, and
// reports whether it did. The body is left for net/http to send when the
// handler returns (with a Content-Length if it is small), so a client
// that has read it to the end also sees it counted in Served.
func (s *Server) answer(ctx context.Context, w http.ResponseWriter, g *gen, record func(Event)) bool {
	for i := range g.n {
		if !s.ready(ctx, g, i) {
			return false
		}
	}
	if g.n == 0 && !s.prefillOnly(ctx, g) {
		return false
	}
	body := encode(s.d.answer(g))
	h := w.Header()
	s.d.base(h, http.StatusOK)
	s.d.headers(h, g, false, time.Since(g.received))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return false
	}
	if g.n > 0 {
		record(Event{At: time.Now(), Tokens: g.n})
	}
	return true
}

// Ids.

const (
	alnum  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	hexLow = "0123456789abcdef"
)

// randomString returns n characters drawn from alphabet.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// usage3 is the usage object with its three counts, in the order given by
// names (each kind orders them its own way).
func usage3(g *gen, names ...string) obj {
	vals := map[string]int{
		"prompt_tokens":     g.prompt,
		"completion_tokens": g.done,
		"total_tokens":      g.prompt + g.done,
	}
	u := make(obj, 0, len(names))
	for _, n := range names {
		u = append(u, kv{n, vals[n]})
	}
	return u
}
