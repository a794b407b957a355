package attribution

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

var t0 = time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC)

func dur(msv float64) time.Duration { return time.Duration(math.Round(msv * 1e6)) }

func ptr(v float64) *float64 { return &v }

// shape is a refserver-shaped request. Each field is the length (ms) of one
// stretch of its timeline, laid end to end, so the right breakdown is known
// by construction.
type shape struct {
	seq                    int64
	clientQueue, connect   float64 // Scheduled → Started → Sent
	up                     float64 // Sent → server span start
	pre                    float64 // server span start → tokenize_input (server_other)
	tokenize               float64
	gap                    float64 // tokenize_input → queue_wait (server_other)
	queue, prefill, decode float64
	detok, write           float64 // summed spans
	batch                  float64 // decode's mean_batch_size; 0: no attribute
	down                   float64 // server's last token → client's last token
	done                   float64 // server's last token → server span end ([DONE])
	skew                   time.Duration
	noDecode               bool // leave the decode span out (a partial trace)
	input                  int
}

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientID = "00f067aa0ba902b7"
	serverID = "00f067aa0ba902b8"
	genID    = "00f067aa0ba902b9"
)

// build returns the request's record and its trace, the server's spans
// shifted by skew.
func (s shape) build() (*runfmt.Request, *span.Trace) {
	r := &runfmt.Request{Seq: s.seq, Scenario: "chat", OK: true, TraceID: traceID, SpanID: clientID, Stream: true,
		InputTokens: s.input, OutputTokens: 32}
	started := t0
	if s.clientQueue > 0 {
		r.Scheduled = t0
		started = t0.Add(dur(s.clientQueue))
	}
	r.Started = started
	r.Sent = started.Add(dur(s.connect))

	// Server times on the client's clock; skewed when emitted.
	sStart := r.Sent.Add(dur(s.up))
	tokStart := sStart.Add(dur(s.pre))
	qStart := tokStart.Add(dur(s.tokenize + s.gap))
	pfStart := qStart.Add(dur(s.queue))
	first := pfStart.Add(dur(s.prefill))
	last := first.Add(dur(s.decode))
	end := last.Add(dur(s.down))
	r.E2EMS = ptr(ms(end.Sub(r.Sent)))
	r.TTFTMS = ptr(ms(first.Add(dur(s.down)).Sub(r.Sent)))
	r.CloseMS = *r.E2EMS + s.done

	sk := func(t time.Time) time.Time { return t.Add(s.skew) }
	mk := func(id, parent, name string, from, to time.Time, attrs map[string]any) *span.Span {
		return &span.Span{TraceID: traceID, SpanID: id, ParentID: parent, Service: "refserver", Name: name, Kind: "internal",
			Start: sk(from), Duration: to.Sub(from), Attrs: attrs}
	}
	client := &span.Span{TraceID: traceID, SpanID: clientID, Service: "llmbench", Name: ClientSpanName, Kind: "client",
		Start: started, Duration: end.Sub(started) + dur(s.done),
		Events: []span.Event{{Name: "first_token", Time: r.Sent.Add(dur(*r.TTFTMS))}, {Name: "last_token", Time: end}}}
	server := mk(serverID, clientID, "POST /generate/stream", sStart, last.Add(dur(s.done)), map[string]any{
		"gen_ai.latency.time_in_queue":         s.queue / 1000,
		"gen_ai.latency.time_in_model_prefill": s.prefill / 1000,
		"gen_ai.latency.time_in_model_decode":  s.decode / 1000,
		"gen_ai.latency.time_to_first_token":   first.Sub(sStart).Seconds(),
		"gen_ai.latency.e2e":                   last.Sub(sStart).Seconds(),
		"gen_ai.usage.input_tokens":            int64(s.input),
		"gen_ai.request.model":                 "gpt2",
		"gen_ai.response.finish_reasons":       []string{"length"},
	})
	server.Kind = "server"
	decodeAttrs := map[string]any{"steps": int64(31)}
	if s.batch > 0 {
		decodeAttrs["mean_batch_size"] = s.batch
	}
	spans := []*span.Span{client, server,
		mk("00000000000000a1", serverID, "tokenize_input", tokStart, tokStart.Add(dur(s.tokenize)), nil),
		mk("00000000000000a2", serverID, "queue_wait", qStart, pfStart, nil),
		mk(genID, serverID, "model_generate", pfStart, last, nil),
		mk("00000000000000a4", genID, "prefill", pfStart, first, nil),
		mk("00000000000000a6", serverID, "decode_output", first, first.Add(dur(s.detok)), map[string]any{"summed": true, "count": int64(32)}),
		mk("00000000000000a7", serverID, "stream_write", first, first.Add(dur(s.write)), map[string]any{"summed": true, "count": int64(32)}),
	}
	if !s.noDecode {
		spans = append(spans, mk("00000000000000a5", genID, "decode", first, last, decodeAttrs))
	}
	return r, &span.Trace{ID: traceID, Spans: spans}
}

