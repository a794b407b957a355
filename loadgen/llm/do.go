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
	"strconv"
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

// maxStaleRetries bounds the retries of a request that met a kept-alive
// connection the server had just closed (each one uses up one such
// connection from the pool).
const maxStaleRetries = 16

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
	metrics *vllmMetrics
	finish  string
	model   string

	// The server's own timings from its response headers (TGI's x-*-time,
	// OpenAI's openai-processing-ms), and their source.
	hdrTimings map[string]float64
	hdrSource  string

	// Token counts of the text events: how they were counted (the
	// weakest source of any event), the server's running usage seen so
	// far, and whether every event so far carried one.
	tokenSrc     string
	usageSeen    int
	usageRunning bool

	lost time.Duration // spent in attempts on stale connections

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
	var resp *http.Response
	for {
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
		if a.res.Started.IsZero() {
			a.res.Started = a.pt.Started()
		}
		resp, err = a.c.http.Do(hreq)
		if err == nil {
			break
		}
		if a.res.Retries < maxStaleRetries && a.stale(err) {
			// The server closed this kept-alive connection as the request
			// went out: it was never served. Again, on another connection;
			// the time lost is the client's, before Sent.
			a.res.Retries++
			a.lost += time.Since(a.pt.Started())
			continue
		}
		a.closed = time.Now()
		a.failErr(err, a.pt.connected())
		return
	}
	a.res.Status = resp.StatusCode
	a.headerTimings(resp.Header)
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
	if ch.Metrics != nil {
		a.metrics = ch.Metrics
	}
	text, finish := ch.content(a.c.cfg.Protocol)
	if finish != "" {
		a.finish = finish
	}
	if text == "" {
		if ch.Usage != nil {
			a.usageSeen = ch.Usage.CompletionTokens
		}
		return true
	}
	// The tokens this event carried: its token ids, else the server's
	// running usage when every event carries one, else the tokenizer's
	// count (scaled to the server's total in end), else one.
	if a.chunks == 0 {
		a.usageRunning = true
	}
	var n int
	src := "events"
	switch {
	case len(ch.TokenIDs) > 0:
		n, src = len(ch.TokenIDs), "token_ids"
	case ch.Usage != nil && a.usageRunning && ch.Usage.CompletionTokens > a.usageSeen:
		n, src = ch.Usage.CompletionTokens-a.usageSeen, "usage"
	case a.c.cfg.Counter != nil:
		n, src = max(1, a.c.cfg.Counter.Count(text)), "tokenizer"
	default:
		n = 1
	}
	if ch.Usage == nil {
		a.usageRunning = false
	} else {
		a.usageSeen = ch.Usage.CompletionTokens
	}
	a.tokenSrc = weakerSource(a.tokenSrc, src)
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
		r.BlockedMS, r.ConnectingMS, r.TLSMS = runfmt.Ms(p.Blocked+a.lost), runfmt.Ms(p.Connecting), runfmt.Ms(p.TLS)
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
	} else if a.tokenSrc == "tokenizer" && a.usage != nil {
		// The client's tokenizer is GPT-2's, not the model's: keep its
		// proportions, at the server's total.
		scaleTo(a.tokens, a.usage.CompletionTokens)
	}
	if len(a.tokens) > 0 {
		r.ChunkTokenSource = a.tokenSrc
		r.FirstEventTokens = a.tokens[0]
		r.MultiTokenFirstEvent = a.tokens[0] > 1
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
		// TPOT: the time after the first event over the tokens after it
		// (a first event of several tokens spent their decode steps before
		// it, in TTFT).
		if after := r.OutputTokens - r.FirstEventTokens; r.Stream && after > 0 && a.chunks > 1 {
			v := runfmt.Ms(a.last.Sub(a.first)) / float64(after)
			r.TPOTMS = &v
		}
		span.AddEvent("first_token", trace.WithTimestamp(a.first))
		span.AddEvent("last_token", trace.WithTimestamp(a.last))
	}
	r.FinishReason = a.finish
	a.serverTimings(r)
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

