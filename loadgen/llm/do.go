package llm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/loadgen/rxstamp"
	"github.com/llmbench/llmbench/loadgen/sse"
	"github.com/llmbench/llmbench/runfmt"
)

// Size limits on what a server sends, so that a huge or garbage answer
// cannot exhaust memory: a whole response body, and one SSE line or event.
const (
	maxBodyBytes  = 16 << 20
	maxEventBytes = sse.DefaultMaxSize
)

// drainGrace is how long Do waits, after "data: [DONE]", for the server to
// end the body, so that the connection can be reused.
const drainGrace = time.Second

var (
	errTimeout      = errors.New("request timeout")
	errBodyTooLarge = fmt.Errorf("response body over %d bytes", maxBodyBytes)
)

// Do sends req and reads the answer, measuring it. It returns when the
// answer is complete, failed, or ctx ends; a failure is reported in the
// Result (OK false, ErrorClass, Error), never as a Go error, and what was
// measured before it is kept.
func (c *Client) Do(ctx context.Context, req Request) *Result {
	a := &attempt{c: c, req: req, parent: ctx, res: &Result{Request: runfmt.Request{
		Protocol:  string(c.cfg.Protocol),
		Model:     c.cfg.Model,
		URL:       c.url,
		Stream:    c.cfg.Stream,
		Scheduled: req.Scheduled,
	}}}
	var cancel context.CancelFunc
	a.ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, errTimeout)
	defer cancel()
	a.cancel = cancel

	attrs := []attribute.KeyValue{attribute.String("llm.protocol", string(c.cfg.Protocol)), attribute.Bool("llm.stream", c.cfg.Stream)}
	if c.cfg.Model != "" {
		attrs = append(attrs, attribute.String("gen_ai.request.model", c.cfg.Model))
	}
	if req.MaxTokens > 0 {
		attrs = append(attrs, attribute.Int("gen_ai.request.max_tokens", req.MaxTokens))
	}
	var span trace.Span
	a.ctx, span = c.tracer.Start(a.ctx, "llm.request", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	sc := span.SpanContext()
	if !sc.IsValid() {
		sc = randomSpanContext()
	}
	if sc.IsSampled() {
		// An unsampled request leaves no trace anywhere (the server follows
		// the sampled flag): recording its IDs would have the analyzer wait
		// for a trace that never comes.
		a.res.TraceID, a.res.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}

	a.run(sc)
	a.end(span)
	return a.res
}

// attempt is the state of one Do call. It is used by one goroutine.
type attempt struct {
	c      *Client
	req    Request
	parent context.Context // the caller's
	ctx    context.Context // parent with the timeout and the span
	cancel context.CancelFunc
	res    *Result
	pt     *PhaseTimer
	closed time.Time

	// text-carrying events
	chunks        int
	first, second time.Time
	last          time.Time
	gaps          []float64
	tokens        []int
	text          strings.Builder

	usage   *usage
	timings *timings
	finish  string
	model   string

	dec chunkDecoder // the stream's events
	ch  chunk        // the event being read
}