// want is the breakdown shape's construction implies with no step cost:
// a batch of one is all the request's own, a bigger (or unknown) batch is
// decode, whole.
func (s shape) want() map[string]float64 { return s.wantWith(nil) }

// wantWith is want with the step cost c splitting a batched decode.
func (s shape) wantWith(c *Cost) map[string]float64 {
	rest := s.decode - s.detok - s.write
	m := map[string]float64{
		runfmt.PartClientQueue: s.clientQueue, runfmt.PartConnectSend: s.connect,
		runfmt.PartNetwork: s.up + s.down, runfmt.PartServerOther: s.pre + s.gap,
		runfmt.PartTokenize: s.tokenize, runfmt.PartServerQueue: s.queue, runfmt.PartPrefill: s.prefill,
		runfmt.PartDetokenize: s.detok, runfmt.PartStreamWrite: s.write,
	}
	switch {
	case s.batch == 1 || s.batch > 1 && c != nil:
		own := rest * c.Own(s.batch)
		m[runfmt.PartDecodeOwn], m[runfmt.PartDecodeShared] = own, rest-own
	default:
		m[runfmt.PartDecode] = rest
	}
	return m
}

// calibrated is a memory-bound decode's step cost: a batch of one costs
// 20 ms, of four 23 ms.
var calibrated = NewCost(&runfmt.StepCost{Identified: true, Points: []runfmt.StepCostPoint{
	{Batch: 1, MS: 20}, {Batch: 2, MS: 21}, {Batch: 4, MS: 23}, {Batch: 8, MS: 27}}})

// base is a small refserver request: mostly decode, single sequence.
var base = shape{seq: 1, connect: 0.3, up: 0.2, pre: 0.1, tokenize: 0.4, gap: 0.1, queue: 0.2, prefill: 120,
	decode: 400, detok: 2, write: 3, batch: 1, down: 0.3, done: 0.5, input: 64}

func with(s shape, f func(*shape)) shape { f(&s); return s }

// checkSum asserts the contract every breakdown keeps: the parts and the
// unexplained remainder add up to the total.
func checkSum(t *testing.T, b runfmt.Breakdown) {
	t.Helper()
	sum := b.UnexplainedMS
	for _, p := range runfmt.Parts {
		sum += b.Parts[p]
	}
	if math.Abs(sum-b.TotalMS) > 1e-6 {
		t.Errorf("parts + unexplained = %.9f, want total %.9f", sum, b.TotalMS)
	}
	if len(b.Parts) != len(runfmt.Parts) {
		t.Errorf("got %d parts, want %d", len(b.Parts), len(runfmt.Parts))
	}
}

func checkParts(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for _, p := range runfmt.Parts {
		if math.Abs(got[p]-want[p]) > 1e-6 {
			t.Errorf("%s = %.6f ms, want %.6f", p, got[p], want[p])
		}
	}
}

