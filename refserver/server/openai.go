package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// OpenAI's defaults where a request leaves a field out.
const (
	openaiMaxTokens   = 16
	openaiTemperature = 1.0
	chatMaxTokens     = 256
)

// openaiCommon are the fields both OpenAI routes share. Fields that do
// not change what is generated (penalties at their defaults, user, ...)
// are accepted and ignored, so that benchmark tools work unchanged; those
// that ask for more than refserver returns (n > 1, best_of > 1, echo,
// logprobs) are refused with a 400 rather than silently ignored.
type openaiCommon struct {
	Model         string   `json:"model"`
	MaxTokens     *int     `json:"max_tokens"`
	Temperature   *float64 `json:"temperature"`
	TopP          *float64 `json:"top_p"`
	TopK          int      `json:"top_k"` // vLLM's extension
	N             *int     `json:"n"`
	Stream        bool     `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Stop      stringList `json:"stop"`
	Seed      *int64     `json:"seed"`
	IgnoreEOS bool       `json:"ignore_eos"` // vLLM's extension, for benchmarks

	// Refused unless left at their defaults.
	BestOf      *int            `json:"best_of"`
	Echo        *bool           `json:"echo"`
	Logprobs    json.RawMessage `json:"logprobs"` // an int (completions) or a bool (chat)
	TopLogprobs *int            `json:"top_logprobs"`
}

func (c *openaiCommon) job(j *job, defMax int, maxTokens *int) *apiError {
	if c.N != nil && *c.N != 1 {
		return badRequest("n", "n is %d; refserver returns one choice per request", *c.N)
	}
	if c.BestOf != nil && *c.BestOf != 1 {
		return badRequest("best_of", "best_of is %d; refserver generates one completion per request", *c.BestOf)
	}
	if c.Echo != nil && *c.Echo {
		return badRequest("echo", "echo is not supported: the response holds the completion only")
	}
	if lp := strings.TrimSpace(string(c.Logprobs)); lp != "" && lp != "null" && lp != "false" && lp != "0" {
		return badRequest("logprobs", "logprobs (%s) are not supported by refserver", lp)
	}
	if c.TopLogprobs != nil && *c.TopLogprobs != 0 {
		return badRequest("top_logprobs", "top_logprobs is %d; logprobs are not supported by refserver", *c.TopLogprobs)
	}
	if maxTokens == nil {
		maxTokens = c.MaxTokens
	}
	j.ignoreEOS = c.IgnoreEOS
	sm := sampling{temperature: openaiTemperature, topK: c.TopK, topP: c.TopP, seed: c.Seed}
	if c.Temperature != nil {
		sm.temperature = *c.Temperature
	}
	return j.check(maxTokens, defMax, sm, c.Stop)
}

func (c *openaiCommon) includeUsage() bool {
	return c.StreamOptions != nil && c.StreamOptions.IncludeUsage
}

type completionRequest struct {
	openaiCommon
	Prompt promptField `json:"prompt"`
}

type chatRequest struct {
	openaiCommon
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Messages            []chatMessage `json:"messages"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	text    string          // Content as text: contentText
}

// chatTemplate renders chat messages as GPT-2's prompt. GPT-2 has no chat
// format, so the template is plain text, one line per message, with the
// assistant's turn left open:
//
//	System: You are terse.
//	User: Hello!
//	Assistant: Hi.
//	User: How are you?
//	Assistant:
//
// Generation also stops at "\nUser:", so the model does not write the
// user's next turn.
func chatTemplate(msgs []chatMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		role := m.Role
		if role != "" {
			role = strings.ToUpper(role[:1]) + role[1:]
		}
		b.WriteString(role)
		b.WriteString(": ")
		b.WriteString(m.text)
		b.WriteString("\n")
	}
	b.WriteString("Assistant:")
	return b.String()
}

