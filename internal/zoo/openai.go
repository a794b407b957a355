package zoo

import (
	"net/http"
	"strconv"
	"time"
)

// openAI words the OpenAI API (FACTS.md §4). FACTS covers it briefly;
// where it is silent the shapes follow the API reference's examples.
type openAI struct {
	model string
}

// openAIFingerprint is the system_fingerprint of the reference's examples (§4a).
const openAIFingerprint = "fp_44709d6fcb"

// base: openai-version and x-request-id on every answer (§4c).
func (openAI) base(h http.Header, _ int) {
	h.Set("openai-version", "2020-10-01")
	h.Set("x-request-id", "req_"+randomString(hexLow, 32))
}

func (openAI) jsonType() string { return "application/json" }

// validate: max_tokens must be at least 1.
func (openAI) validate(rq request) *failure {
	if rq.maxTokens != nil && *rq.maxTokens < 1 {
		return &failure{kind: badMaxTokens, maxTokens: *rq.maxTokens}
	}
	return nil
}

// includeUsage: only when asked (§4b).
func (openAI) includeUsage(rq request) bool {
	return rq.includeUsage != nil && *rq.includeUsage
}

// newID: "chatcmpl-" or "cmpl-" + 29 of [0-9A-Za-z], as in the examples
// ("cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe", §4a).
func (openAI) newID(ep endpoint) string {
	if ep == chat {
		return "chatcmpl-" + randomString(alnum, 29)
	}
	return "cmpl-" + randomString(alnum, 29)
}

// headers: openai-processing-ms, "Time taken processing your API
// request" (§4c), in whole ms up to the headers: the whole handling time
// of a non-streamed answer, the time to the first event of a stream.
func (d openAI) headers(h http.Header, _ *gen, stream bool, elapsed time.Duration) {
	h.Set("openai-processing-ms", strconv.FormatInt(elapsed.Milliseconds(), 10))
	if stream {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		return
	}
	h.Set("Content-Type", d.jsonType())
}

// late: the stream's headers come with its first event, as llama.cpp's
// new era does "to match the OAI API behavior" (§1e); UNCONFIRMED for
// OpenAI itself.
func (openAI) late() bool { return true }

func (openAI) sse() string { return "data: " }

// heldEvents: a merged delta, as vLLM.
func (openAI) heldEvents() bool { return false }

// chatChunk: id, object, created (the same on every chunk), model,
// system_fingerprint, choices (§4a), and "usage":null on every chunk but
// the last when usage was asked for (§4b).
func (d openAI) chatChunk(g *gen, choices []obj) obj {
	o := obj{
		{"id", g.id},
		{"object", "chat.completion.chunk"},
		{"created", g.created},
		{"model", d.model},
		{"system_fingerprint", openAIFingerprint},
		{"choices", choices},
	}
	if g.usage {
		o = append(o, kv{"usage", nil})
	}
	return o
}

// textChunk: the legacy completions chunk, id, object, created, choices,
// model, system_fingerprint (§4a).
func (d openAI) textChunk(g *gen, choices []obj) obj {
	o := obj{
		{"id", g.id},
		{"object", "text_completion"},
		{"created", g.created},
		{"choices", choices},
		{"model", d.model},
		{"system_fingerprint", openAIFingerprint},
	}
	if g.usage {
		o = append(o, kv{"usage", nil})
	}
	return o
}

func textChoice(text string, finish any) []obj {
	return []obj{{{"text", text}, {"index", 0}, {"logprobs", nil}, {"finish_reason", finish}}}
}

func deltaChoice(delta obj, finish any) []obj {
	return []obj{{{"index", 0}, {"delta", delta}, {"logprobs", nil}, {"finish_reason", finish}}}
}

// opening: chat starts with {"role":"assistant","content":""} (§4a).
func (d openAI) opening(g *gen) []obj {
	if g.ep != chat {
		return nil
	}
	return []obj{d.chatChunk(g, deltaChoice(obj{{"role", "assistant"}, {"content", ""}}, nil))}
}

func (d openAI) token(g *gen, text string, _ bool) obj {
	if g.ep == chat {
		return d.chatChunk(g, deltaChoice(obj{{"content", text}}, nil))
	}
	return d.textChunk(g, textChoice(text, nil))
}

// usage: chat's has the details objects of recorded traffic (§4b);
// completions' only the three counts.
func (openAI) usage(g *gen) obj {
	u := usage3(g, "prompt_tokens", "completion_tokens", "total_tokens")
	if g.ep == chat {
		u = append(u,
			kv{"prompt_tokens_details", obj{{"cached_tokens", 0}}},
			kv{"completion_tokens_details", obj{{"reasoning_tokens", 0}}})
	}
	return u
}

// closing: a finish chunk with an empty delta (chat) or empty text, then,
// if asked, a chunk with "choices":[] and the usage (§4a, §4b).
func (d openAI) closing(g *gen) []obj {
	var out []obj
	if g.ep == chat {
		out = append(out, d.chatChunk(g, deltaChoice(obj{}, "length")))
	} else {
		out = append(out, d.textChunk(g, textChoice("", "length")))
	}
	if g.usage {
		var u obj
		if g.ep == chat {
			u = d.chatChunk(g, []obj{})
		} else {
			u = d.textChunk(g, []obj{})
		}
		u[len(u)-1].v = d.usage(g) // replaces "usage":null
		out = append(out, u)
	}
	return out
}

// done: data: [DONE] (§4d).
func (openAI) done(*gen) bool { return true }

// answer: the API reference's chat.completion and text_completion
// objects; FACTS has no literal of them.
func (d openAI) answer(g *gen) obj {
	text := g.text(0, g.done)
	if g.ep == chat {
		return obj{
			{"id", g.id},
			{"object", "chat.completion"},
			{"created", g.created},
			{"model", d.model},
			{"choices", []obj{{
				{"index", 0},
				{"message", obj{{"role", "assistant"}, {"content", text}, {"refusal", nil}, {"annotations", []obj{}}}},
				{"logprobs", nil},
				{"finish_reason", "length"},
			}}},
			{"usage", d.usage(g)},
			{"service_tier", "default"},
			{"system_fingerprint", openAIFingerprint},
		}
	}
	return obj{
		{"id", g.id},
		{"object", "text_completion"},
		{"created", g.created},
		{"model", d.model},
		{"choices", textChoice(text, "length")},
		{"usage", d.usage(g)},
		{"system_fingerprint", openAIFingerprint},
	}
}

// fail: {"error":{"message","type","param","code"}}, code a string or
// null (§4e). The messages are those the API gives.
func (openAI) fail(f failure) (int, obj) {
	e := func(msg string, param, code any) obj {
		return obj{{"error", obj{{"message", msg}, {"type", "invalid_request_error"}, {"param", param}, {"code", code}}}}
	}
	switch f.kind {
	case badBody:
		return 400, e("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. "+
			"The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, "+
			"please contact us through our help center at help.openai.com.)", nil, nil)
	case badMaxTokens:
		return 400, e("Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got "+
			strconv.Itoa(f.maxTokens)+" instead.", "max_tokens", "integer_below_min_value")
	default:
		return 404, e("Invalid URL ("+f.method+" "+f.path+")", nil, nil)
	}
}

// page: /v1/models, owned_by "system" (§4f–4h). There is no /health.
func (d openAI) page(method, path string) (obj, bool) {
	if method != http.MethodGet || path != "/v1/models" {
		return nil, false
	}
	return obj{
		{"object", "list"},
		{"data", []obj{{{"id", d.model}, {"object", "model"}, {"created", 1721172741}, {"owned_by", "system"}}}},
	}, true
}
