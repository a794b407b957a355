// Package attribution splits each request's latency into the parts of
// DESIGN.md's Attribution section (client queue, connect/send, network,
// server queue, tokenize, prefill, decode own and shared, detokenize,
// stream write, server other) and turns those splits into the analysis:
// aggregates by percentile band, a verdict naming the bottleneck,
// recommendations that each rest on a measured fact, a prefill-versus-prompt
// fit, the saturation knee of a load sweep, and a comparison of two runs.
//
// Everything here is a pure function of its arguments: no clock, no
// network, no package state. The functions are safe for concurrent use as
// long as their arguments are not modified meanwhile.
package attribution

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

// DefaultTolerance is how far (1 ms) a server span may stick out of its
// client span before Attribute takes it for clock skew.
const DefaultTolerance = time.Millisecond

// Sources of runfmt.Breakdown.Source, from the richest to the poorest.
const (
	SourceTrace  = runfmt.SourceTrace  // client record and server spans
	SourceServer = runfmt.SourceServer // client record and the server's timings from its stream
	SourceClient = runfmt.SourceClient // client record only: server time is not split
)

// sources lists the sources from the richest to the poorest.
var sources = []string{SourceTrace, SourceServer, SourceClient}

// Notes of Info.Notes. They are fixed sentences, with no per-request
// numbers, so a caller can count them into runfmt.Coverage.Notes.
const (
	NoteClientOnly     = "neither server spans nor server timings: the server's time and the network's are one part, unsplit"
	NoteServerTimings  = "no server spans: split by the timings the server sent in its last event (queue, time to first token, total); tokenize is in prefill, decode is not split"
	NoteTimingsClipped = "the server's timings exceed the client's request: scaled to it"
	NoteNoChildren     = "server span has neither child spans nor gen_ai.latency attributes: server time not split"
	NotePartial        = "server span lacks some of queue_wait, prefill, decode: their time is in server_other"
	NoteVLLM           = "vLLM-style trace (gen_ai.latency attributes, no child spans): decode not split"
	NoteDecodeUnsplit  = "decode not split into own and shared: the step cost by batch size is not identified"
	NoteDecodeByMean   = "no engine.step spans linked: decode split by its mean batch size, the time between steps included"
	NoteSummedClipped  = "summed decode_output and stream_write exceed the decode window: clipped to it"
	NoteSkewCorrected  = "server span did not nest in the client's times: server clock offset estimated (NTP-style) and corrected"
	NoteSkewImposed    = "server times shifted by the run's clock offset"
	NoteNoText         = "no text event: total ends at the stream's close"
	NoteStepsOverShare = "engine.step spans cover more than the decode window (clock rounding): scaled to it"
)

// ClientSpanName is the load generator's span of one request.
const ClientSpanName = "llm.request"

// ServerSpanNames are refserver's route spans (otelhttp), tried when no
// server span is a child of the client span.
var ServerSpanNames = []string{"POST /generate/stream", "POST /v1/completions", "POST /v1/chat/completions", "POST /generate"}

// Options are the run-wide settings of Attribute. The zero value means no
// SLOs, DefaultTolerance, a clock offset estimated per request where the
// spans do not nest, and no engine steps.
type Options struct {
	// SLO holds the objectives in milliseconds, keyed ttft, ttst, tpot or
	// e2e as in the script's options.slo (runfmt.LLMSummary.SLOs).
	SLO map[string]float64
	// Tolerance is how far the server span may stick out of [Sent, last
	// token] before it counts as a clock violation; 0 means
	// DefaultTolerance.
	Tolerance time.Duration
	// Skew, when not nil, is the server − client clock offset subtracted
	// from every server time, for every request: the run-wide offset from
	// Clock, say, on a second pass. Nil: Attribute estimates an offset for
	// each request whose server span does not nest, and corrects by it.
	Skew *time.Duration
	// Steps are engine.step spans (refserver's batched forward steps, each
	// in a trace of its own). Attribute uses those linked to a span of the
	// request's trace to split decode into own and shared time; the rest
	// are ignored, so passing a whole run's steps works, and
	// span.ByLinkedTrace(all)[traceID] is the fast way.
	Steps []*span.Span
	// StepCost is the run's identified decode step cost against batch
	// size (NewCost). With it, a sequence's own share of a step of batch
	// n is what a batch of one costs over what a batch of n costs; without
	// it decode is not split, and its steps' time is one part, decode.
	StepCost *Cost
}