func TestAttributeRefserver(t *testing.T) {
	byMean := []string{NoteDecodeByMean}
	tests := []struct {
		name         string
		shape        shape
		opts         Options
		want         map[string]float64 // nil: shape.want()
		dominant     string
		skewMS       float64 // Info.Skew
		violation    bool
		partial      bool
		notes        []string
		maxUnexplPct float64 // 0: 1 %
	}{
		{name: "compute-bound single request", shape: base, dominant: runfmt.PartDecodeOwn, notes: byMean},
		{name: "batched decode, no step cost", shape: with(base, func(s *shape) { s.batch = 4 }), dominant: runfmt.PartDecode,
			notes: []string{NoteDecodeUnsplit}},
		{name: "batched decode, calibrated step cost", shape: with(base, func(s *shape) { s.batch = 4 }),
			opts: Options{StepCost: calibrated}, want: with(base, func(s *shape) { s.batch = 4 }).wantWith(calibrated),
			dominant: runfmt.PartDecodeOwn, notes: byMean},
		{name: "queueing", shape: with(base, func(s *shape) { s.queue = 800 }), dominant: runfmt.PartServerQueue, notes: byMean},
		{name: "slow prefill", shape: with(base, func(s *shape) { s.prefill = 900; s.input = 1000 }), dominant: runfmt.PartPrefill, notes: byMean},
		{name: "slow network", shape: with(base, func(s *shape) { s.up, s.down, s.prefill, s.decode = 150, 120, 50, 100 }),
			dominant: runfmt.PartNetwork, notes: byMean},
		{name: "late arrival-rate start", shape: with(base, func(s *shape) { s.clientQueue = 700 }), dominant: runfmt.PartClientQueue, notes: byMean},
		{name: "no batch size", shape: with(base, func(s *shape) { s.batch = 0 }), dominant: runfmt.PartDecode,
			notes: []string{NoteDecodeUnsplit}},
		{name: "clock skew +250 ms", shape: with(base, func(s *shape) { s.up, s.down, s.skew = 2, 2, 250*time.Millisecond }),
			dominant: runfmt.PartDecodeOwn, skewMS: 250, violation: true, notes: []string{NoteSkewCorrected, NoteDecodeByMean}},
		// With asymmetric one-way delays the estimate is off by half the
		// asymmetry, which moves time between the two halves of network:
		// the parts are still right.
		{name: "clock skew −250 ms, asymmetric network", shape: with(base, func(s *shape) { s.up, s.down, s.skew = 3, 1, -250*time.Millisecond }),
			dominant: runfmt.PartDecodeOwn, skewMS: -249, violation: true, notes: []string{NoteSkewCorrected, NoteDecodeByMean}},
		{name: "clock skew imposed by the caller", shape: with(base, func(s *shape) { s.up, s.down, s.skew = 3, 1, 250*time.Millisecond }),
			opts: Options{Skew: new(250 * time.Millisecond)}, dominant: runfmt.PartDecodeOwn, skewMS: 250, violation: true,
			notes: []string{NoteSkewImposed, NoteDecodeByMean}},
		// −1.5 ms of skew with 1 ms up puts the server span 0.5 ms before
		// Sent: within the tolerance, so not corrected. The server's window
		// is clipped at Sent, which cuts off tokenize_input (now before
		// Sent) and leaves 0.1 ms of server_other; the 1.5 ms land in
		// network.
		{name: "skew within tolerance", shape: with(base, func(s *shape) { s.up, s.down, s.skew = 1, 3, -1500*time.Microsecond }),
			want:     with(base, func(s *shape) { s.up, s.down, s.pre, s.gap, s.tokenize = 0, 4.5, 0.1, 0, 0 }).want(),
			dominant: runfmt.PartDecodeOwn, notes: byMean},
		{name: "partial trace: no decode span", shape: with(base, func(s *shape) { s.noDecode = true }),
			want:     with(base, func(s *shape) { s.pre += s.decode; s.decode, s.detok, s.write = 0, 0, 0 }).want(),
			dominant: runfmt.PartServerOther, partial: true, notes: []string{NotePartial}},
		// A one-token answer: the summed spans outlast the (tiny) decode
		// window and are scaled into it.
		{name: "summed spans exceed decode", shape: with(base, func(s *shape) { s.decode, s.detok, s.write = 1, 0.5, 1.5 }),
			want:     with(base, func(s *shape) { s.decode, s.detok, s.write = 1, 0.25, 0.75 }).want(),
			dominant: runfmt.PartPrefill, notes: []string{NoteSummedClipped, NoteDecodeByMean}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, tr := tt.shape.build()
			b, info := Attribute(r, tr, tt.opts)
			checkSum(t, b)
			want := tt.want
			if want == nil {
				want = tt.shape.want()
			}
			checkParts(t, b.Parts, want)
			if math.Abs(b.UnexplainedMS) > 1e-6 {
				t.Errorf("unexplained = %g ms, want 0", b.UnexplainedMS)
			}
			if pct := 100 * math.Abs(b.UnexplainedMS) / b.TotalMS; pct >= 1 {
				t.Errorf("unexplained = %.3f %% of the total, want < 1 %%", pct)
			}
			wantTotal := tt.shape.clientQueue + *r.E2EMS + tt.shape.connect
			if math.Abs(b.TotalMS-wantTotal) > 1e-6 {
				t.Errorf("total = %.6f ms, want %.6f", b.TotalMS, wantTotal)
			}
			if b.Dominant != tt.dominant {
				t.Errorf("dominant = %q, want %q", b.Dominant, tt.dominant)
			}
			if b.Source != SourceTrace || info.ClientOnly {
				t.Errorf("source = %q, client only %v; want %q, false", b.Source, info.ClientOnly, SourceTrace)
			}
			if info.ServerSpan != "POST /generate/stream" {
				t.Errorf("server span = %q, want POST /generate/stream", info.ServerSpan)
			}
			if !info.Checked || info.Violation != tt.violation {
				t.Errorf("checked %v, violation %v; want true, %v", info.Checked, info.Violation, tt.violation)
			}
			if got := ms(info.Skew); math.Abs(got-tt.skewMS) > 1e-6 {
				t.Errorf("skew = %.6f ms, want %.6f", got, tt.skewMS)
			}
			if info.Partial != tt.partial {
				t.Errorf("partial = %v, want %v", info.Partial, tt.partial)
			}
			if !slices.Equal(info.Notes, tt.notes) {
				t.Errorf("notes = %q, want %q", info.Notes, tt.notes)
			}
			if b.Seq != tt.shape.seq || b.TraceID != traceID || !b.OK || b.E2EMS != *r.E2EMS || b.TTFTMS != *r.TTFTMS {
				t.Errorf("identity fields = %d %q %v %g %g, want the request's", b.Seq, b.TraceID, b.OK, b.E2EMS, b.TTFTMS)
			}
		})
	}
}

