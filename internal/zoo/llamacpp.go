package zoo

import (
	"net/http"
	"time"
)

// llamaCpp words llama.cpp's llama-server, tools/server era (FACTS.md §1).
type llamaCpp struct {
	model string // meta->model_name, which the new era puts on chunks (§1a)
}

// llamaBuild is build_info, the system_fingerprint on every chunk (§1a).
const llamaBuild = "b6351-5d804a49"

// base: "Server: llama.cpp" on every response; cpp-httplib adds
// "Keep-Alive: timeout=5, max=100", or "Connection: close" on any status
// >= 400, after which net/http closes the connection as httplib does (§1f).
func (llamaCpp) base(h http.Header, status int) {
	h.Set("Server", "llama.cpp")
	if status >= 400 {
		h.Set("Connection", "close")
	} else {
		h.Set("Keep-Alive", "timeout=5, max=100")
	}
}

// jsonType: non-stream JSON is "application/json; charset=utf-8" (§1f).
func (llamaCpp) jsonType() string { return "application/json; charset=utf-8" }

// validate refuses max_tokens < 0. (The real server reads -1 as "no
// limit"; the zoo's callers asked for an error instead.)
func (llamaCpp) validate(rq request) *failure {
	if rq.maxTokens != nil && *rq.maxTokens < 0 {
		return &failure{kind: badMaxTokens, maxTokens: *rq.maxTokens}
	}
	return nil
}

// includeUsage: stream_options.include_usage, default false (§1b).
func (llamaCpp) includeUsage(rq request) bool {
	return rq.includeUsage != nil && *rq.includeUsage
}

// newID: "chatcmpl-" + 32 of [0-9A-Za-z], on both endpoints (§1a).
func (llamaCpp) newID(endpoint) string { return "chatcmpl-" + randomString(alnum, 32) }

// headers: a stream is "text/event-stream" (no charset) with
// "X-Accel-Buffering: no" (§1f).
func (d llamaCpp) headers(h http.Header, _ *gen, stream bool, _ time.Duration) {
	if stream {
		h.Set("Content-Type", "text/event-stream")
		h.Set("X-Accel-Buffering", "no")
		return
	}
	h.Set("Content-Type", d.jsonType())
}

// late: the new era waits for the first result before it answers, "in
// streaming mode, the first error must be treated as non-stream response"
// (§1e), so the status and headers go out with the first event.
func (llamaCpp) late() bool { return true }

// sse: "data: " + json + "\n\n" (format_oai_sse, §1d).
func (llamaCpp) sse() string { return "data: " }

// heldEvents: held-back UTF-8 sends no event at all (§1g).
func (llamaCpp) heldEvents() bool { return false }

// chunk is a chat.completion.chunk: keys in ordered_json insertion order
// choices, created, id, model, system_fingerprint, object (§1a); created
// is std::time(0), taken again for every chunk.
func (d llamaCpp) chunk(g *gen, choices []obj, extra ...kv) obj {
	o := obj{
		{"choices", choices},
		{"created", time.Now().Unix()},
		{"id", g.id},
		{"model", d.model},
		{"system_fingerprint", llamaBuild},
		{"object", "chat.completion.chunk"},
	}
	return append(o, extra...)
}

// textChunk is a /v1/completions chunk: choices, created, model,
// system_fingerprint, object, [usage], id, [timings] (§1a). The choice is
// {"text","index","logprobs","finish_reason"}.
func (d llamaCpp) textChunk(g *gen, text string, finish any, final bool) obj {
	o := obj{
		{"choices", []obj{{{"text", text}, {"index", 0}, {"logprobs", nil}, {"finish_reason", finish}}}},
		{"created", time.Now().Unix()},
		{"model", d.model},
		{"system_fingerprint", llamaBuild},
		{"object", "text_completion"},
	}
	if final {
		o = append(o, kv{"usage", d.usage(g)})
	}
	o = append(o, kv{"id", g.id})
	if final {
		o = append(o, kv{"timings", d.timings(g)})
	}
	return o
}

// usage: completion_tokens, prompt_tokens, total_tokens (§1b).
func (llamaCpp) usage(g *gen) obj {
	return usage3(g, "completion_tokens", "prompt_tokens", "total_tokens")
}

// timings is result_timings::to_json() (§1c), measured: prompt_ms from
// the body's arrival to the first token, predicted_ms from the first
// token to the last, predicted_n the tokens generated. Nothing is cached,
// so cache_n is 0 and prompt_n is the whole prompt. A division by zero
// gives null, as nlohmann writes the C++ inf/nan.
func (llamaCpp) timings(g *gen) obj {
	promptMS := ms(g.first.Sub(g.received))
	predictedMS := ms(g.last.Sub(g.first))
	pn, dn := float64(g.prompt), float64(g.done)
	return obj{
		{"cache_n", 0},
		{"prompt_n", g.prompt},
		{"prompt_ms", promptMS},
		{"prompt_per_token_ms", promptMS / pn},
		{"prompt_per_second", 1e3 / promptMS * pn},
		{"predicted_n", g.done},
		{"predicted_ms", predictedMS},
		{"predicted_per_token_ms", predictedMS / dn},
		{"predicted_per_second", 1e3 / predictedMS * dn},
	}
}