// Info is what Attribute found out besides the breakdown: how it laid the
// server's spans against the client's times, and what it could not split.
type Info struct {
	ServerSpan string // the name of the server span used; "" when none
	// ClientOnly is set when neither a server span nor the server's
	// timings were found: the breakdown's Source is "client" and the time
	// after the request was written is one part, unsplit. Timings is set
	// when the server's timings split it instead (Source "server").
	ClientOnly bool
	Timings    bool
	// Partial is set when the server span lacks spans its conventions
	// promise (refserver: queue_wait, prefill, decode), or has neither
	// child spans nor latency attributes.
	Partial bool
	// VLLM is set when the server parts came from gen_ai.latency
	// attributes rather than child spans.
	VLLM bool
	// Checked is set when a server span was laid against the client's
	// times, Violation when it did not nest in [Sent, last token] by more
	// than the tolerance.
	Checked   bool
	Violation bool
	// EstimatedSkew is the NTP-style server − client offset,
	// ((server start − Sent) + (server last token − client last token)) / 2,
	// computed whenever Checked. Skew is the offset actually subtracted
	// from the server's times: Options.Skew, EstimatedSkew on a violation,
	// or 0.
	EstimatedSkew time.Duration
	Skew          time.Duration
	// Steps is the number of linked engine.step spans used for the decode
	// split.
	Steps int
	Notes []string
}

// interval is a stretch of time on one clock.
type interval struct{ from, to time.Time }

func (iv interval) shift(d time.Duration) interval { return interval{iv.from.Add(-d), iv.to.Add(-d)} }

// clip returns iv cut to [lo, hi]; it is empty (from == to) when they do
// not overlap.
func (iv interval) clip(lo, hi time.Time) interval {
	from, to := maxTime(iv.from, lo), minTime(iv.to, hi)
	if to.Before(from) {
		to = from
	}
	return interval{from, to}
}

func (iv interval) dur() time.Duration { return iv.to.Sub(iv.from) }

// step is an engine.step linked to the request.
type step struct {
	iv    interval
	batch float64
}

// server is the server's side of one request, on the server's clock until
// shifted.
type server struct {
	name                             string
	start, last                      time.Time // the server span's start; the server's last token
	tokenize, queue, prefill, decode *interval
	detok, write                     time.Duration // summed spans: durations only
	meanBatch                        float64       // decode's mean batch size; 0 when unknown
	steps                            []step
	stepCost                         *Cost // the run's identified step cost, if any
	vllm, partial                    bool
	notes                            []string
}

func (s *server) shift(d time.Duration) {
	s.start, s.last = s.start.Add(-d), s.last.Add(-d)
	for _, iv := range []*interval{s.tokenize, s.queue, s.prefill, s.decode} {
		if iv != nil {
			*iv = iv.shift(d)
		}
	}
	for i := range s.steps {
		s.steps[i].iv = s.steps[i].iv.shift(d)
	}
}

