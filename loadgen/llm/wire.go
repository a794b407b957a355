package llm

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// body returns the JSON request body of req for the client's protocol.
func (c *Client) body(req Request) ([]byte, error) {
	m := map[string]any{}
	switch c.cfg.Protocol {
	case OpenAIChat:
		msgs := req.Messages
		if len(msgs) == 0 && req.Prompt != "" {
			msgs = []Message{{Role: "user", Content: req.Prompt}}
		}
		if msgs == nil {
			msgs = []Message{}
		}
		m["messages"] = msgs
	default:
		m["prompt"] = req.Prompt
	}
	if c.cfg.Protocol == Generate {
		if req.DoSample != nil {
			m["do_sample"] = *req.DoSample
		}
	} else {
		if c.cfg.Model != "" {
			m["model"] = c.cfg.Model
		}
		m["stream"] = c.cfg.Stream
		if c.cfg.Stream {
			m["stream_options"] = map[string]any{"include_usage": true}
		}
		if req.DoSample != nil && !*req.DoSample && req.Temperature == nil {
			m["temperature"] = 0.0
		}
	}
	if req.MaxTokens > 0 {
		m["max_tokens"] = req.MaxTokens
	}
	if req.Temperature != nil {
		m["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		m["top_p"] = *req.TopP
	}
	if req.TopK > 0 {
		m["top_k"] = req.TopK
	}
	if req.Seed != nil {
		m["seed"] = *req.Seed
	}
	if len(req.Stop) > 0 {
		m["stop"] = req.Stop
	}
	if req.IgnoreEOS {
		m["ignore_eos"] = true
	}
	for k, v := range req.Extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// chunk is any JSON object the servers send: a stream event or a whole
// answer of any protocol. Each protocol reads its own fields.
type chunk struct {
	// generate
	Text     *string  `json:"text"`
	TokenIDs []int    `json:"token_ids"`
	Done     bool     `json:"done"`
	Timings  *timings `json:"timings"` // refserver's, or llama.cpp's
	// vLLM's per-request metrics (--enable-per-request-metrics).
	Metrics *vllmMetrics `json:"metrics"`
	// OpenAI
	Choices []choice `json:"choices"`
	// shared
	Finish *string         `json:"finish_reason"`
	Model  string          `json:"model"`
	Usage  *usage          `json:"usage"`
	Error  json.RawMessage `json:"error"`
}

type choice struct {
	Text    *string  `json:"text"`    // completions
	Delta   *message `json:"delta"`   // chat, streamed
	Message *message `json:"message"` // chat, whole
	Finish  *string  `json:"finish_reason"`
}

type message struct {
	Content *string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// timings are a server's own latencies for the request: refserver's, in
// seconds, or llama.cpp's, in milliseconds and counts
// (internal/zoo/FACTS.md §1c).
type timings struct {
	Queue *float64 `json:"queue_s"`
	TTFT  *float64 `json:"ttft_s"`
	TPOT  *float64 `json:"tpot_s"`
	Total *float64 `json:"total_s"`

	CacheN              *float64 `json:"cache_n"`
	PromptN             *float64 `json:"prompt_n"`
	PromptMS            *float64 `json:"prompt_ms"`
	PromptPerTokenMS    *float64 `json:"prompt_per_token_ms"`
	PromptPerSecond     *float64 `json:"prompt_per_second"`
	PredictedN          *float64 `json:"predicted_n"`
	PredictedMS         *float64 `json:"predicted_ms"`
	PredictedPerTokenMS *float64 `json:"predicted_per_token_ms"`
	PredictedPerSecond  *float64 `json:"predicted_per_second"`
}

// llamaCpp reports whether these are llama.cpp's timings.
func (t *timings) llamaCpp() bool { return t.PromptMS != nil || t.PredictedMS != nil }

// vllmMetrics are vLLM's per-request metrics, in milliseconds
// (internal/zoo/FACTS.md §2c).
type vllmMetrics struct {
	TTFT            *float64 `json:"time_to_first_token_ms"`
	Generation      *float64 `json:"generation_time_ms"`
	Queue           *float64 `json:"queue_time_ms"`
	MeanITL         *float64 `json:"mean_itl_ms"`
	TokensPerSecond *float64 `json:"tokens_per_second"`
}

// content returns the generated text a chunk carries for protocol p, and
// its finish reason ("" when it has none).
func (ch *chunk) content(p Protocol) (text, finish string) {
	if ch.Finish != nil {
		finish = *ch.Finish
	}
	if p == Generate {
		if ch.Text != nil {
			text = *ch.Text
		}
		return text, finish
	}
	var b strings.Builder
	for _, c := range ch.Choices {
		switch {
		case c.Text != nil:
			b.WriteString(*c.Text)
		case c.Delta != nil && c.Delta.Content != nil:
			b.WriteString(*c.Delta.Content)
		case c.Message != nil && c.Message.Content != nil:
			b.WriteString(*c.Message.Content)
		}
		if c.Finish != nil && *c.Finish != "" {
			finish = *c.Finish
		}
	}
	return b.String(), finish
}

// errorMessage returns the message of an "error" member: OpenAI's object
// {"message", "type", ...}, or a plain string. It returns "" when raw is
// absent or null.
func errorMessage(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s, maxErrorBytes)
	}
	var o struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Message != "" {
		if o.Type != "" {
			return clip(o.Type+": "+o.Message, maxErrorBytes)
		}
		return clip(o.Message, maxErrorBytes)
	}
	return clip(string(raw), maxErrorBytes)
}

// bodyMessage returns what an error answer's body says: the message of its
// JSON "error" member when it has one, else the body itself, clipped.
func bodyMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if msg := errorMessage(e.Error); msg != "" {
			return msg
		}
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "empty body"
	}
	return clip(s, maxErrorBytes)
}

// maxErrorBytes is the most of a server's error text a Result keeps.
const maxErrorBytes = 1024

// clip returns s cut to at most n bytes of valid UTF-8 (invalid bytes
// replaced), marked with "…" when it was cut.
func clip(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > n {
		cut = true
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if cut {
		// A rune cut in two by s[:n] became U+FFFD: drop it.
		return strings.TrimSuffix(s, "\uFFFD") + "…"
	}
	return s
}
