package zoo

import (
	"net/http"
	"strconv"
	"time"
)

// vllm words vLLM's OpenAI-compatible server, >= 0.10 (FACTS.md §2).
type vllm struct {
	model   string
	metrics bool // --enable-per-request-metrics (§2c)
}

// base: uvicorn adds "server: uvicorn" to every response (§2f).
func (vllm) base(h http.Header, _ int) { h.Set("Server", "uvicorn") }

// jsonType: FastAPI's JSONResponse.
func (vllm) jsonType() string { return "application/json" }

// validate: the model must be the served one (404 NotFoundError, §2e),
// and max_tokens at least 1 (SamplingParams: "max_tokens must be at least
// 1, got N.", a BadRequestError).
func (d vllm) validate(rq request) *failure {
	if rq.model != "" && rq.model != d.model {
		return &failure{kind: noModel, detail: rq.model}
	}
	if rq.maxTokens != nil && *rq.maxTokens < 1 {
		return &failure{kind: badMaxTokens, maxTokens: *rq.maxTokens}
	}
	return nil
}

// includeUsage: StreamOptions.include_usage defaults to True, so any
// stream_options object turns usage on; without one there is none (§2b).
func (vllm) includeUsage(rq request) bool {
	if !rq.streamOptions {
		return false
	}
	return rq.includeUsage == nil || *rq.includeUsage
}

// newID: "cmpl-" or "chatcmpl-" + random_uuid(), 32 hex (§2a).
func (vllm) newID(ep endpoint) string {
	if ep == chat {
		return "chatcmpl-" + randomString(hexLow, 32)
	}
	return "cmpl-" + randomString(hexLow, 32)
}

// headers: streams are "text/event-stream; charset=utf-8" (§2f).
func (d vllm) headers(h http.Header, _ *gen, stream bool, _ time.Duration) {
	if stream {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		return
	}
	h.Set("Content-Type", d.jsonType())
}

// late: uvicorn sends the StreamingResponse's headers before the
// generator yields, so before prefill.
func (vllm) late() bool { return false }

// sse: f"data: {data}\n\n" (§2d).
func (vllm) sse() string { return "data: " }

// heldEvents: merged deltas make one chunk (§2g).
func (vllm) heldEvents() bool { return false }

// head is the start of every chunk and answer: id, object, created (fixed
// per request), model (§2a). There is no system_fingerprint.
func (d vllm) head(g *gen, object string) obj {
	return obj{{"id", g.id}, {"object", object}, {"created", g.created}, {"model", d.model}}
}

// opening: chat's first chunk is the role, with content "" (§2a).
func (d vllm) opening(g *gen) []obj {
	if g.ep != chat {
		return nil
	}
	return []obj{append(d.head(g, "chat.completion.chunk"), kv{"choices", []obj{{
		{"index", 0}, {"delta", obj{{"role", "assistant"}, {"content", ""}}}, {"logprobs", nil}, {"finish_reason", nil},
	}}})}
}

// token: the last token's text and finish_reason share a chunk, which
// adds stop_reason (§2a). Chat is dumped with exclude_unset, so it has no
// usage key and no stop_reason before the end; completions are dumped in
// full, every chunk with stop_reason and "usage":null.
func (d vllm) token(g *gen, text string, last bool) obj {
	var finish any
	if last {
		finish = "length"
	}
	if g.ep == chat {
		c := obj{{"index", 0}, {"delta", obj{{"content", text}}}, {"logprobs", nil}, {"finish_reason", finish}}
		if last {
			c = append(c, kv{"stop_reason", nil})
		}
		return append(d.head(g, "chat.completion.chunk"), kv{"choices", []obj{c}})
	}
	return append(d.head(g, "text_completion"),
		kv{"choices", []obj{{{"index", 0}, {"text", text}, {"logprobs", nil}, {"finish_reason", finish}, {"stop_reason", nil}}}},
		kv{"usage", nil})
}

// closing: a stream with no tokens still finishes, with an empty delta
// ("delta":{}, §2a); then, if usage is on, a chunk with "choices":[] and
// the usage (exclude_none: no nulls), plus metrics if enabled (§2b, §2c).
func (d vllm) closing(g *gen) []obj {
	var out []obj
	object := "chat.completion.chunk"
	if g.ep != chat {
		object = "text_completion"
	}
	if g.done == 0 {
		if g.ep == chat {
			out = append(out, append(d.head(g, object), kv{"choices", []obj{{
				{"index", 0}, {"delta", obj{}}, {"logprobs", nil}, {"finish_reason", "length"}, {"stop_reason", nil},
			}}}))
		} else {
			out = append(out, d.token(g, "", true))
		}
	}
	if g.usage {
		u := append(d.head(g, object), kv{"choices", []obj{}}, kv{"usage", d.usage(g)})
		if d.metrics {
			u = append(u, kv{"metrics", d.metricsObj(g)})
		}
		out = append(out, u)
	}
	return out
}