// Attribute splits one request's latency into runfmt.Parts, laying the
// server spans of t (nil: no trace) on the client's timeline.
//
// The total runs from Scheduled (Started for closed-loop executors) to the
// last text event (Sent + E2EMS; Sent + CloseMS when there was none).
// client_queue is Scheduled → Started, connect_send Started → Sent. With a
// server span S, network is (S.Start − Sent) + (client's last token −
// server's last token), the server's last token being decode's end (or
// model_generate's); tokenize, server_queue, prefill are their spans'
// durations and the decode span is split into detokenize and stream_write
// (summed spans, subtracted from it) and the rest into decode_own and
// decode_shared: Σ step duration / batch size over the linked engine
// steps, or rest / mean_batch_size. What S's window leaves uncovered is
// server_other. Everything is clipped to the client's [Sent, last token],
// so the parts are disjoint and only overlapping spans leave an
// unexplained remainder (negative). S's time after the last token (the
// final event) lies outside the total.
//
// The breakdown's Parts holds every name of runfmt.Parts, zero where the
// trace had nothing for it.
//
// A server span with no children but gen_ai.latency.* attributes (vLLM)
// gives server_queue, prefill and decode from time_in_queue,
// time_in_model_prefill and time_in_model_decode, decode all counted as
// decode_own. Without a server span the breakdown's Source is "client" and
// all of Sent → last token is server_other.
func Attribute(r *runfmt.Request, t *span.Trace, opts Options) (runfmt.Breakdown, Info) {
	var info Info
	b := runfmt.Breakdown{
		Seq: r.Seq, TraceID: r.TraceID, Scenario: r.Scenario, OK: r.OK,
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		Parts: make(map[string]float64, len(runfmt.Parts)),
	}
	for _, p := range runfmt.Parts {
		b.Parts[p] = 0
	}
	if r.E2EMS != nil {
		b.E2EMS = *r.E2EMS
	}
	if r.TTFTMS != nil {
		b.TTFTMS = *r.TTFTMS
	}
	b.SLOMissed = missedSLOs(r, opts.SLO)

	started := r.Started
	if started.IsZero() {
		started = r.Sent
	}
	begin := started
	if !r.Scheduled.IsZero() {
		begin = r.Scheduled
		b.Parts[runfmt.PartClientQueue] = ms(max(started.Sub(r.Scheduled), 0))
	}
	b.Parts[runfmt.PartConnectSend] = ms(max(r.Sent.Sub(started), 0))
	end := r.Sent.Add(fromMS(r.CloseMS))
	if r.E2EMS != nil {
		end = r.Sent.Add(fromMS(*r.E2EMS))
	} else {
		info.Notes = append(info.Notes, NoteNoText)
	}
	b.TotalMS = ms(end.Sub(begin))

	sv := findServer(r, t, opts.Steps)
	if sv != nil {
		sv.stepCost = opts.StepCost
	}
	if sv == nil {
		if fromTimings(&b, r, max(end.Sub(r.Sent), 0), &info) {
			finish(&b)
			return b, info
		}
		b.Source = SourceClient
		info.ClientOnly = true
		info.Notes = append(info.Notes, NoteClientOnly)
		b.Parts[runfmt.PartUnsplit] = ms(max(end.Sub(r.Sent), 0))
		finish(&b)
		return b, info
	}
	b.Source = SourceTrace
	info.ServerSpan, info.Partial, info.VLLM = sv.name, sv.partial, sv.vllm
	info.Notes = append(info.Notes, sv.notes...)

	// Clock: lay the server span against the client's times.
	tol := opts.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	info.Checked = true
	info.EstimatedSkew = (sv.start.Sub(r.Sent) + sv.last.Sub(end)) / 2
	info.Violation = sv.start.Before(r.Sent.Add(-tol)) || sv.last.After(end.Add(tol))
	switch {
	case opts.Skew != nil:
		info.Skew = *opts.Skew
		if info.Skew != 0 {
			info.Notes = append(info.Notes, NoteSkewImposed)
		}
	case info.Violation:
		info.Skew = info.EstimatedSkew
		info.Notes = append(info.Notes, NoteSkewCorrected)
	}
	sv.shift(info.Skew)

	// The server's window on the client's timeline.
	lo := minTime(maxTime(sv.start, r.Sent), end)
	hi := minTime(maxTime(sv.last, lo), end)
	b.Parts[runfmt.PartNetwork] = ms(lo.Sub(r.Sent) + end.Sub(hi))

	var covered []interval
	clip := func(iv *interval) interval {
		if iv == nil {
			return interval{lo, lo}
		}
		c := iv.clip(lo, hi)
		covered = append(covered, c)
		return c
	}
	b.Parts[runfmt.PartTokenize] = ms(clip(sv.tokenize).dur())
	b.Parts[runfmt.PartServerQueue] = ms(clip(sv.queue).dur())
	b.Parts[runfmt.PartPrefill] = ms(clip(sv.prefill).dur())
	dec := clip(sv.decode)
	b.Parts[runfmt.PartServerOther] = ms(hi.Sub(lo) - union(covered))

	b.MeanBatch = sv.meanBatch
	if sv.decode != nil {
		info.Steps = splitDecode(&b, sv, dec, &info)
	}
	finish(&b)
	return b, info
}