// run sends the request and reads the answer into a.
func (a *attempt) run(sc trace.SpanContext) {
	body, err := a.c.body(a.req)
	if err != nil {
		a.fail(runfmt.ErrorProtocol, fmt.Sprintf("encode request: %v", err))
		return
	}
	hreq, err := http.NewRequestWithContext(a.ctx, http.MethodPost, a.c.url, bytes.NewReader(body))
	if err != nil {
		a.fail(runfmt.ErrorProtocol, fmt.Sprintf("make request: %v", err))
		return
	}
	h := hreq.Header
	h.Set("Content-Type", "application/json")
	if a.c.cfg.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	h.Set("User-Agent", "llmbench")
	for k, v := range a.c.cfg.Headers {
		h.Set(k, v)
	}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(a.ctx, sc), propagation.HeaderCarrier(h))

	hreq, a.pt = TraceRequest(hreq)
	a.res.Started = a.pt.Started()
	resp, err := a.c.http.Do(hreq)
	if err != nil {
		a.closed = time.Now()
		a.failErr(err, a.pt.connected())
		return
	}
	a.res.Status = resp.StatusCode
	b := &meteredBody{r: resp.Body}
	if st, ok := a.pt.Conn().(rxstamp.Stamper); ok {
		// The latest read on the connection is the response head's.
		b.stamp = st
		if at, ok := st.Arrived(); ok {
			a.pt.FirstByteAt(at)
		}
	}
	defer func() {
		resp.Body.Close()
		a.closed = time.Now()
		a.pt.DoneAt(a.closed)
	}()

	switch ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		msg, _ := io.ReadAll(io.LimitReader(b, 64<<10))
		a.fail(runfmt.ErrorHTTP, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bodyMessage(msg)))
	case a.c.cfg.Stream && ct == "application/json":
		// An answer that is not a stream: most often an error in a 200.
		msg, _ := io.ReadAll(io.LimitReader(b, 64<<10))
		a.fail(runfmt.ErrorProtocol, "want an event stream, got application/json: "+bodyMessage(msg))
	case a.c.cfg.Stream:
		if bc, ok := a.pt.Conn().(rxstamp.Batcher); ok && slices.Contains(resp.TransferEncoding, "chunked") {
			// Nothing here needs an event before the body's end: the
			// events keep their arrival stamps however late they are read.
			bc.Batch(&chunkedEnd{})
			defer bc.Batch(nil)
		}
		a.readStream(b)
	default:
		a.readWhole(b)
	}
}

// readStream reads an SSE answer to its end marker.
func (a *attempt) readStream(b *meteredBody) {
	r := sse.NewReaderSize(b, maxEventBytes)
	for {
		ev, err := r.Next()
		if err == io.EOF {
			a.fail(runfmt.ErrorTruncated, "stream ended without data: [DONE]")
			return
		}
		if err != nil {
			a.failRead(err)
			return
		}
		if ev.Data == "[DONE]" {
			a.drain(b)
			return
		}
		if ev.Event == "error" {
			a.fail(runfmt.ErrorStream, "server error event: "+clip(ev.Data, maxErrorBytes))
			return
		}
		ch := &a.ch
		if !a.dec.decode(ev.Data, ch) {
			*ch = chunk{}
			if err := json.Unmarshal([]byte(ev.Data), ch); err != nil {
				a.fail(runfmt.ErrorProtocol, fmt.Sprintf("parse event: %v: %s", err, clip(ev.Data, 200)))
				return
			}
		}
		if !a.chunk(ch, b.last) {
			return
		}
	}
}

// drain reads what follows the end marker (normally just the body's end),
// briefly, so that the connection can be reused.
func (a *attempt) drain(b *meteredBody) {
	t := time.AfterFunc(drainGrace, a.cancel)
	defer t.Stop()
	io.Copy(io.Discard, io.LimitReader(b, 64<<10))
}

// readWhole reads a non-streamed answer.
func (a *attempt) readWhole(b *meteredBody) {
	body, err := io.ReadAll(b)
	if err != nil {
		a.failRead(err)
		return
	}
	var ch chunk
	if err := json.Unmarshal(body, &ch); err != nil {
		a.fail(runfmt.ErrorProtocol, fmt.Sprintf("parse answer: %v: %s", err, clip(string(body), 200)))
		return
	}
	a.chunk(&ch, b.last)
}

// chunk takes one parsed event (or whole answer) that arrived at `at`. It
// returns false when the event ends the request (an error event).
func (a *attempt) chunk(ch *chunk, at time.Time) bool {
	if msg := errorMessage(ch.Error); msg != "" {
		a.fail(runfmt.ErrorStream, msg)
		return false
	}
	if ch.Model != "" && a.model == "" {
		a.model = ch.Model
	}
	if ch.Usage != nil {
		a.usage = ch.Usage
	}
	if ch.Timings != nil {
		a.timings = ch.Timings
	}
	text, finish := ch.content(a.c.cfg.Protocol)
	if finish != "" {
		a.finish = finish
	}
	if text == "" {
		return true
	}
	n := len(ch.TokenIDs)
	if n == 0 {
		n = 1
		if a.c.cfg.Counter != nil {
			n = max(1, a.c.cfg.Counter.Count(text))
		}
	}
	switch a.chunks {
	case 0:
		a.first = at
	case 1:
		a.second = at
	}
	if a.chunks > 0 {
		a.gaps = append(a.gaps, runfmt.Ms(at.Sub(a.last)))
	}
	a.last = at
	a.chunks++
	a.tokens = append(a.tokens, n)
	a.text.WriteString(text)
	return true
}