// usage: prompt_tokens, total_tokens, completion_tokens (§2b).
func (vllm) usage(g *gen) obj {
	return usage3(g, "prompt_tokens", "total_tokens", "completion_tokens")
}

// metricsObj is the per-request "metrics" object (§2c; vLLM's
// docs/features/per_request_metrics.md defines the fields): TTFT from the
// body's arrival (the fake has no queue) to the first token, generation
// time from the first token to the last, mean ITL over the gaps between
// them (null for fewer than two tokens), and tokens per second over the
// whole interval.
func (vllm) metricsObj(g *gen) obj {
	genMS := ms(g.last.Sub(g.first))
	var itl, tps any
	if g.done > 1 {
		itl = genMS / float64(g.done-1)
	}
	if total := g.last.Sub(g.received); total > 0 && g.done > 0 {
		tps = float64(g.done) / total.Seconds()
	}
	return obj{
		{"time_to_first_token_ms", ms(g.first.Sub(g.received))},
		{"generation_time_ms", genMS},
		{"queue_time_ms", 0.0},
		{"mean_itl_ms", itl},
		{"tokens_per_second", tps},
	}
}

// done: always [DONE] (§2d).
func (vllm) done(*gen) bool { return true }

// answer: the non-streamed response, shaped like the stream's models
// (§2a); the real one has a few more null fields (prompt_logprobs,
// kv_transfer_params, ...), which FACTS does not record.
func (d vllm) answer(g *gen) obj {
	text := g.text(0, g.done)
	var o obj
	if g.ep == chat {
		o = append(d.head(g, "chat.completion"), kv{"choices", []obj{{
			{"index", 0}, {"message", obj{{"role", "assistant"}, {"content", text}}}, {"logprobs", nil}, {"finish_reason", "length"}, {"stop_reason", nil},
		}}})
	} else {
		o = append(d.head(g, "text_completion"), kv{"choices", []obj{{
			{"index", 0}, {"text", text}, {"logprobs", nil}, {"finish_reason", "length"}, {"stop_reason", nil},
		}}})
	}
	o = append(o, kv{"usage", d.usage(g)})
	if d.metrics {
		o = append(o, kv{"metrics", d.metricsObj(g)})
	}
	return o
}

// fail: the new error model {"error":{"message","type","param","code"}},
// code an int equal to the status (§2e). A body FastAPI cannot parse is a
// RequestValidationError, whose handler uses the HTTP phrase as the type
// ("Bad Request"; the zoo gives one fixed FastAPI message for any bad
// body), as does the handler of the unknown-route HTTPException;
// errors vLLM raises itself are "BadRequestError" or "NotFoundError".
func (vllm) fail(f failure) (int, obj) {
	e := func(code int, msg, typ string) obj {
		return obj{{"error", obj{{"message", msg}, {"type", typ}, {"param", nil}, {"code", code}}}}
	}
	switch f.kind {
	case badBody:
		return 400, e(400, "[{'type': 'json_invalid', 'loc': ('body', 0), 'msg': 'JSON decode error', 'input': {}, 'ctx': {'error': 'Expecting value'}}]", "Bad Request")
	case badMaxTokens:
		return 400, e(400, "max_tokens must be at least 1, got "+strconv.Itoa(f.maxTokens)+".", "BadRequestError")
	case noModel:
		return 404, e(404, "The model `"+f.detail+"` does not exist.", "NotFoundError")
	default:
		return 404, e(404, "Not Found", "Not Found")
	}
}

// page: /health (and /ping) are 200 with an empty body; /v1/models is the
// ModelCard literal of §2h; /version is {"version": ...}.
func (d vllm) page(method, path string) (obj, bool) {
	if method != http.MethodGet {
		return nil, false
	}
	switch path {
	case "/health", "/ping":
		return nil, true
	case "/version":
		return obj{{"version", "0.11.0"}}, true
	case "/v1/models":
		now := time.Now().Unix()
		return obj{
			{"object", "list"},
			{"data", []obj{{
				{"id", d.model},
				{"object", "model"},
				{"created", now},
				{"owned_by", "vllm"},
				{"root", d.model},
				{"parent", nil},
				{"max_model_len", 131072},
				{"permission", []obj{{
					{"id", "modelperm-" + randomString(hexLow, 32)},
					{"object", "model_permission"},
					{"created", now},
					{"allow_create_engine", false},
					{"allow_sampling", true},
					{"allow_logprobs", true},
					{"allow_search_indices", false},
					{"allow_view", true},
					{"allow_fine_tuning", false},
					{"organization", "*"},
					{"group", nil},
					{"is_blocking", false},
				}}},
			}}},
		}, true
	}
	return nil, false
}
