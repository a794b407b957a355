package zoo

import (
	"net/http"
	"strconv"
	"time"
)

// tgi words Hugging Face text-generation-inference v3 (FACTS.md §3).
type tgi struct {
	model string // info.model_id, on every chunk whatever the request says (§3a)
}

const (
	tgiVersion     = "3.1.2-dev0"
	tgiFingerprint = tgiVersion + "-native" // version + "-" + docker_label or "native" (§3a)
)

// base: TGI sets no Server or Keep-Alive header (§3f).
func (tgi) base(http.Header, int) {}

// jsonType: axum's Json.
func (tgi) jsonType() string { return "application/json" }

// validate: max_new_tokens (max_tokens on the OpenAI routes) must be
// strictly positive, a 422 validation error (§3e).
func (tgi) validate(rq request) *failure {
	if rq.maxTokens != nil && *rq.maxTokens < 1 {
		return &failure{kind: badMaxTokens, maxTokens: *rq.maxTokens}
	}
	return nil
}

// includeUsage: stream_options.include_usage (§3b).
func (tgi) includeUsage(rq request) bool {
	return rq.includeUsage != nil && *rq.includeUsage
}

// newID: always "" (§3a).
func (tgi) newID(endpoint) string { return "" }

// headers: every generation answer has x-compute-type and
// x-compute-characters; streams add X-Accel-Buffering and go out before
// generation, so they carry no timings; a non-streamed answer has the
// timing headers, in integer ms except x-compute-time in float seconds
// (§3c). The fake has no validation or queue, so those are 0 and the
// inference time is the total. axum's Sse adds Cache-Control: no-cache.
func (tgi) headers(h http.Header, g *gen, stream bool, elapsed time.Duration) {
	h.Set("x-compute-type", "gpu+optimized")
	h.Set("x-compute-characters", strconv.Itoa(g.chars))
	if stream {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		return
	}
	total := elapsed.Milliseconds()
	perToken := int64(0)
	if g.done > 0 {
		perToken = total / int64(g.done)
	}
	h.Set("Content-Type", "application/json")
	h.Set("x-compute-time", strconv.FormatFloat(elapsed.Seconds(), 'f', -1, 64))
	h.Set("x-total-time", strconv.FormatInt(total, 10))
	h.Set("x-validation-time", "0")
	h.Set("x-queue-time", "0")
	h.Set("x-inference-time", strconv.FormatInt(total, 10))
	h.Set("x-time-per-token", strconv.FormatInt(perToken, 10))
	h.Set("x-prompt-tokens", strconv.Itoa(g.prompt))
	h.Set("x-generated-tokens", strconv.Itoa(g.done))
}

// late: the headers go out before generation (§3c).
func (tgi) late() bool { return false }

// sse: axum writes "data:" with no space (§3).
func (tgi) sse() string { return "data:" }

// heldEvents: one event per token, always; a token whose text is an
// unfinished character gets empty text (§3g).
func (tgi) heldEvents() bool { return true }

// opening: no role chunk; every delta carries the role (§3a).
func (tgi) opening(*gen) []obj { return nil }

// usage: prompt_tokens, completion_tokens, total_tokens (§3b).
func (tgi) usage(g *gen) obj {
	return usage3(g, "prompt_tokens", "completion_tokens", "total_tokens")
}

// token: chat chunks have "object" first (serde tag), id "", created per
// chunk, the role on every delta, "usage":null, and the finish_reason with
// the last token's text. Completions chunks have finish_reason "" until
// the last, which is a CompletionFinal with the finish reason and usage.
// /generate_stream sends StreamResponse, index counted from 1 (§3a, §3d).
func (d tgi) token(g *gen, text string, last bool) obj {
	now := time.Now().Unix()
	switch g.ep {
	case chat:
		var finish any
		if last {
			finish = "length"
		}
		return obj{
			{"object", "chat.completion.chunk"},
			{"id", ""},
			{"created", now},
			{"model", d.model},
			{"system_fingerprint", tgiFingerprint},
			{"choices", []obj{{{"index", 0}, {"delta", obj{{"role", "assistant"}, {"content", text}}}, {"logprobs", nil}, {"finish_reason", finish}}}},
			{"usage", nil},
		}
	case completions:
		if !last {
			return obj{
				{"object", "text_completion"},
				{"id", ""},
				{"created", now},
				{"choices", []obj{{{"index", 0}, {"text", text}, {"logprobs", nil}, {"finish_reason", ""}}}},
				{"model", d.model},
				{"system_fingerprint", tgiFingerprint},
			}
		}
		return obj{
			{"object", "text_completion"},
			{"id", ""},
			{"created", now},
			{"model", d.model},
			{"system_fingerprint", tgiFingerprint},
			{"choices", []obj{{{"index", 0}, {"text", text}, {"logprobs", nil}, {"finish_reason", "length"}}}},
			{"usage", d.usage(g)},
		}
	default:
		ev := obj{
			{"index", g.done},
			{"token", obj{{"id", 1000 + g.done - 1}, {"text", text}, {"logprob", -0.1}, {"special", false}}},
			{"generated_text", nil},
			{"details", nil},
		}
		if last {
			ev[2].v = g.text(0, g.done)
			if g.details {
				ev[3].v = obj{{"finish_reason", "length"}, {"generated_tokens", g.done}, {"seed", nil}, {"input_length", g.prompt}}
			}
		}
		return ev
	}
}