// opening: chat's first result adds a role chunk,
// {"role":"assistant","content":null} (§1a).
func (d llamaCpp) opening(g *gen) []obj {
	if g.ep != chat {
		return nil
	}
	return []obj{d.chunk(g, []obj{{{"finish_reason", nil}, {"index", 0}, {"delta", obj{{"role", "assistant"}, {"content", nil}}}}})}
}

// token: a content delta, or a text chunk; no usage key, and no timings,
// since a length stop is only noticed after the last token's event is
// sent (§1b, §1c).
func (d llamaCpp) token(g *gen, text string, _ bool) obj {
	if g.ep == chat {
		return d.chunk(g, []obj{{{"finish_reason", nil}, {"index", 0}, {"delta", obj{{"content", text}}}}})
	}
	return d.textChunk(g, text, nil, false)
}

// closing: chat sends a finish chunk with an empty delta, then, if asked,
// a usage chunk with "choices":[]; timings go on the last of them.
// Completions send one final chunk with empty text, usage and timings,
// whether asked or not (§1a, §1b, §1c).
func (d llamaCpp) closing(g *gen) []obj {
	if g.ep != chat {
		return []obj{d.textChunk(g, "", "length", true)}
	}
	finish := []obj{{{"finish_reason", "length"}, {"index", 0}, {"delta", obj{}}}}
	if !g.usage {
		return []obj{d.chunk(g, finish, kv{"timings", d.timings(g)})}
	}
	return []obj{
		d.chunk(g, finish),
		d.chunk(g, []obj{}, kv{"usage", d.usage(g)}, kv{"timings", d.timings(g)}),
	}
}

// done: [DONE] ends both OAI endpoints (§1d).
func (llamaCpp) done(*gen) bool { return true }

// answer: to_json_oaicompat(_chat) of the final result, with the content
// that streaming leaves out (§1a). The chat message is
// {"role","content"}; the chat answer's order (choices, created, model,
// system_fingerprint, object, usage, id, timings) follows the completions
// one, not a literal in FACTS.
func (d llamaCpp) answer(g *gen) obj {
	text := g.text(0, g.done)
	if g.ep != chat {
		return d.textChunk(g, text, "length", true)
	}
	return obj{
		{"choices", []obj{{{"finish_reason", "length"}, {"index", 0}, {"message", obj{{"role", "assistant"}, {"content", text}}}}}},
		{"created", time.Now().Unix()},
		{"model", d.model},
		{"system_fingerprint", llamaBuild},
		{"object", "chat.completion"},
		{"usage", d.usage(g)},
		{"id", g.id},
		{"timings", d.timings(g)},
	}
}

// fail: {"error":{"code","message","type"}} with the status equal to code
// (format_error_response, §1e); the unknown-route 404 has its own order.
func (llamaCpp) fail(f failure) (int, obj) {
	e := func(code int, msg, typ string) obj {
		return obj{{"error", obj{{"code", code}, {"message", msg}, {"type", typ}}}}
	}
	switch f.kind {
	case badBody:
		return 400, e(400, "[json.exception.parse_error.101] parse error: "+f.detail, "invalid_request_error")
	case badMaxTokens:
		return 400, e(400, "max_tokens must be >= 0", "invalid_request_error")
	default:
		return 404, obj{{"error", obj{{"message", "File Not Found"}, {"type", "not_found_error"}, {"code", 404}}}}
	}
}

// page: /health and /v1/health are {"status":"ok"}; /v1/models is the
// README's literal (§1h) plus the Ollama-style "models" list the new code
// puts first; /props has the fields §1h names, with made-up values.
func (d llamaCpp) page(method, path string) (obj, bool) {
	if method != http.MethodGet {
		return nil, false
	}
	switch path {
	case "/health", "/v1/health":
		return obj{{"status", "ok"}}, true
	case "/v1/models", "/models":
		return obj{
			{"models", []obj{{
				{"name", d.model},
				{"model", d.model},
				{"modified_at", ""},
				{"size", ""},
				{"digest", ""},
				{"type", "model"},
				{"description", ""},
				{"tags", []string{""}},
				{"capabilities", []string{"completion"}},
				{"parameters", ""},
				{"details", obj{
					{"parent_model", ""},
					{"format", "gguf"},
					{"family", ""},
					{"families", []string{""}},
					{"parameter_size", ""},
					{"quantization_level", ""},
				}},
			}}},
			{"object", "list"},
			{"data", []obj{{
				{"id", d.model},
				{"object", "model"},
				{"created", time.Now().Unix()},
				{"owned_by", "llamacpp"},
				{"meta", obj{
					{"vocab_type", 2},
					{"n_vocab", 128256},
					{"n_ctx_train", 131072},
					{"n_embd", 4096},
					{"n_params", int64(8030261312)},
					{"size", int64(4912898304)},
				}},
			}}},
		}, true
	case "/props":
		return obj{
			{"default_generation_settings", obj{
				{"id", 0},
				{"id_task", -1},
				{"n_ctx", 4096},
				{"speculative", false},
				{"is_processing", false},
				{"params", obj{{"n_predict", -1}, {"temperature", 0.8}, {"stream", true}}},
			}},
			{"total_slots", 1},
			{"model_alias", d.model},
			{"model_path", d.model},
			{"modalities", obj{{"vision", false}, {"audio", false}}},
			{"chat_template", "{{ messages }}"},
			{"bos_token", "<|begin_of_text|>"},
			{"eos_token", "<|eot_id|>"},
			{"build_info", llamaBuild},
		}, true
	}
	return nil, false
}