// fromTimings splits the request written → last token (window) with the
// server's own timings, when it sent them: the server's total is its
// received → finished, so the rest of the window is network (and the
// HTTP handling outside the server's clock); within it, the queue, then
// up to the first token (tokenize and prefill), then decode, whole. It
// reports whether the request had the timings.
func fromTimings(b *runfmt.Breakdown, r *runfmt.Request, window time.Duration, info *Info) bool {
	if r.ServerTotalMS == nil || r.ServerTTFTMS == nil || *r.ServerTotalMS <= 0 {
		return false
	}
	win := ms(window)
	total, ttft := *r.ServerTotalMS, min(*r.ServerTTFTMS, *r.ServerTotalMS)
	queue := 0.0
	if r.ServerQueueMS != nil {
		queue = min(max(*r.ServerQueueMS, 0), ttft)
	}
	scale := 1.0
	if total > win {
		scale = win / total
		info.Notes = append(info.Notes, NoteTimingsClipped)
	}
	b.Source = SourceServer
	info.Timings = true
	info.Notes = append(info.Notes, NoteServerTimings)
	b.Parts[runfmt.PartServerQueue] = queue * scale
	b.Parts[runfmt.PartPrefill] = (ttft - queue) * scale
	b.Parts[runfmt.PartDecode] = (total - ttft) * scale
	b.Parts[runfmt.PartNetwork] = win - total*scale
	return true
}