func TestAttributeClientOnly(t *testing.T) {
	r, full := with(base, func(s *shape) { s.clientQueue = 5 }).build()
	onlyClient := &span.Trace{ID: traceID, Spans: full.Spans[:1]}
	for _, tc := range []struct {
		name  string
		trace *span.Trace
	}{
		{"no trace", nil},
		{"trace without server spans", onlyClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, info := Attribute(r, tc.trace, Options{})
			checkSum(t, b)
			want := map[string]float64{runfmt.PartClientQueue: 5, runfmt.PartConnectSend: base.connect, runfmt.PartUnsplit: *r.E2EMS}
			checkParts(t, b.Parts, want)
			if b.Source != SourceClient || !info.ClientOnly || info.Checked {
				t.Errorf("source %q, client only %v, checked %v; want %q, true, false", b.Source, info.ClientOnly, info.Checked, SourceClient)
			}
			if !slices.Equal(info.Notes, []string{NoteClientOnly}) {
				t.Errorf("notes = %q, want %q", info.Notes, NoteClientOnly)
			}
			if b.Dominant != runfmt.PartUnsplit {
				t.Errorf("dominant = %q, want unsplit", b.Dominant)
			}
		})
	}
}

func TestAttributeServerTimings(t *testing.T) {
	// No spans, but the server's own timings from its last event: 300 ms
	// queued, first token 420 ms after it received the request, done at
	// 900 ms; the client saw 905 ms from Sent to the last token.
	req := func(queue, ttft, total *float64) *runfmt.Request {
		return &runfmt.Request{Seq: 3, OK: true, Started: t0, Sent: t0.Add(dur(1)), E2EMS: ptr(905), TTFTMS: ptr(423),
			ServerQueueMS: queue, ServerTTFTMS: ttft, ServerTotalMS: total}
	}
	tests := []struct {
		name   string
		r      *runfmt.Request
		source string
		want   map[string]float64
		notes  []string
	}{
		{"queue, TTFT and total", req(ptr(300), ptr(420), ptr(900)), SourceServer,
			map[string]float64{runfmt.PartConnectSend: 1, runfmt.PartNetwork: 5, runfmt.PartServerQueue: 300, runfmt.PartPrefill: 120, runfmt.PartDecode: 480},
			[]string{NoteServerTimings}},
		{"no queue reported", req(nil, ptr(420), ptr(900)), SourceServer,
			map[string]float64{runfmt.PartConnectSend: 1, runfmt.PartNetwork: 5, runfmt.PartPrefill: 420, runfmt.PartDecode: 480},
			[]string{NoteServerTimings}},
		// The server's total outlasts the client's request (clocks of
		// different resolution): its parts are scaled to fit.
		{"server total exceeds the request", req(ptr(0), ptr(181), ptr(1810)), SourceServer,
			map[string]float64{runfmt.PartConnectSend: 1, runfmt.PartPrefill: 90.5, runfmt.PartDecode: 814.5},
			[]string{NoteTimingsClipped, NoteServerTimings}},
		{"no TTFT: client-only", req(ptr(300), nil, ptr(900)), SourceClient,
			map[string]float64{runfmt.PartConnectSend: 1, runfmt.PartUnsplit: 905}, []string{NoteClientOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, info := Attribute(tt.r, nil, Options{})
			checkSum(t, b)
			checkParts(t, b.Parts, tt.want)
			if b.Source != tt.source || info.Timings != (tt.source == SourceServer) {
				t.Errorf("source %q, timings %v; want %q", b.Source, info.Timings, tt.source)
			}
			if !slices.Equal(info.Notes, tt.notes) {
				t.Errorf("notes = %q, want %q", info.Notes, tt.notes)
			}
		})
	}
}

