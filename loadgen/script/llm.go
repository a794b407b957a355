package script

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/dop251/goja"

	"github.com/llmbench/llmbench/loadgen/llm"
	"github.com/llmbench/llmbench/runfmt"
)

// The llm_* metrics of DESIGN.md, recorded by k6/x/llm. Times are in
// milliseconds.
const (
	MetricRequests      = "llm_requests"
	MetricErrors        = "llm_errors"
	MetricTTFT          = "llm_ttft"
	MetricTTST          = "llm_ttst"
	MetricTPOT          = "llm_tpot"
	MetricITL           = "llm_itl"
	MetricE2E           = "llm_e2e"
	MetricClientQueue   = "llm_client_queue"
	MetricInputTokens   = "llm_input_tokens"
	MetricOutputTokens  = "llm_output_tokens"
	MetricTokenMismatch = "llm_token_mismatches"
)

// llmModule is k6/x/llm: `new llm.Client({baseURL, protocol, model,
// headers, timeout, stream})`, `client.generate(params, {tags})` and its
// promise form `client.generateAsync(params, {tags})`.
func (vu *VU) llmModule() *goja.Object {
	for _, n := range []string{MetricRequests, MetricErrors, MetricTokenMismatch} {
		vu.declare(n, Counter, false)
	}
	for _, n := range []string{MetricTTFT, MetricTTST, MetricTPOT, MetricITL, MetricE2E, MetricClientQueue} {
		vu.declare(n, Trend, true)
	}
	for _, n := range []string{MetricInputTokens, MetricOutputTokens} {
		vu.declare(n, Trend, false)
	}
	m := vu.rt.NewObject()
	_ = m.Set("Client", vu.newLLMClient)
	for _, p := range []llm.Protocol{llm.Generate, llm.OpenAICompletions, llm.OpenAIChat} {
		_ = m.Set(protocolConst(p), string(p))
	}
	return m
}

func protocolConst(p llm.Protocol) string {
	switch p {
	case llm.OpenAICompletions:
		return "OPENAI_COMPLETIONS"
	case llm.OpenAIChat:
		return "OPENAI_CHAT"
	}
	return "GENERATE"
}

// clientOptions are the JS options of new Client(...).
type clientOptions struct {
	BaseURL  string            `js:"baseURL"`
	Protocol string            `js:"protocol"`
	Model    string            `js:"model"`
	Headers  map[string]string `js:"headers"`
	Timeout  any               `js:"timeout"`
	Stream   *bool             `js:"stream"`
	// ServerKind names the server's software for run.json (llama.cpp,
	// vllm, tgi, openai, ...).
	ServerKind string `js:"serverKind"`
}

func (vu *VU) newLLMClient(c goja.ConstructorCall) *goja.Object {
	rt := vu.rt
	var opts clientOptions
	if a := c.Argument(0); !isNil(a) {
		if err := rt.ExportTo(a, &opts); err != nil {
			panic(rt.NewTypeError("new llm.Client(): " + err.Error()))
		}
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "http://127.0.0.1:8000"
	}
	if opts.Protocol == "" {
		opts.Protocol = string(llm.Generate)
	}
	cfg := llm.Config{
		BaseURL: opts.BaseURL, Protocol: llm.Protocol(opts.Protocol), Model: opts.Model, Headers: opts.Headers,
		Stream: opts.Stream == nil || *opts.Stream, TracerProvider: vu.env.TracerProvider,
		Counter: vu.env.Tokens,
	}
	if opts.Timeout != nil {
		d, err := parseDuration(opts.Timeout)
		if err != nil {
			panic(rt.NewTypeError("new llm.Client(): timeout: " + err.Error()))
		}
		cfg.Timeout = d
	}
	client, err := llm.New(cfg)
	if err != nil {
		panic(rt.NewTypeError("new llm.Client(): " + err.Error()))
	}
	vu.env.noteTarget(opts.BaseURL, opts.Protocol, opts.ServerKind)
	obj := c.This
	gen := func(call goja.FunctionCall) goja.Value { return vu.llmCall(client, call) }
	async := func(call goja.FunctionCall) goja.Value { return vu.llmAsync(client, call) }
	for _, name := range []string{"generate", "complete", "chat"} {
		_ = obj.Set(name, gen)
		_ = obj.Set(name+"Async", async)
	}
	_ = obj.Set("baseURL", opts.BaseURL)
	_ = obj.Set("protocol", opts.Protocol)
	return nil
}

