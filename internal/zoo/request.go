package zoo

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// endpoint is the generation route a request came in on.
type endpoint int

const (
	completions endpoint = iota // POST /v1/completions
	chat                        // POST /v1/chat/completions
	native                      // POST /generate_stream (TGI only)
)

// request is what the zoo reads from a generation request's body.
type request struct {
	model     string
	words     int  // prompt tokens: see countWords
	chars     int  // bytes of prompt text, for TGI's x-compute-characters
	maxTokens *int // max_tokens (or max_completion_tokens, or TGI's parameters.max_new_tokens); nil if absent
	stream    bool // "stream": true; /generate_stream always streams
	// streamOptions is whether "stream_options" was present and not null;
	// vLLM turns usage on for that alone (FACTS.md §2b).
	streamOptions bool
	includeUsage  *bool // stream_options.include_usage; nil if absent
	details       bool  // TGI parameters.details
}

// bodyError is a body that is not JSON, or JSON of the wrong shape.
type bodyError struct{ detail string }

func (e *bodyError) Error() string { return "read request body: " + e.detail }

// wireRequest is the JSON a client sends. Only the fields the zoo acts
// on are read; everything else is ignored, as the servers ignore
// sampling parameters a fake has no use for.
type wireRequest struct {
	Model               string          `json:"model"`
	Prompt              json.RawMessage `json:"prompt"`
	Messages            []wireMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	// TGI's native /generate_stream body.
	Inputs     string `json:"inputs"`
	Parameters *struct {
		MaxNewTokens *int `json:"max_new_tokens"`
		Details      bool `json:"details"`
	} `json:"parameters"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parseRequest reads a generation request's body. Its errors are
// *bodyError; the caller answers them in its kind's error shape.
func parseRequest(body []byte, ep endpoint) (request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return request{}, &bodyError{err.Error()}
	}
	rq := request{model: w.Model, stream: w.Stream, maxTokens: w.MaxTokens}
	if rq.maxTokens == nil {
		rq.maxTokens = w.MaxCompletionTokens
	}
	if w.StreamOptions != nil {
		rq.streamOptions = true
		rq.includeUsage = w.StreamOptions.IncludeUsage
	}
	var texts []string
	switch ep {
	case completions:
		t, err := promptTexts(w.Prompt)
		if err != nil {
			return request{}, &bodyError{err.Error()}
		}
		texts = t
	case chat:
		for i, m := range w.Messages {
			t, err := contentTexts(m.Content)
			if err != nil {
				return request{}, &bodyError{"messages[" + strconv.Itoa(i) + "].content: " + err.Error()}
			}
			texts = append(texts, t...)
		}
	case native:
		texts = []string{w.Inputs}
		rq.stream = true
		rq.maxTokens = nil
		if p := w.Parameters; p != nil {
			rq.maxTokens = p.MaxNewTokens
			rq.details = p.Details
		}
	}
	for _, t := range texts {
		rq.words += countWords(t)
		rq.chars += len(t)
	}
	return rq, nil
}

// countWords stands in for a tokenizer: the zoo reports a prompt's token
// count (usage.prompt_tokens, timings.prompt_n, ...) as the number of
// whitespace-separated words in the prompt, or in all messages' contents
// together. No chat template is applied, so role names and special tokens
// are not counted.
func countWords(s string) int { return len(strings.Fields(s)) }

// promptTexts reads /v1/completions' "prompt": a string or a list of
// strings (absent is an empty prompt).
func promptTexts(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("prompt: want a string or a list of strings")
	}
	return list, nil
}

// contentTexts reads a chat message's "content": a string, null, or a list
// of parts whose "text" members are the text.
func contentTexts(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, errors.New("want a string or a list of parts")
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		texts = append(texts, p.Text)
	}
	return texts, nil
}

// traceID returns the trace id of a W3C traceparent header,
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", in lower case,
// and whether the header had that form. An all-zero trace id is invalid.
func traceID(traceparent string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return "", false
	}
	if parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return "", false
	}
	for _, p := range parts[:4] {
		if !isHex(p) {
			return "", false
		}
	}
	id := strings.ToLower(parts[1])
	if id == strings.Repeat("0", 32) {
		return "", false
	}
	return id, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
