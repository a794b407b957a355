package server

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/sample"
)

// job is one generation, whatever route asked for it.
type job struct {
	route     string // metrics label: generate, generate_stream, completions, chat_completions
	text      string // the prompt, when given as text
	ids       []int  // the prompt, when given as token ids
	maxTokens int
	params    sample.Params
	stop      []string
	ignoreEOS bool // vLLM's ignore_eos: generate max_tokens whatever the model says (benchmarks)
	received  time.Time
}

// sampling are the sampling fields every route shares, already defaulted.
type sampling struct {
	temperature float64
	topK        int
	topP        *float64
	seed        *int64
	greedy      bool
}

// check validates the shared fields and fills j.params.
func (j *job) check(maxTokens *int, defMax int, sm sampling, stop []string) *apiError {
	j.maxTokens = defMax
	if maxTokens != nil {
		j.maxTokens = *maxTokens
	}
	if j.maxTokens <= 0 {
		return badRequest("max_tokens", "max_tokens is %d, want at least 1", j.maxTokens)
	}
	if sm.temperature < 0 {
		return badRequest("temperature", "temperature is %g, want >= 0", sm.temperature)
	}
	p := sample.Params{Temperature: sm.temperature, TopK: sm.topK, Greedy: sm.greedy}
	if sm.topP != nil {
		if *sm.topP <= 0 || *sm.topP > 1 {
			return badRequest("top_p", "top_p is %g, want a value in (0, 1]", *sm.topP)
		}
		p.TopP = *sm.topP
	}
	if sm.topK < 0 {
		return badRequest("top_k", "top_k is %d, want >= 0 (0 means no limit)", sm.topK)
	}
	if sm.seed != nil {
		p.Seed, p.HasSeed = uint64(*sm.seed), true
	}
	if err := p.Validate(); err != nil {
		return badRequest("", "%v", err)
	}
	if len(stop) > 4 {
		return badRequest("stop", "stop holds %d sequences, at most 4 are allowed", len(stop))
	}
	for _, s := range stop {
		if s == "" {
			return badRequest("stop", "stop sequences must not be empty")
		}
	}
	j.params, j.stop = p, stop
	return nil
}

// result is a finished generation.
type result struct {
	text   string
	ids    []int
	finish string // OpenAI's finish_reason: stop or length
	stats  *engine.Stats
	writes writeStats
}

// writeStats sums the time spent writing and flushing a stream.
type writeStats struct {
	count int
	total time.Duration
}

// piece is called for each piece of text as it completes, with the ids of
// the tokens that made it. An error (the client is gone) cancels the job.
type piece func(text string, ids []int) error