// vllmRequest is a request served by a vLLM-style server: one server span
// (no children) carrying gen_ai.latency attributes, in seconds.
func vllmRequest(attrs map[string]any) (*runfmt.Request, *span.Trace) {
	r := &runfmt.Request{Seq: 7, OK: true, TraceID: traceID, SpanID: clientID, Started: t0, Sent: t0.Add(dur(0.5))}
	sStart := r.Sent.Add(dur(1))
	r.E2EMS = ptr(1 + 902 + 1)
	r.TTFTMS = ptr(1 + 402 + 1)
	s := &span.Span{TraceID: traceID, SpanID: serverID, ParentID: clientID, Service: "vllm", Name: "llm_request", Kind: "server",
		Start: sStart, Duration: dur(903), Attrs: attrs}
	return r, &span.Trace{ID: traceID, Spans: []*span.Span{s}}
}

func TestAttributeVLLM(t *testing.T) {
	r, tr := vllmRequest(map[string]any{
		"gen_ai.latency.time_in_queue":         0.3,
		"gen_ai.latency.time_in_model_prefill": 0.1,
		"gen_ai.latency.time_in_model_decode":  0.5,
		"gen_ai.latency.time_to_first_token":   0.402,
		"gen_ai.latency.e2e":                   0.902,
	})
	b, info := Attribute(r, tr, Options{})
	checkSum(t, b)
	checkParts(t, b.Parts, map[string]float64{
		runfmt.PartConnectSend: 0.5, runfmt.PartNetwork: 2, runfmt.PartServerOther: 2,
		runfmt.PartServerQueue: 300, runfmt.PartPrefill: 100, runfmt.PartDecode: 500,
	})
	if !info.VLLM || info.Partial || info.ServerSpan != "llm_request" {
		t.Errorf("vllm %v, partial %v, server span %q; want true, false, llm_request", info.VLLM, info.Partial, info.ServerSpan)
	}
	if !slices.Equal(info.Notes, []string{NoteVLLM}) {
		t.Errorf("notes = %q, want %q", info.Notes, NoteVLLM)
	}

	// Neither children nor attributes: a partial trace, server time unsplit.
	r, tr = vllmRequest(nil)
	b, info = Attribute(r, tr, Options{})
	checkSum(t, b)
	checkParts(t, b.Parts, map[string]float64{runfmt.PartConnectSend: 0.5, runfmt.PartNetwork: 1, runfmt.PartServerOther: 903})
	if !info.Partial || !slices.Equal(info.Notes, []string{NoteNoChildren}) {
		t.Errorf("partial %v, notes %q; want true, %q", info.Partial, info.Notes, NoteNoChildren)
	}
}