// chatMessage is one of params.messages: {role, content}. (llm.Message
// has JSON tags, not the js tags the runtime maps by.)
type chatMessage struct {
	Role    string `js:"role"`
	Content string `js:"content"`
}

// requestParams are the JS parameters of client.generate(...), in the
// original report's and OpenAI's names.
type requestParams struct {
	Prompt      string         `js:"prompt"`
	Messages    []chatMessage  `js:"messages"`
	MaxTokens   int            `js:"max_tokens"`
	Temperature *float64       `js:"temperature"`
	TopP        *float64       `js:"top_p"`
	TopK        int            `js:"top_k"`
	Seed        *int64         `js:"seed"`
	Stop        any            `js:"stop"`
	DoSample    *bool          `js:"do_sample"`
	IgnoreEOS   bool           `js:"ignore_eos"`
	Extra       map[string]any `js:"extra"`
}

// llmCall is client.generate(): it blocks the VU until the response has
// been read to its end.
func (vu *VU) llmCall(client *llm.Client, call goja.FunctionCall) goja.Value {
	c := vu.parseLLMCall(client, call, "client.generate()")
	return vu.llmResult(c.do())
}

// llmAsync is client.generateAsync(): the request runs on its own
// goroutine and the promise resolves with the same result on the VU's
// event loop, so that one VU can hold several streams at once, as a chat
// UI does. The stream is read, timed and recorded on that goroutine: the
// script running meanwhile does not delay a token's timestamp.
func (vu *VU) llmAsync(client *llm.Client, call goja.FunctionCall) goja.Value {
	c := vu.parseLLMCall(client, call, "client.generateAsync()")
	p, resolve, _ := vu.rt.NewPromise()
	vu.loop.spawn(func() func() error {
		res := c.do()
		return func() error { return resolve(vu.llmResult(res)) }
	})
	return vu.rt.ToValue(p)
}

// llmCallState is one request of k6/x/llm, with what it needs of the VU's
// state captured when the script made it.
type llmCallState struct {
	vu       *VU
	ctx      context.Context
	client   *llm.Client
	req      llm.Request
	extra    map[string]string // options.tags
	tags     map[string]string // the VU's tags then, with extra
	scenario string
	iter     int64
}

func (vu *VU) parseLLMCall(client *llm.Client, call goja.FunctionCall, what string) *llmCallState {
	rt := vu.rt
	if vu.init {
		panic(rt.NewGoError(errInit(what)))
	}
	var p requestParams
	if err := rt.ExportTo(call.Argument(0), &p); err != nil {
		panic(rt.NewTypeError(what + ": " + err.Error()))
	}
	var extra map[string]string
	if o := call.Argument(1); !isNil(o) {
		if t := o.ToObject(rt).Get("tags"); !isNil(t) {
			extra = exportTags(t)
		}
	}
	var msgs []llm.Message
	for i, m := range p.Messages {
		if m.Role == "" {
			panic(rt.NewTypeError(fmt.Sprintf("%s: messages[%d] has no role (want system, user or assistant)", what, i)))
		}
		msgs = append(msgs, llm.Message{Role: m.Role, Content: m.Content})
	}
	req := llm.Request{
		Prompt: p.Prompt, Messages: msgs, MaxTokens: p.MaxTokens, Temperature: p.Temperature, TopP: p.TopP,
		TopK: p.TopK, Seed: p.Seed, DoSample: p.DoSample, IgnoreEOS: p.IgnoreEOS, Extra: p.Extra, Scheduled: vu.it.Scheduled,
	}
	switch s := p.Stop.(type) {
	case string:
		req.Stop = []string{s}
	case []any:
		for _, x := range s {
			req.Stop = append(req.Stop, stringOf(x))
		}
	}
	return &llmCallState{
		vu: vu, ctx: vu.ctx, client: client, req: req, extra: extra, tags: vu.tags(extra),
		scenario: vu.it.Scenario, iter: vu.it.Iter,
	}
}