// splitDecode fills the decode parts from the decode window dec (clipped)
// and returns the number of engine steps it used.
//
// With engine steps linked to the request, a step of one sequence is all
// its own (decode_own); a bigger step is split into this request's own
// share and the other sequences' (decode_shared) by Options.StepCost, or,
// with no identified step cost, kept whole (decode). Detokenizing and
// stream writes happen between the steps (or beside them, on other
// goroutines), so they take their time from the gaps between steps, and
// what is left of the gaps is between_steps: the engine loop's own work,
// never the other sequences'.
//
// Without linked steps, the decode span's mean batch size splits what is
// left after detokenize and stream_write, gaps included (with a note),
// when it is 1 or the step cost is identified; otherwise it is decode,
// whole, with a note.
func splitDecode(b *runfmt.Breakdown, sv *server, dec interval, info *Info) int {
	win := ms(dec.dur())
	detok, write := ms(sv.detok), ms(sv.write)

	var own, shared, whole, batches float64
	n := 0
	for _, st := range sv.steps {
		c := st.iv.clip(dec.from, dec.to)
		if c.dur() <= 0 {
			continue
		}
		d := ms(c.dur())
		switch {
		case st.batch <= 1:
			own += d
		case sv.stepCost != nil:
			o := d * sv.stepCost.Own(st.batch)
			own += o
			shared += d - o
		default:
			whole += d
		}
		batches += st.batch
		n++
	}
	if n > 0 {
		if stepped := own + shared + whole; stepped > win { // steps overlapping each other: clock rounding
			f := win / stepped
			own, shared, whole = own*f, shared*f, whole*f
			info.Notes = append(info.Notes, NoteStepsOverShare)
		}
		gaps := max(win-own-shared-whole, 0)
		d := min(detok, gaps)
		w := min(write, gaps-d)
		b.MeanBatch = batches / float64(n)
		b.Parts[runfmt.PartDetokenize] = d
		b.Parts[runfmt.PartStreamWrite] = w
		b.Parts[runfmt.PartBetweenSteps] = gaps - d - w
		b.Parts[runfmt.PartDecodeOwn] = own
		b.Parts[runfmt.PartDecodeShared] = shared
		b.Parts[runfmt.PartDecode] = whole
		if whole > 0 {
			info.Notes = append(info.Notes, NoteDecodeUnsplit)
		}
		return n
	}

	if detok+write > win {
		f := win / (detok + write)
		detok *= f
		write = win - detok
		info.Notes = append(info.Notes, NoteSummedClipped)
	}
	rest := max(win-detok-write, 0)
	b.Parts[runfmt.PartDetokenize] = detok
	b.Parts[runfmt.PartStreamWrite] = write
	switch {
	case sv.vllm:
		b.Parts[runfmt.PartDecode] = rest
	case sv.meanBatch >= 1 && (sv.meanBatch <= 1 || sv.stepCost != nil):
		own = rest * sv.stepCost.Own(sv.meanBatch)
		b.Parts[runfmt.PartDecodeOwn] = own
		b.Parts[runfmt.PartDecodeShared] = rest - own
		info.Notes = append(info.Notes, NoteDecodeByMean)
	default:
		b.Parts[runfmt.PartDecode] = rest
		info.Notes = append(info.Notes, NoteDecodeUnsplit)
	}
	return n
}

// finish sets the breakdown's unexplained remainder and dominant part.
func finish(b *runfmt.Breakdown) {
	sum, best := 0.0, 0.0
	b.Dominant = ""
	for _, p := range runfmt.Parts {
		v := b.Parts[p]
		sum += v
		if v > best {
			best, b.Dominant = v, p
		}
	}
	b.UnexplainedMS = b.TotalMS - sum
}

// findServer finds the request's server span in t and reads its children
// (or its latency attributes), on the server's clock; nil when there is
// none.
func findServer(r *runfmt.Request, t *span.Trace, steps []*span.Span) *server {
	if t == nil {
		return nil
	}
	clientID := r.SpanID
	if clientID == "" {
		if c := t.Find(ClientSpanName, ""); c != nil {
			clientID = c.SpanID
		}
	}
	s := t.Server(clientID, ServerSpanNames)
	if s == nil {
		return nil
	}
	sv := &server{name: s.Name, start: s.Start, last: s.End()}
	kids := t.Descendants(s)
	get := func(name string) *span.Span {
		for _, k := range kids {
			if k.Name == name {
				return k
			}
		}
		return nil
	}
	ivOf := func(k *span.Span) *interval {
		if k == nil {
			return nil
		}
		return &interval{k.Start, k.End()}
	}
	tok, q, gen := get("tokenize_input"), get("queue_wait"), get("model_generate")
	pf, dc := get("prefill"), get("decode")
	dt, sw := get("decode_output"), get("stream_write")

	if tok == nil && q == nil && gen == nil && pf == nil && dc == nil && dt == nil && sw == nil {
		if !fromLatencyAttrs(sv, s) {
			sv.partial = true
			sv.notes = append(sv.notes, NoteNoChildren)
		}
		return sv
	}
	sv.tokenize, sv.queue, sv.prefill, sv.decode = ivOf(tok), ivOf(q), ivOf(pf), ivOf(dc)
	switch {
	case dc != nil:
		sv.last = dc.End()
	case gen != nil:
		sv.last = gen.End()
	default:
		if e2e, ok := s.Float("gen_ai.latency.e2e"); ok {
			sv.last = s.Start.Add(seconds(e2e))
		}
	}
	if q == nil || pf == nil || dc == nil {
		sv.partial = true
		sv.notes = append(sv.notes, NotePartial)
	}
	if dt != nil {
		sv.detok = dt.Duration
	}
	if sw != nil {
		sv.write = sw.Duration
	}
	if dc != nil {
		if mb, ok := dc.Float("mean_batch_size"); ok {
			sv.meanBatch = mb
		}
	}
	sv.steps = linkedSteps(t, s, steps)
	return sv
}