// fail records the request's error; the first one recorded wins.
func (a *attempt) fail(class, msg string) {
	if a.res.ErrorClass == "" {
		a.res.ErrorClass, a.res.Error = class, msg
	}
}

// failErr records a transport error from sending the request.
func (a *attempt) failErr(err error, connected bool) {
	var ne net.Error
	switch {
	case a.parent.Err() != nil:
		a.fail(runfmt.ErrorCanceled, err.Error())
	case errors.Is(context.Cause(a.ctx), errTimeout):
		a.fail(runfmt.ErrorTimeout, fmt.Sprintf("no answer within %v", a.c.timeout))
	case !connected:
		a.fail(runfmt.ErrorConnect, err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		a.fail(runfmt.ErrorTimeout, err.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isReset(err):
		a.fail(runfmt.ErrorTruncated, "connection closed before the answer: "+err.Error())
	default:
		a.fail(runfmt.ErrorProtocol, err.Error())
	}
}

// failRead records an error reading the answer's body.
func (a *attempt) failRead(err error) {
	var ne net.Error
	switch {
	case a.parent.Err() != nil:
		a.fail(runfmt.ErrorCanceled, err.Error())
	case errors.Is(context.Cause(a.ctx), errTimeout):
		a.fail(runfmt.ErrorTimeout, fmt.Sprintf("answer not complete within %v", a.c.timeout))
	case errors.Is(err, sse.ErrTooLong), errors.Is(err, errBodyTooLarge):
		a.fail(runfmt.ErrorProtocol, err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		a.fail(runfmt.ErrorTimeout, err.Error())
	default:
		a.fail(runfmt.ErrorTruncated, "answer cut short: "+err.Error())
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// end fills the Result from what was measured and ends the span.
func (a *attempt) end(span trace.Span) {
	r := &a.res.Request
	a.res.Text = a.text.String()
	if r.Model == "" {
		r.Model = a.model
	}
	var sent, firstByte time.Time
	if a.pt != nil {
		p := a.pt.Phases()
		r.BlockedMS, r.ConnectingMS, r.TLSMS = runfmt.Ms(p.Blocked), runfmt.Ms(p.Connecting), runfmt.Ms(p.TLS)
		r.SendingMS, r.WaitingMS, r.ReceivingMS = runfmt.Ms(p.Sending), runfmt.Ms(p.Waiting), runfmt.Ms(p.Receiving)
		sent, firstByte = a.pt.Sent(), a.pt.FirstByte()
		if sent.IsZero() && r.Status != 0 {
			// An answer came but WroteRequest was not reported (a
			// RoundTripper other than net/http's): count from the start
			// rather than report nothing.
			sent = r.Started
		}
	}
	r.Sent = sent
	if !sent.IsZero() {
		if !r.Scheduled.IsZero() {
			r.ClientQueueMS = runfmt.MsPtr(sent.Sub(r.Scheduled))
		}
		if !firstByte.IsZero() {
			r.FirstByteMS = runfmt.MsPtr(firstByte.Sub(sent))
			span.AddEvent("first_byte", trace.WithTimestamp(firstByte))
		}
		if !a.closed.IsZero() {
			r.CloseMS = runfmt.Ms(a.closed.Sub(sent))
		}
	}

	// Tokens.
	chunkSum := 0
	for _, n := range a.tokens {
		chunkSum += n
	}
	counter := a.c.cfg.Counter
	r.ClientOutputTokens = chunkSum
	if counter != nil {
		r.ClientOutputTokens = counter.Count(a.res.Text)
	}
	switch {
	case a.usage != nil:
		r.TokenSource = "usage"
		r.InputTokens, r.OutputTokens = a.usage.PromptTokens, a.usage.CompletionTokens
	case counter != nil:
		r.TokenSource = "tokenizer"
		r.OutputTokens = r.ClientOutputTokens
		r.InputTokens = a.countPrompt()
	default:
		r.TokenSource = "chunks"
		r.OutputTokens = chunkSum
	}
	if !r.Stream && len(a.tokens) == 1 {
		a.tokens[0] = r.OutputTokens // the whole answer is one event
	}

	// Latencies.
	r.Chunks = a.chunks
	r.ChunkTokens = a.tokens
	r.GapsMS = a.gaps
	if a.chunks > 0 && !sent.IsZero() {
		r.TTFTMS = runfmt.MsPtr(a.first.Sub(sent))
		r.E2EMS = runfmt.MsPtr(a.last.Sub(sent))
		if a.chunks > 1 {
			r.TTSTMS = runfmt.MsPtr(a.second.Sub(a.first))
		}
		if r.Stream && r.OutputTokens > 1 {
			v := runfmt.Ms(a.last.Sub(a.first)) / float64(r.OutputTokens-1)
			r.TPOTMS = &v
		}
		span.AddEvent("first_token", trace.WithTimestamp(a.first))
		span.AddEvent("last_token", trace.WithTimestamp(a.last))
	}
	r.FinishReason = a.finish
	if t := a.timings; t != nil {
		r.ServerQueueMS = seconds(t.Queue, true)
		r.ServerTTFTMS = seconds(t.TTFT, false)
		r.ServerTPOTMS = seconds(t.TPOT, false)
		r.ServerTotalMS = seconds(t.Total, true)
	}
	r.OK = r.ErrorClass == ""

	attrs := []attribute.KeyValue{
		attribute.Int("gen_ai.usage.input_tokens", r.InputTokens),
		attribute.Int("gen_ai.usage.output_tokens", r.OutputTokens),
	}
	if r.Status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", r.Status))
	}
	if a.model != "" {
		attrs = append(attrs, attribute.String("gen_ai.response.model", a.model))
	}
	if r.FinishReason != "" {
		attrs = append(attrs, attribute.StringSlice("gen_ai.response.finish_reasons", []string{r.FinishReason}))
	}
	if !r.OK {
		attrs = append(attrs, attribute.String("error.type", r.ErrorClass))
		span.SetStatus(codes.Error, r.Error)
	}
	span.SetAttributes(attrs...)
	end := a.closed
	if end.IsZero() {
		end = time.Now()
	}
	span.End(trace.WithTimestamp(end))
}

// countPrompt is the Counter's count of the prompt: the prompt text, or
// the chat messages' contents (the server's chat template adds tokens this
// does not see).
func (a *attempt) countPrompt() int {
	n := a.c.cfg.Counter.Count(a.req.Prompt)
	if a.c.cfg.Protocol == OpenAIChat && len(a.req.Messages) > 0 {
		n = 0
		for _, m := range a.req.Messages {
			n += a.c.cfg.Counter.Count(m.Content)
		}
	}
	return n
}

// seconds converts a server timing in seconds to milliseconds. A zero
// timing means "did not happen" unless zeroOK.
func seconds(s *float64, zeroOK bool) *float64 {
	if s == nil || (*s == 0 && !zeroOK) {
		return nil
	}
	v := *s * 1000
	return &v
}

// meteredBody is a response body that notes when the data of each read
// arrived and refuses to read past maxBodyBytes. The arrival is the
// kernel's receive stamp of the connection's latest read when it has one
// (see rxstamp), else the time the read returned.
type meteredBody struct {
	r     io.Reader
	n     int64
	last  time.Time       // when the data of the latest read that returned data arrived
	stamp rxstamp.Stamper // the connection's stamps; nil without
}

func (b *meteredBody) Read(p []byte) (int, error) {
	if b.n >= maxBodyBytes {
		return 0, errBodyTooLarge
	}
	if rest := maxBodyBytes - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.last = time.Now()
		if b.stamp != nil {
			if at, ok := b.stamp.Arrived(); ok && at.Before(b.last) {
				b.last = at
			}
		}
		b.n += int64(n)
	}
	return n, err
}

// randomSpanContext is a sampled span context with random ids, for when
// the tracer records nothing: the server's spans still get a trace id that
// requests.jsonl records.
func randomSpanContext() trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	for !tid.IsValid() {
		binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rand.Uint64())
	}
	for !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}