// closing: chat adds a "choices":[] usage chunk when asked (§3b);
// completions already carried usage on the last token.
func (d tgi) closing(g *gen) []obj {
	if g.ep != chat || !g.usage {
		return nil
	}
	return []obj{{
		{"object", "chat.completion.chunk"},
		{"id", ""},
		{"created", time.Now().Unix()},
		{"model", d.model},
		{"system_fingerprint", tgiFingerprint},
		{"choices", []obj{}},
		{"usage", d.usage(g)},
	}}
}

// done: the OpenAI routes end with data:[DONE]; /generate_stream does not
// (§3d).
func (tgi) done(g *gen) bool { return g.ep != native }

// answer: the non-streamed ChatCompletion / Completion structs (id "",
// the struct's field order, a plain finish_reason string); FACTS has no
// literal of these.
func (d tgi) answer(g *gen) obj {
	text := g.text(0, g.done)
	now := time.Now().Unix()
	if g.ep == chat {
		return obj{
			{"object", "chat.completion"},
			{"id", ""},
			{"created", now},
			{"model", d.model},
			{"system_fingerprint", tgiFingerprint},
			{"choices", []obj{{{"index", 0}, {"message", obj{{"role", "assistant"}, {"content", text}}}, {"logprobs", nil}, {"finish_reason", "length"}}}},
			{"usage", d.usage(g)},
		}
	}
	return obj{
		{"id", ""},
		{"object", "text_completion"},
		{"created", now},
		{"model", d.model},
		{"system_fingerprint", tgiFingerprint},
		{"choices", []obj{{{"index", 0}, {"text", text}, {"logprobs", nil}, {"finish_reason", "length"}}}},
		{"usage", d.usage(g)},
	}
}

// fail: ErrorResponse {"error": "<message>", "error_type": "<type>"}
// (§3e). A body that is not JSON is answered 422 "validation" here, the
// zoo's choice: FACTS has no record of it, and axum's own Json rejection
// is plain text (400 for bad syntax, 422 for the wrong shape). An
// unknown route is axum's default fallback: 404 with an empty body.
func (tgi) fail(f failure) (int, obj) {
	switch f.kind {
	case badBody:
		return 422, obj{{"error", "Failed to parse the request body as JSON: " + f.detail}, {"error_type", "validation"}}
	case badMaxTokens:
		return 422, obj{{"error", "Input validation error: `max_new_tokens` must be strictly positive"}, {"error_type", "validation"}}
	default:
		return 404, nil
	}
}

// page: /health (and / and /ping) is 200 with an empty body; /v1/models
// has created 0 and owned_by the model id (§3h); /info has the ~v2.4
// openapi Info fields (§3h) with made-up limits.
func (d tgi) page(method, path string) (obj, bool) {
	if method != http.MethodGet {
		return nil, false
	}
	switch path {
	case "/health", "/", "/ping":
		return nil, true
	case "/v1/models":
		return obj{
			{"object", "list"},
			{"data", []obj{{{"id", d.model}, {"object", "model"}, {"created", 0}, {"owned_by", d.model}}}},
		}, true
	case "/info":
		return obj{
			{"model_id", d.model},
			{"model_sha", nil},
			{"model_pipeline_tag", "text-generation"},
			{"max_concurrent_requests", 128},
			{"max_best_of", 2},
			{"max_stop_sequences", 4},
			{"max_input_tokens", 8191},
			{"max_total_tokens", 8192},
			{"validation_workers", 2},
			{"max_client_batch_size", 4},
			{"router", "text-generation-router"},
			{"version", tgiVersion},
			{"sha", nil},
			{"docker_label", nil},
		}, true
	}
	return nil, false
}