// fromLatencyAttrs lays the vLLM-style gen_ai.latency.* attributes of s on
// its timeline: decode ends at the last token, prefill ends at the first
// token, the queue ends where prefill starts. It reports whether s had
// any.
func fromLatencyAttrs(sv *server, s *span.Span) bool {
	q, hasQ := s.Float("gen_ai.latency.time_in_queue")
	p, hasP := s.Float("gen_ai.latency.time_in_model_prefill")
	d, hasD := s.Float("gen_ai.latency.time_in_model_decode")
	ttft, hasTTFT := s.Float("gen_ai.latency.time_to_first_token")
	e2e, hasE2E := s.Float("gen_ai.latency.e2e")
	if !hasQ && !hasP && !hasD {
		return false
	}
	sv.vllm = true
	sv.notes = append(sv.notes, NoteVLLM)
	switch {
	case hasTTFT && hasD:
		sv.last = s.Start.Add(seconds(ttft + d))
	case hasE2E:
		sv.last = s.Start.Add(seconds(e2e))
	}
	first := sv.last.Add(-seconds(d))
	if hasTTFT {
		first = s.Start.Add(seconds(ttft))
	}
	if hasD {
		sv.decode = &interval{first, first.Add(seconds(d))}
	}
	if hasP {
		sv.prefill = &interval{first.Add(-seconds(p)), first}
	}
	if hasQ {
		qEnd := first.Add(-seconds(p))
		sv.queue = &interval{qEnd.Add(-seconds(q)), qEnd}
	}
	return true
}

// linkedSteps returns the engine steps that link to a span of t, as
// intervals with their batch sizes.
func linkedSteps(t *span.Trace, s *span.Span, steps []*span.Span) []step {
	var out []step
	for _, st := range t.Linking(s, steps) {
		batch, ok := st.Float("batch.size")
		if !ok || batch < 1 {
			batch = max(float64(len(st.Links)), 1)
		}
		out = append(out, step{interval{st.Start, st.End()}, batch})
	}
	return out
}

// missedSLOs returns the objectives r missed (runfmt.Request.MissedSLOs),
// sorted.
func missedSLOs(r *runfmt.Request, slo map[string]float64) []string {
	out := r.MissedSLOs(slo)
	slices.Sort(out)
	return out
}

// union returns the length of the union of the intervals.
func union(ivs []interval) time.Duration {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b interval) int { return a.from.Compare(b.from) })
	var total time.Duration
	var cur interval
	open := false
	for _, iv := range ivs {
		if iv.dur() <= 0 {
			continue
		}
		switch {
		case !open:
			cur, open = iv, true
		case iv.from.After(cur.to):
			total += cur.dur()
			cur = iv
		case iv.to.After(cur.to):
			cur.to = iv.to
		}
	}
	if open {
		total += cur.dur()
	}
	return total
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMS(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }

func seconds(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Second))) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// byPartOrder orders part names as runfmt.Parts does; unknown names last.
func byPartOrder(a, b string) int {
	return cmp.Compare(partIndex(a), partIndex(b))
}

func partIndex(p string) int {
	if i := slices.Index(runfmt.Parts, p); i >= 0 {
		return i
	}
	return len(runfmt.Parts)
}