func TestAttributeEngineSteps(t *testing.T) {
	s := with(base, func(s *shape) { s.batch = 4 }) // mean_batch_size is ignored once steps are linked
	r, tr := s.build()
	first := r.Sent.Add(dur(s.up + s.pre + s.tokenize + s.gap + s.queue + s.prefill))
	step := func(from time.Time, d float64, batch int64, links ...span.Link) *span.Span {
		attrs := map[string]any{}
		if batch > 0 {
			attrs["batch.size"] = batch
		}
		return &span.Span{TraceID: "step", SpanID: "step", Name: "engine.step", Service: "refserver", Start: from, Duration: dur(d),
			Attrs: attrs, Links: links}
	}
	mine := span.Link{TraceID: traceID, SpanID: serverID}
	other := span.Link{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: serverID}
	var steps []*span.Span
	// The fit's cost: 10 + 10 ms per sequence, so a sequence's own share
	// is 20/30 of a batch of 2 and 20/40 of a batch of 3.
	line := NewCost(&runfmt.StepCost{Identified: true, Fit: &runfmt.Fit{Intercept: 10, Slope: 10}})
	stepped, wantOwn := 0.0, 0.0
	for i := range 10 {
		batch := int64(2 + i%2) // 2, 3, 2, 3, ...
		steps = append(steps, step(first.Add(dur(40*float64(i))), 30, batch, mine, other))
		stepped += 30
		wantOwn += 30 * 20 / (10 + 10*float64(batch))
	}
	steps = append(steps,
		step(first.Add(-dur(30)), 30, 1, mine),        // the prefill step: outside the decode window
		step(first.Add(dur(5)), 30, 1, other),         // another request's step
		step(first.Add(dur(405)), 30, 1, mine),        // after the last token
		step(first.Add(dur(395)), 10, 0, mine, other)) // no batch.size: its links count, 2; 5 ms in the window
	stepped += 5
	wantOwn += 5 * 20.0 / 30
	rest := s.decode - s.detok - s.write

	for _, tc := range []struct {
		name  string
		steps []*span.Span
		cost  *Cost
		want  map[string]float64
		notes []string
	}{
		{"all of the run's steps, no step cost", steps, nil,
			map[string]float64{runfmt.PartDecode: stepped, runfmt.PartBetweenSteps: rest - stepped}, []string{NoteDecodeUnsplit}},
		{"indexed by trace, no step cost", span.ByLinkedTrace(steps)[traceID], nil,
			map[string]float64{runfmt.PartDecode: stepped, runfmt.PartBetweenSteps: rest - stepped}, []string{NoteDecodeUnsplit}},
		{"with a step cost", steps, line,
			map[string]float64{runfmt.PartDecodeOwn: wantOwn, runfmt.PartDecodeShared: stepped - wantOwn, runfmt.PartBetweenSteps: rest - stepped}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, info := Attribute(r, tr, Options{Steps: tc.steps, StepCost: tc.cost})
			checkSum(t, b)
			want := s.want()
			delete(want, runfmt.PartDecode)
			maps.Copy(want, tc.want)
			checkParts(t, b.Parts, want)
			if info.Steps != 11 {
				t.Errorf("steps used = %d, want 11", info.Steps)
			}
			if wantBatch := (5*2 + 5*3 + 2) / 11.0; math.Abs(b.MeanBatch-wantBatch) > 1e-9 {
				t.Errorf("mean batch = %g, want %g", b.MeanBatch, wantBatch)
			}
			if !slices.Equal(info.Notes, tc.notes) {
				t.Errorf("notes = %q, want %q", info.Notes, tc.notes)
			}
		})
	}

	// A batch of one is the request's own, with or without a step cost;
	// the gaps between the steps are between_steps, never decode_shared.
	var single []*span.Span
	for i := range 10 {
		single = append(single, step(first.Add(dur(40*float64(i))), 30, 1, mine))
	}
	b, info := Attribute(r, tr, Options{Steps: single})
	want := s.want()
	delete(want, runfmt.PartDecode)
	maps.Copy(want, map[string]float64{runfmt.PartDecodeOwn: 300, runfmt.PartBetweenSteps: rest - 300})
	checkParts(t, b.Parts, want)
	if len(info.Notes) != 0 {
		t.Errorf("notes = %q, want none", info.Notes)
	}
}