// run tokenizes and generates j, calling onPiece (if not nil) as text
// completes. It records the request's spans and metrics.
func (s *Server) run(ctx context.Context, j *job, onPiece piece) (*result, *apiError) {
	if e := s.admit(); e != nil {
		return nil, e
	}
	defer s.inflight.Add(-1)

	// The cheap checks first: a prompt too long for the context is refused
	// before it costs a full tokenization (its bytes bound its tokens from
	// below, and tokenizing stops at the context).
	ctxLen := s.model.Config.NPositions
	prompt := j.ids
	if prompt == nil {
		if least := len(j.text) / s.tok.MaxTokenBytes(); least >= ctxLen {
			return nil, badRequest("prompt", "prompt is %d bytes, so at least %d tokens, and the context holds %d (at most %d prompt tokens leave room for one generated token)", len(j.text), least, ctxLen, ctxLen-1)
		}
		_, span := s.tracer.Start(ctx, "tokenize_input")
		var complete bool
		prompt, complete = s.tok.EncodeLimit(j.text, ctxLen)
		span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", len(prompt)), attribute.Int("prompt.bytes", len(j.text)))
		span.End()
		if !complete {
			return nil, badRequest("prompt", "prompt is at least %d tokens long and the context holds %d (at most %d prompt tokens leave room for one generated token)", len(prompt), ctxLen, ctxLen-1)
		}
	}
	if len(prompt) == 0 {
		return nil, badRequest("prompt", "prompt is empty")
	}
	if n := len(prompt); n >= ctxLen {
		return nil, badRequest("prompt", "prompt is %d tokens long and the context holds %d (at most %d prompt tokens leave room for one generated token)", n, ctxLen, ctxLen-1)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.eng.Submit(ctx, engine.Request{Prompt: prompt, MaxTokens: j.maxTokens, Sampling: j.params,
		Stop: j.stop, IgnoreEOS: j.ignoreEOS, Tag: trace.SpanContextFromContext(ctx)})
	if err != nil {
		return nil, fromEngine(err)
	}
	res := &result{}
	var pending []int
	var pieceErr error
	var final engine.Event
	for ev := range events {
		if ev.Token >= 0 {
			res.ids = append(res.ids, ev.Token)
			pending = append(pending, ev.Token)
		}
		if ev.Text != "" {
			res.text += ev.Text
			if onPiece != nil && pieceErr == nil {
				t0 := time.Now()
				if pieceErr = onPiece(ev.Text, pending); pieceErr != nil {
					cancel() // the client is gone: leave the batch at the next step
				}
				res.writes.count++
				res.writes.total += time.Since(t0)
			}
			pending = nil
		}
		if ev.Done {
			final = ev
		}
	}
	res.stats = final.Stats
	s.record(ctx, j, res, final)
	switch final.Finish {
	case engine.FinishLength:
		res.finish = "length"
	case engine.FinishStop, engine.FinishEOS:
		res.finish = "stop"
	case engine.FinishCancelled:
		return res, &apiError{Status: 499, Type: "cancelled", Message: "request cancelled by the client", kind: "cancelled"}
	default:
		return res, fromEngine(final.Err)
	}
	return res, nil
}

// record writes the request's spans (children of the route's server span)
// and metrics once its timings are known.
func (s *Server) record(ctx context.Context, j *job, res *result, ev engine.Event) {
	st := ev.Stats
	if st == nil {
		return
	}
	s.metrics.observe(j, st)

	server := trace.SpanFromContext(ctx)
	at := trace.WithTimestamp
	if !st.Scheduled.IsZero() {
		_, q := s.tracer.Start(ctx, "queue_wait", at(st.Submitted))
		q.End(at(st.Scheduled))
		gctx, g := s.tracer.Start(ctx, "model_generate", at(st.Scheduled))
		end := st.Finished
		if !st.FirstToken.IsZero() {
			_, p := s.tracer.Start(gctx, "prefill", at(st.Scheduled))
			p.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", st.PromptTokens))
			p.End(at(st.FirstToken))
			_, d := s.tracer.Start(gctx, "decode", at(st.FirstToken))
			d.SetAttributes(attribute.Int("steps", st.DecodeSteps), attribute.Float64("mean_batch_size", st.MeanBatch()),
				attribute.Int("gen_ai.usage.output_tokens", st.OutputTokens))
			d.End(at(end))
		}
		g.End(at(end))
	}
	// Detokenizing and stream writes happen token by token during decode;
	// each is one span of their summed time, starting at the first token,
	// with the count of pieces (DESIGN.md).
	if !st.FirstToken.IsZero() {
		_, d := s.tracer.Start(ctx, "decode_output", at(st.FirstToken))
		d.SetAttributes(attribute.Bool("summed", true), attribute.Int("count", st.OutputTokens))
		d.End(at(st.FirstToken.Add(st.Detokenize)))
		if res.writes.count > 0 {
			_, w := s.tracer.Start(ctx, "stream_write", at(st.FirstToken))
			w.SetAttributes(attribute.Bool("summed", true), attribute.Int("count", res.writes.count))
			w.End(at(st.FirstToken.Add(res.writes.total)))
		}
	}
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.system", "refserver"),
		attribute.String("gen_ai.operation.name", j.route),
		attribute.String("gen_ai.request.model", s.cfg.ModelName),
		attribute.Int("gen_ai.request.max_tokens", j.maxTokens),
		attribute.Float64("gen_ai.request.temperature", j.params.Temperature),
		attribute.Int("gen_ai.usage.input_tokens", st.PromptTokens),
		attribute.Int("gen_ai.usage.output_tokens", st.OutputTokens),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{ev.Finish}),
		attribute.Float64("gen_ai.latency.e2e", st.Finished.Sub(j.received).Seconds()),
	}
	if !st.Scheduled.IsZero() {
		attrs = append(attrs, attribute.Float64("gen_ai.latency.time_in_queue", st.Scheduled.Sub(st.Submitted).Seconds()))
	}
	if !st.FirstToken.IsZero() {
		attrs = append(attrs,
			attribute.Float64("gen_ai.latency.time_to_first_token", st.FirstToken.Sub(j.received).Seconds()),
			attribute.Float64("gen_ai.latency.time_in_model_prefill", st.FirstToken.Sub(st.Scheduled).Seconds()),
			attribute.Float64("gen_ai.latency.time_in_model_decode", st.Finished.Sub(st.FirstToken).Seconds()))
	}
	server.SetAttributes(attrs...)
}

// timings are the server-side latencies a response reports, in seconds.
type timings struct {
	Queue float64 `json:"queue_s"`
	TTFT  float64 `json:"ttft_s"`
	TPOT  float64 `json:"tpot_s"`
	Total float64 `json:"total_s"`
}

func (j *job) timings(st *engine.Stats) timings {
	var t timings
	if st == nil {
		return t
	}
	if !st.Scheduled.IsZero() {
		t.Queue = st.Scheduled.Sub(st.Submitted).Seconds()
	}
	if !st.FirstToken.IsZero() {
		t.TTFT = st.FirstToken.Sub(j.received).Seconds()
		if st.OutputTokens > 1 {
			t.TPOT = st.Finished.Sub(st.FirstToken).Seconds() / float64(st.OutputTokens-1)
		}
	}
	t.Total = st.Finished.Sub(j.received).Seconds()
	return t
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(st *engine.Stats) usage {
	if st == nil {
		return usage{}
	}
	return usage{st.PromptTokens, st.OutputTokens, st.PromptTokens + st.OutputTokens}
}