// chatStop is the stop sequence the chat template adds.
const chatStop = "\nUser:"

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	j := &job{route: "completions", received: time.Now()}
	var req completionRequest
	if e := decodeJSON(r, s.cfg.MaxBodyBytes, s.cfg.BodyTimeout, &req); e != nil {
		s.fail(w, j, e)
		return
	}
	switch {
	case !req.Prompt.set:
		s.fail(w, j, badRequest("prompt", "prompt is missing"))
		return
	case req.Prompt.ids != nil:
		j.ids = req.Prompt.ids
	case req.Prompt.text == "":
		s.fail(w, j, badRequest("prompt", "prompt is empty"))
		return
	default:
		j.text = req.Prompt.text
	}
	if e := req.job(j, openaiMaxTokens, nil); e != nil {
		s.fail(w, j, e)
		return
	}
	id, created := newID("cmpl-"), time.Now().Unix()
	chunk := func(text string, finish *string) map[string]any {
		c := map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.cfg.ModelName,
			"choices": []map[string]any{{"text": text, "index": 0, "logprobs": nil, "finish_reason": finish}}}
		if req.Stream && req.includeUsage() {
			c["usage"] = nil // OpenAI: every chunk but the usage one carries "usage": null
		}
		return c
	}
	if !req.Stream {
		res, e := s.run(r.Context(), j, nil)
		if e != nil {
			s.fail(w, j, e)
			return
		}
		body := chunk(res.text, &res.finish)
		body["usage"] = usageOf(res.stats)
		body["timings"] = j.timings(res.stats)
		writeJSON(w, http.StatusOK, body)
		s.metrics.request(j.route, http.StatusOK, "")
		return
	}
	sse := newSSE(w)
	res, e := s.run(r.Context(), j, func(text string, _ []int) error { return sse.data(chunk(text, nil)) })
	if e != nil {
		s.fail(w, j, e, sse)
		return
	}
	// The finishing chunk carries the server's own timings, as llama.cpp's
	// does: a client without traces can still split queue, prefill and
	// decode.
	fin := chunk("", &res.finish)
	fin["timings"] = j.timings(res.stats)
	sse.data(fin)
	if req.includeUsage() {
		sse.data(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.cfg.ModelName,
			"choices": []any{}, "usage": usageOf(res.stats)})
	}
	sse.done()
	s.metrics.request(j.route, http.StatusOK, "")
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	j := &job{route: "chat_completions", received: time.Now()}
	var req chatRequest
	if e := decodeJSON(r, s.cfg.MaxBodyBytes, s.cfg.BodyTimeout, &req); e != nil {
		s.fail(w, j, e)
		return
	}
	if len(req.Messages) == 0 {
		s.fail(w, j, badRequest("messages", "messages is empty: want at least one {role, content}"))
		return
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer":
		default:
			s.fail(w, j, badRequest("messages", "messages[%d].role is %q, want system, user or assistant", i, m.Role))
			return
		}
		text, e := contentText(i, m.Content)
		if e != nil {
			s.fail(w, j, e)
			return
		}
		req.Messages[i].text = text
	}
	j.text = chatTemplate(req.Messages)
	maxTokens := req.MaxCompletionTokens
	if e := req.job(j, chatMaxTokens, maxTokens); e != nil {
		s.fail(w, j, e)
		return
	}
	if len(j.stop) < 4 {
		j.stop = append(j.stop, chatStop)
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()
	chunk := func(delta map[string]any, finish *string) map[string]any {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": s.cfg.ModelName,
			"choices": []map[string]any{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
		if req.Stream && req.includeUsage() {
			c["usage"] = nil // OpenAI: every chunk but the usage one carries "usage": null
		}
		return c
	}
	if !req.Stream {
		res, e := s.run(r.Context(), j, nil)
		if e != nil {
			s.fail(w, j, e)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "chat.completion", "created": created, "model": s.cfg.ModelName,
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.TrimPrefix(res.text, " ")},
				"logprobs": nil, "finish_reason": res.finish}},
			"usage": usageOf(res.stats), "timings": j.timings(res.stats)})
		s.metrics.request(j.route, http.StatusOK, "")
		return
	}
	sse := newSSE(w)
	first := true
	res, e := s.run(r.Context(), j, func(text string, _ []int) error {
		if first {
			first = false
			text = strings.TrimPrefix(text, " ")
			// The role arrives alone first, as OpenAI sends it; a client's
			// TTFT counts from the first event that carries text.
			if err := sse.data(chunk(map[string]any{"role": "assistant", "content": ""}, nil)); err != nil {
				return err
			}
			if text == "" {
				return nil
			}
		}
		return sse.data(chunk(map[string]any{"content": text}, nil))
	})
	if e != nil {
		s.fail(w, j, e, sse)
		return
	}
	fin := chunk(map[string]any{}, &res.finish)
	fin["timings"] = j.timings(res.stats)
	sse.data(fin)
	if req.includeUsage() {
		sse.data(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": s.cfg.ModelName,
			"choices": []any{}, "usage": usageOf(res.stats)})
	}
	sse.done()
	s.metrics.request(j.route, http.StatusOK, "")
}