func TestAttributeSLO(t *testing.T) {
	slo := map[string]float64{"ttft": 100, "tpot": 5, "e2e": 1000, "ttst": 50}
	ok := &runfmt.Request{OK: true, Sent: t0, Started: t0, TTFTMS: ptr(120), E2EMS: ptr(800), TTSTMS: ptr(10)} // no TPOT: one token
	failed := &runfmt.Request{Sent: t0, Started: t0, CloseMS: 30, Error: "connection reset"}
	tests := []struct {
		name string
		r    *runfmt.Request
		slo  map[string]float64
		want []string
	}{
		{"ttft missed, tpot undefined", ok, slo, []string{"ttft"}},
		{"no SLOs", ok, nil, nil},
		{"failed request misses what it lacks", failed, slo, []string{"e2e", "ttft", "ttst"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, info := Attribute(tt.r, nil, Options{SLO: tt.slo})
			if !slices.Equal(b.SLOMissed, tt.want) {
				t.Errorf("missed = %q, want %q", b.SLOMissed, tt.want)
			}
			checkSum(t, b)
			if tt.r.E2EMS == nil && !slices.Contains(info.Notes, NoteNoText) {
				t.Errorf("notes = %q, want %q among them", info.Notes, NoteNoText)
			}
		})
	}
}

func TestClock(t *testing.T) {
	checked := func(skewMS float64, violation bool) Info {
		return Info{Checked: true, EstimatedSkew: dur(skewMS), Violation: violation}
	}
	tests := []struct {
		name                string
		infos               []Info
		checked, violations int
		skewMS              float64
	}{
		{"nothing checked", []Info{{ClientOnly: true}}, 0, 0, 0},
		{"all nested", []Info{checked(0.2, false), checked(-0.3, false), {}}, 2, 0, 0},
		{"skewed run", []Info{checked(249, true), checked(251, true), checked(250.5, true), checked(0.4, false)}, 4, 3, 249.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Clock(tt.infos)
			if c.Checked != tt.checked || c.Violations != tt.violations || math.Abs(c.SkewMS-tt.skewMS) > 1e-9 {
				t.Errorf("clock = %d checked, %d violations, %g ms; want %d, %d, %g", c.Checked, c.Violations, c.SkewMS,
					tt.checked, tt.violations, tt.skewMS)
			}
		})
	}
}