// do makes the request and records it. It is safe to call from any
// goroutine: it touches no JavaScript.
func (c *llmCallState) do() *llm.Result {
	env := c.vu.env
	if f := env.InFlight; f != nil {
		f.Add(1)
		defer f.Add(-1)
	}
	res := c.client.Do(c.ctx, c.req)
	rec := &res.Request
	rec.Scenario, rec.VU, rec.Iter = c.scenario, c.vu.ID, c.iter
	rec.Tags = c.extra
	recordLLM(env, rec, c.tags)
	if env.Requests != nil {
		if err := env.Requests.Append(rec); err != nil {
			env.logf("ERROR [VU %d] %v\n", c.vu.ID, err)
		}
	}
	if env.OnLLM != nil {
		env.OnLLM(rec)
	}
	return res
}

// recordLLM records one request's llm_* samples with the tags base (the
// VU's when the request was made).
func recordLLM(env *Env, r *runfmt.Request, base map[string]string) {
	now := time.Now()
	t := mergeTags(base)
	t["protocol"] = r.Protocol
	t["status"] = strconv.Itoa(r.Status)
	rec := env.Recorder
	rec.Add(MetricRequests, now, 1, t)
	if !r.OK {
		et := mergeTags(t, map[string]string{"error_class": r.ErrorClass})
		rec.Add(MetricErrors, now, 1, et)
	}
	add := func(name string, v *float64) {
		if v != nil {
			rec.Add(name, now, *v, t)
		}
	}
	add(MetricTTFT, r.TTFTMS)
	add(MetricTTST, r.TTSTMS)
	add(MetricTPOT, r.TPOTMS)
	add(MetricE2E, r.E2EMS)
	add(MetricClientQueue, r.ClientQueueMS)
	for _, g := range r.GapsMS {
		rec.Add(MetricITL, now, g, t)
	}
	if r.OK {
		rec.Add(MetricInputTokens, now, float64(r.InputTokens), t)
		rec.Add(MetricOutputTokens, now, float64(r.OutputTokens), t)
	}
	if r.TokenSource == "usage" && env.Tokens != nil && r.ClientOutputTokens != r.OutputTokens {
		rec.Add(MetricTokenMismatch, now, 1, t)
	}
}

// llmResult is what client.generate() returns to the script.
func (vu *VU) llmResult(res *llm.Result) goja.Value {
	r := &res.Request
	num := func(v *float64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	return vu.rt.ToValue(map[string]any{
		"ok": r.OK, "status": r.Status, "error": r.Error, "error_class": r.ErrorClass,
		"text": res.Text, "finish_reason": r.FinishReason,
		"input_tokens": r.InputTokens, "output_tokens": r.OutputTokens, "token_source": r.TokenSource,
		"client_output_tokens": r.ClientOutputTokens,
		"ttft":                 num(r.TTFTMS), "ttst": num(r.TTSTMS), "tpot": num(r.TPOTMS), "e2e": num(r.E2EMS),
		"client_queue": num(r.ClientQueueMS), "gaps": r.GapsMS, "chunks": r.Chunks,
		"trace_id": r.TraceID, "span_id": r.SpanID,
		"first_event_tokens": r.FirstEventTokens, "multi_token_first_event": r.MultiTokenFirstEvent, "retries": r.Retries,
		"server": map[string]any{
			"queue": num(r.ServerQueueMS), "ttft": num(r.ServerTTFTMS), "tpot": num(r.ServerTPOTMS), "total": num(r.ServerTotalMS),
			"source": r.ServerTimingSource, "timings": r.ServerTimings, "ttft_over_server": num(r.TTFTOverServerMS),
		},
	})
}

// noteTarget remembers the first LLM target a script used, for run.json.
func (e *Env) noteTarget(baseURL, protocol, kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.target == "" {
		e.target, e.protocol, e.kind = baseURL, protocol, kind
	}
}

// ServerKind is the serverKind the first LLM client named ("" if none).
func (e *Env) ServerKind() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kind
}

// Target is the first LLM base URL and protocol the script's clients used
// ("" before any client was made).
func (e *Env) Target() (baseURL, protocol string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target, e.protocol
}