// serverTimings fills r's server_* fields from what the server reported,
// with their source and the raw numbers.
func (a *attempt) serverTimings(r *runfmt.Request) {
	raw := map[string]float64{}
	keep := func(name string, v *float64) *float64 {
		if v != nil {
			raw[name] = *v
		}
		return v
	}
	sum := func(x, y *float64) *float64 {
		if x == nil || y == nil {
			return nil
		}
		v := *x + *y
		return &v
	}
	switch t, m := a.timings, a.metrics; {
	case t != nil && t.llamaCpp():
		// prompt_ms is the prompt's processing, which yields the first
		// token; llama.cpp reports no queue (FACTS.md §1c).
		r.ServerTimingSource = runfmt.ServerTimingLlamaCpp
		keep("cache_n", t.CacheN)
		keep("prompt_n", t.PromptN)
		keep("prompt_per_token_ms", t.PromptPerTokenMS)
		keep("prompt_per_second", t.PromptPerSecond)
		keep("predicted_n", t.PredictedN)
		keep("predicted_per_second", t.PredictedPerSecond)
		r.ServerTTFTMS = keep("prompt_ms", t.PromptMS)
		r.ServerTPOTMS = keep("predicted_per_token_ms", t.PredictedPerTokenMS)
		r.ServerTotalMS = sum(t.PromptMS, keep("predicted_ms", t.PredictedMS))
	case t != nil:
		r.ServerTimingSource = runfmt.ServerTimingRefserver
		r.ServerQueueMS = seconds(keep("queue_s", t.Queue), true)
		r.ServerTTFTMS = seconds(keep("ttft_s", t.TTFT), false)
		r.ServerTPOTMS = seconds(keep("tpot_s", t.TPOT), false)
		r.ServerTotalMS = seconds(keep("total_s", t.Total), true)
	case m != nil:
		// vLLM counts TTFT from the request's arrival, queue included.
		r.ServerTimingSource = runfmt.ServerTimingVLLM
		keep("tokens_per_second", m.TokensPerSecond)
		r.ServerQueueMS = keep("queue_time_ms", m.Queue)
		r.ServerTTFTMS = keep("time_to_first_token_ms", m.TTFT)
		r.ServerTPOTMS = keep("mean_itl_ms", m.MeanITL)
		r.ServerTotalMS = sum(m.TTFT, keep("generation_time_ms", m.Generation))
	case a.hdrSource != "":
		r.ServerTimingSource = a.hdrSource
		raw = a.hdrTimings
		get := func(k string) *float64 {
			if v, ok := raw[k]; ok {
				return &v
			}
			return nil
		}
		if a.hdrSource == runfmt.ServerTimingOpenAI {
			r.ServerTotalMS = get("openai-processing-ms")
		} else {
			r.ServerQueueMS = get("x-queue-time")
			r.ServerTPOTMS = get("x-time-per-token")
			r.ServerTotalMS = get("x-total-time")
		}
	}
	if len(raw) > 0 {
		r.ServerTimings = raw
	}
	if r.TTFTMS != nil && r.ServerTTFTMS != nil {
		v := *r.TTFTMS - *r.ServerTTFTMS
		r.TTFTOverServerMS = &v
	}
}

// headerTimings keeps the server's timings in the response headers: TGI's
// x-*-time (integer milliseconds, non-streamed answers only; FACTS.md §3c)
// and OpenAI's openai-processing-ms (§4c).
func (a *attempt) headerTimings(h http.Header) {
	num := func(k string) (float64, bool) {
		v, err := strconv.ParseFloat(strings.TrimSpace(h.Get(k)), 64)
		return v, err == nil && h.Get(k) != ""
	}
	if v, ok := num("openai-processing-ms"); ok {
		a.hdrSource, a.hdrTimings = runfmt.ServerTimingOpenAI, map[string]float64{"openai-processing-ms": v}
		return
	}
	tgi := map[string]float64{}
	for _, k := range []string{"x-total-time", "x-validation-time", "x-queue-time", "x-inference-time", "x-time-per-token", "x-prompt-tokens", "x-generated-tokens"} {
		if v, ok := num(k); ok {
			tgi[k] = v
		}
	}
	if len(tgi) > 0 {
		a.hdrSource, a.hdrTimings = runfmt.ServerTimingTGI, tgi
	}
}

// stale reports whether err is what a request meets on a kept-alive
// connection the server closed as the request went out: no byte of an
// answer came back, and the connection died (closed idle, EOF, reset,
// broken pipe). Such a request was never served, so it may be sent again.
func (a *attempt) stale(err error) bool {
	if a.parent.Err() != nil || a.ctx.Err() != nil || !a.pt.Reused() || !a.pt.FirstByte().IsZero() {
		return false
	}
	return strings.Contains(err.Error(), "server closed idle connection") ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) || errors.Is(err, syscall.EPIPE)
}

// weakerSource is the less exact of two token-count sources ("" is none).
func weakerSource(a, b string) string {
	rank := map[string]int{"": 0, "token_ids": 1, "usage": 2, "tokenizer": 3, "events": 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// scaleTo rescales counts, keeping their proportions, so that they sum to
// total, each at least 1 (largest remainders get the rounding). Counts
// that cannot reach total that way are left as they are.
func scaleTo(counts []int, total int) {
	sum := 0
	for _, c := range counts {
		sum += c
	}
	if sum == 0 || sum == total || total < len(counts) {
		return
	}
	type part struct {
		i    int
		frac float64
	}
	parts := make([]part, len(counts))
	got := 0
	for i, c := range counts {
		x := float64(c) * float64(total) / float64(sum)
		n := max(1, int(x))
		parts[i] = part{i, x - float64(int(x))}
		counts[i] = n
		got += n
	}
	slices.SortStableFunc(parts, func(p, q part) int {
		switch {
		case p.frac > q.frac:
			return -1
		case p.frac < q.frac:
			return 1
		}
		return 0
	})
	for k := 0; got < total; k = (k + 1) % len(parts) {
		counts[parts[k].i]++
		got++
	}
	for k := len(parts) - 1; got > total; k = (k - 1 + len(parts)) % len(parts) {
		if counts[parts[k].i] > 1 {
			counts[parts[k].i]--
			got--
		}
	}
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
