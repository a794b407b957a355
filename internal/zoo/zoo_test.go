package zoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quick is a schedule short enough for busy machines; the tests check
// shapes and counts, never times.
func quick(k Kind) Config {
	return Config{Kind: k, Prefill: 2 * time.Millisecond, Gap: time.Millisecond}
}

// profile is what a client can tell each kind apart by.
type profile struct {
	prefix   string         // SSE data prefix
	chatID   *regexp.Regexp // id of chat chunks
	cmplID   *regexp.Regexp // id of completions chunks
	firstKey string         // the first key of every chunk, as written
	// role is the role chunk's delta as written, "" if chat has none.
	role string
	// finishAlone: finish_reason comes in a chunk of its own, with an
	// empty delta (chat) or empty text (completions); otherwise it comes
	// with the last token's text.
	finishAlone bool
	// timings: the last event carries llama.cpp's "timings".
	timings bool
	// headers every stream carries.
	headers map[string]string
}

var profiles = map[Kind]profile{
	LlamaCpp: {
		prefix:      "data: ",
		chatID:      regexp.MustCompile(`^chatcmpl-[0-9A-Za-z]{32}$`),
		cmplID:      regexp.MustCompile(`^chatcmpl-[0-9A-Za-z]{32}$`),
		firstKey:    `{"choices":`,
		role:        `"delta":{"role":"assistant","content":null}`,
		finishAlone: true,
		timings:     true,
		headers: map[string]string{
			"Server":            "llama.cpp",
			"Keep-Alive":        "timeout=5, max=100",
			"Content-Type":      "text/event-stream",
			"X-Accel-Buffering": "no",
		},
	},
	VLLM: {
		prefix:   "data: ",
		chatID:   regexp.MustCompile(`^chatcmpl-[0-9a-f]{32}$`),
		cmplID:   regexp.MustCompile(`^cmpl-[0-9a-f]{32}$`),
		firstKey: `{"id":`,
		role:     `"delta":{"role":"assistant","content":""}`,
		headers: map[string]string{
			"Server":       "uvicorn",
			"Content-Type": "text/event-stream; charset=utf-8",
		},
	},
	TGI: {
		prefix:   "data:",
		chatID:   regexp.MustCompile(`^$`),
		cmplID:   regexp.MustCompile(`^$`),
		firstKey: `{"object":`,
		headers: map[string]string{
			"X-Compute-Type":       "gpu+optimized",
			"X-Compute-Characters": "13", // "one two three"
			"X-Accel-Buffering":    "no",
			"Content-Type":         "text/event-stream",
		},
	},
	OpenAI: {
		prefix:      "data: ",
		chatID:      regexp.MustCompile(`^chatcmpl-[0-9A-Za-z]{29}$`),
		cmplID:      regexp.MustCompile(`^cmpl-[0-9A-Za-z]{29}$`),
		firstKey:    `{"id":`,
		role:        `"delta":{"role":"assistant","content":""}`,
		finishAlone: true,
		headers: map[string]string{
			"Content-Type":   "text/event-stream; charset=utf-8",
			"Openai-Version": "2020-10-01",
		},
	},
}

// The prompt every test sends: three words, 13 bytes.
const prompt = "one two three"

// body returns a generation request body for path; extra is added as is
// (e.g. `,"stream_options":{}`).
func body(path string, maxTokens int, stream bool, extra string) string {
	input := `"messages":[{"role":"user","content":"` + prompt + `"}]`
	if path == "/v1/completions" {
		input = `"prompt":"` + prompt + `"`
	}
	return fmt.Sprintf(`{%s,"max_tokens":%d,"stream":%t%s}`, input, maxTokens, stream, extra)
}

// newClient returns a client whose connections are closed when the test ends.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// newTrace returns a traceparent header and its trace id.
func newTrace() (string, string) {
	id := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64()|1)
	return "00-" + id + "-00f067aa0ba902b7-01", id
}

// do sends a request and reads the whole answer.
func do(t *testing.T, c *http.Client, method, url, reqBody, traceparent string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, string(b)
}

// frame is one server-sent event: its data as written, and decoded.
type frame struct {
	data string
	v    map[string]any
}

// parseSSE splits a stream into its events, checking the framing: every
// event is prefix+data+"\n\n". It reports whether the stream ended with
// [DONE], which must be the last event.
func parseSSE(t *testing.T, stream, prefix string) (frames []frame, done bool) {
	t.Helper()
	if !strings.HasSuffix(stream, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", stream)
	}
	for _, ev := range strings.Split(strings.TrimSuffix(stream, "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, prefix)
		if !ok || strings.HasPrefix(data, " ") || strings.Contains(data, "\n") {
			t.Fatalf("event %q: want one line %q+data", ev, prefix)
		}
		if done {
			t.Fatalf("event %q after [DONE]", ev)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		frames = append(frames, frame{data, v})
	}
	return frames, done
}

// choice returns a chunk's first choice, or nil if choices is empty.
func choice(t *testing.T, f frame) map[string]any {
	t.Helper()
	cs, ok := f.v["choices"].([]any)
	if !ok {
		t.Fatalf("chunk %s: no choices array", f.data)
	}
	if len(cs) == 0 {
		return nil
	}
	return cs[0].(map[string]any)
}

// textOf returns the text a chunk's choice carries.
func textOf(c map[string]any, path string) string {
	if path == "/v1/completions" {
		s, _ := c["text"].(string)
		return s
	}
	d, _ := c["delta"].(map[string]any)
	s, _ := d["content"].(string)
	return s
}

var endpoints = []struct {
	path, object string
}{
	{"/v1/chat/completions", "chat.completion.chunk"},
	{"/v1/completions", "text_completion"},
}

func TestStream(t *testing.T) {
	const maxTokens = 5
	for _, k := range Kinds() {
		for _, ep := range endpoints {
			t.Run(string(k)+ep.path, func(t *testing.T) {
				p := profiles[k]
				s, url := Start(t, quick(k))
				traceparent, trace := newTrace()
				resp, got := do(t, newClient(t), "POST", url+ep.path, body(ep.path, maxTokens, true, ""), traceparent)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, got)
				}
				for h, want := range p.headers {
					if got := resp.Header.Get(h); got != want {
						t.Errorf("header %s = %q, want %q", h, got, want)
					}
				}
				frames, done := parseSSE(t, got, p.prefix)
				if !done {
					t.Errorf("no [DONE]")
				}
				idRE := p.chatID
				if ep.path == "/v1/completions" {
					idRE = p.cmplID
				}
				var (
					text     strings.Builder
					textEvs  int
					finishes []int // frames with a finish_reason
					lastText int   // the last frame with text
					firstID  = frames[0].v["id"]
					isChat   = ep.path == "/v1/chat/completions"
				)
				for i, f := range frames {
					if !strings.HasPrefix(f.data, p.firstKey) {
						t.Errorf("chunk %d starts %.20q, want %q", i, f.data, p.firstKey)
					}
					if id, _ := f.v["id"].(string); !idRE.MatchString(id) || f.v["id"] != firstID {
						t.Errorf("chunk %d id %q: want one id matching %s", i, id, idRE)
					}
					if f.v["object"] != ep.object {
						t.Errorf("chunk %d object %v, want %s", i, f.v["object"], ep.object)
					}
					if _, ok := f.v["timings"]; ok != (p.timings && i == len(frames)-1) {
						t.Errorf("chunk %d: timings present %t, want %t", i, ok, p.timings && i == len(frames)-1)
					}
					c := choice(t, f)
					if c == nil {
						t.Errorf("chunk %d: usage chunk without include_usage: %s", i, f.data)
						continue
					}
					if s := textOf(c, ep.path); s != "" {
						text.WriteString(s)
						textEvs++
						lastText = i
					}
					if fr := c["finish_reason"]; fr != nil && fr != "" {
						finishes = append(finishes, i)
						if fr != "length" {
							t.Errorf("chunk %d finish_reason %v, want length", i, fr)
						}
					}
				}
				if want := " tok0 tok1 tok2 tok3 tok4"; text.String() != want {
					t.Errorf("text %q, want %q", text.String(), want)
				}
				if textEvs != maxTokens {
					t.Errorf("%d text events, want %d", textEvs, maxTokens)
				}
				if isChat && p.role != "" && !strings.Contains(frames[0].data, p.role) {
					t.Errorf("first chunk %s, want role delta %s", frames[0].data, p.role)
				}
				if len(finishes) != 1 {
					t.Fatalf("finish_reason on chunks %v, want one", finishes)
				}
				if alone := finishes[0] != lastText; alone != p.finishAlone {
					t.Errorf("finish_reason in a chunk of its own: %t, want %t", alone, p.finishAlone)
				}
				if p.finishAlone && isChat && !strings.Contains(frames[finishes[0]].data, `"delta":{}`) {
					t.Errorf("finish chunk %s: want an empty delta", frames[finishes[0]].data)
				}
				if p.timings {
					tm := frames[len(frames)-1].v["timings"].(map[string]any)
					for _, key := range []string{"cache_n", "prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second",
						"predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second"} {
						if _, ok := tm[key]; !ok {
							t.Errorf("timings lack %s", key)
						}
					}
					if tm["predicted_n"] != float64(maxTokens) || tm["prompt_n"] != 3.0 {
						t.Errorf("timings predicted_n %v prompt_n %v, want %d and 3", tm["predicted_n"], tm["prompt_n"], maxTokens)
					}
				}
				evs := s.Events(trace)
				total := 0
				for _, ev := range evs {
					total += ev.Tokens
				}
				if len(evs) != textEvs || total != maxTokens {
					t.Errorf("Events: %d carrying %d tokens, want %d carrying %d", len(evs), total, textEvs, maxTokens)
				}
				if s.Served() != 1 {
					t.Errorf("Served() = %d, want 1", s.Served())
				}
			})
		}
	}
}

func TestFirstEventTokens(t *testing.T) {
	const maxTokens = 5
	for _, k := range Kinds() {
		for _, ep := range endpoints {
			t.Run(string(k)+ep.path, func(t *testing.T) {
				cfg := quick(k)
				cfg.FirstEventTokens = 3
				s, url := Start(t, cfg)
				traceparent, trace := newTrace()
				_, got := do(t, newClient(t), "POST", url+ep.path, body(ep.path, maxTokens, true, ""), traceparent)
				frames, _ := parseSSE(t, got, profiles[k].prefix)
				var texts []string
				tokenEvents := 0 // events for a token, with or without text
				for _, f := range frames {
					c := choice(t, f)
					if c == nil {
						continue
					}
					s := textOf(c, ep.path)
					if s != "" {
						texts = append(texts, s)
					}
					if s != "" || k == TGI {
						tokenEvents++ // TGI: one event per token, with empty text while held back
					}
				}
				want := []string{" tok0 tok1 tok2", " tok3", " tok4"}
				if !slices.Equal(texts, want) {
					t.Errorf("text events %q, want %q", texts, want)
				}
				wantEvents := len(want)
				if k == TGI {
					wantEvents = maxTokens
				}
				if tokenEvents != wantEvents {
					t.Errorf("%d token events, want %d", tokenEvents, wantEvents)
				}
				evs := s.Events(trace)
				if len(evs) != 3 || evs[0].Tokens != 3 || evs[1].Tokens != 1 || evs[2].Tokens != 1 {
					t.Errorf("Events %+v, want tokens 3, 1, 1", evs)
				}
			})
		}
	}
}

func TestIncludeUsage(t *testing.T) {
	// The ways a request can ask, and what each kind does with them.
	opts := map[string]string{
		"absent": "",
		"true":   `,"stream_options":{"include_usage":true}`,
		"false":  `,"stream_options":{"include_usage":false}`,
		"empty":  `,"stream_options":{}`,
	}
	tests := []struct {
		kind Kind
		path string
		// chunk lists the opts that give a "choices":[] usage chunk.
		chunk []string
		// null lists the opts that put "usage":null on the other chunks;
		// with the rest they have no usage key.
		null []string
		// lastUsage: the last token or finish chunk carries usage whatever
		// the request asked.
		lastUsage bool
	}{
		{LlamaCpp, "/v1/chat/completions", []string{"true"}, nil, false},
		{LlamaCpp, "/v1/completions", nil, nil, true},
		{VLLM, "/v1/chat/completions", []string{"true", "empty"}, nil, false},
		{VLLM, "/v1/completions", []string{"true", "empty"}, []string{"absent", "true", "false", "empty"}, false},
		{TGI, "/v1/chat/completions", []string{"true"}, []string{"absent", "true", "false", "empty"}, false},
		{TGI, "/v1/completions", nil, nil, true},
		{OpenAI, "/v1/chat/completions", []string{"true"}, []string{"true"}, false},
		{OpenAI, "/v1/completions", []string{"true"}, []string{"true"}, false},
	}
	for _, tt := range tests {
		for _, opt := range []string{"absent", "true", "false", "empty"} {
			t.Run(string(tt.kind)+tt.path+"/"+opt, func(t *testing.T) {
				_, url := Start(t, quick(tt.kind))
				_, got := do(t, newClient(t), "POST", url+tt.path, body(tt.path, 5, true, opts[opt]), "")
				frames, _ := parseSSE(t, got, profiles[tt.kind].prefix)
				wantChunk := slices.Contains(tt.chunk, opt)
				wantNull := slices.Contains(tt.null, opt)
				usageChunks := 0
				for i, f := range frames {
					u, has := f.v["usage"]
					isLast := i == len(frames)-1
					switch {
					case choice(t, f) == nil:
						usageChunks++
						checkUsage(t, f, u)
						if i != len(frames)-1 {
							t.Errorf("usage chunk %d is not the last", i)
						}
					case tt.lastUsage && isLast:
						checkUsage(t, f, u)
					case wantNull:
						if !has || u != nil {
							t.Errorf("chunk %d: want \"usage\":null: %s", i, f.data)
						}
					default:
						if has {
							t.Errorf("chunk %d: want no usage key: %s", i, f.data)
						}
					}
				}
				if want := map[bool]int{true: 1}[wantChunk]; usageChunks != want {
					t.Errorf("%d usage chunks, want %d", usageChunks, want)
				}
			})
		}
	}
}

// checkUsage checks a usage object: 3 prompt words, 5 tokens.
func checkUsage(t *testing.T, f frame, u any) {
	t.Helper()
	m, ok := u.(map[string]any)
	if !ok || m["prompt_tokens"] != 3.0 || m["completion_tokens"] != 5.0 || m["total_tokens"] != 8.0 {
		t.Errorf("chunk %s: want usage 3+5=8", f.data)
	}
}

func TestPerRequestMetrics(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		stream  bool
	}{
		{"off", false, true},
		{"stream", true, true},
		{"answer", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quick(VLLM)
			cfg.PerRequestMetrics = tt.enabled
			_, url := Start(t, cfg)
			_, got := do(t, newClient(t), "POST", url+"/v1/chat/completions",
				body("/v1/chat/completions", 5, tt.stream, `,"stream_options":{"include_usage":true}`), "")
			last := got
			if tt.stream {
				frames, _ := parseSSE(t, got, "data: ")
				for _, f := range frames[:len(frames)-1] {
					if strings.Contains(f.data, `"metrics"`) {
						t.Errorf("metrics before the usage chunk: %s", f.data)
					}
				}
				last = frames[len(frames)-1].data
			}
			var v struct {
				Metrics map[string]any `json:"metrics"`
			}
			if err := json.Unmarshal([]byte(last), &v); err != nil {
				t.Fatal(err)
			}
			if !tt.enabled {
				if v.Metrics != nil {
					t.Errorf("metrics %v, want none", v.Metrics)
				}
				return
			}
			for _, key := range []string{"time_to_first_token_ms", "generation_time_ms", "queue_time_ms", "mean_itl_ms", "tokens_per_second"} {
				if _, ok := v.Metrics[key].(float64); !ok {
					t.Errorf("metrics[%s] = %v, want a number", key, v.Metrics[key])
				}
			}
			if !strings.Contains(last, `"usage":{"prompt_tokens":3,"total_tokens":8,"completion_tokens":5},"metrics":{"time_to_first_token_ms":`) {
				t.Errorf("want usage then metrics: %s", last)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	for _, k := range Kinds() {
		for _, ep := range endpoints {
			t.Run(string(k)+ep.path, func(t *testing.T) {
				s, url := Start(t, quick(k))
				traceparent, trace := newTrace()
				resp, got := do(t, newClient(t), "POST", url+ep.path, body(ep.path, 5, false, ""), traceparent)
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				var v struct {
					Object  string
					Choices []struct {
						Text         string
						Message      struct{ Role, Content string }
						FinishReason string `json:"finish_reason"`
					}
					Usage   map[string]any
					Timings map[string]any
				}
				if err := json.Unmarshal([]byte(got), &v); err != nil {
					t.Fatalf("%v: %s", err, got)
				}
				text, object := v.Choices[0].Text, "text_completion"
				if ep.path == "/v1/chat/completions" {
					text, object = v.Choices[0].Message.Content, "chat.completion"
					if v.Choices[0].Message.Role != "assistant" {
						t.Errorf("role %q", v.Choices[0].Message.Role)
					}
				}
				if text != " tok0 tok1 tok2 tok3 tok4" || v.Choices[0].FinishReason != "length" || v.Object != object {
					t.Errorf("answer %s", got)
				}
				if v.Usage["prompt_tokens"] != 3.0 || v.Usage["completion_tokens"] != 5.0 || v.Usage["total_tokens"] != 8.0 {
					t.Errorf("usage %v, want 3+5=8", v.Usage)
				}
				if (v.Timings != nil) != (k == LlamaCpp) {
					t.Errorf("timings %v", v.Timings)
				}
				var intHeaders []string
				switch k {
				case TGI:
					intHeaders = []string{"x-total-time", "x-validation-time", "x-queue-time", "x-inference-time", "x-time-per-token"}
					if resp.Header.Get("x-prompt-tokens") != "3" || resp.Header.Get("x-generated-tokens") != "5" {
						t.Errorf("x-prompt-tokens %q x-generated-tokens %q, want 3 and 5",
							resp.Header.Get("x-prompt-tokens"), resp.Header.Get("x-generated-tokens"))
					}
				case OpenAI:
					intHeaders = []string{"openai-processing-ms"}
				}
				for _, h := range intHeaders {
					if !regexp.MustCompile(`^[0-9]+$`).MatchString(resp.Header.Get(h)) {
						t.Errorf("header %s = %q, want whole ms", h, resp.Header.Get(h))
					}
				}
				if evs := s.Events(trace); len(evs) != 1 || evs[0].Tokens != 5 {
					t.Errorf("Events %+v, want one with 5 tokens", evs)
				}
			})
		}
	}
}

func TestTokenCount(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		tokens    int    // Config.Tokens
		maxTokens string // the request's max_tokens member, if any
		want      int
	}{
		{"default", OpenAI, 0, "", 16},
		{"config", VLLM, 4, "", 4},
		{"max_tokens caps", TGI, 0, `,"max_tokens":2`, 2},
		{"max_tokens above Tokens", LlamaCpp, 3, `,"max_tokens":10`, 3},
		{"max_tokens zero", LlamaCpp, 0, `,"max_tokens":0`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quick(tt.kind)
			cfg.Tokens = tt.tokens
			_, url := Start(t, cfg)
			resp, got := do(t, newClient(t), "POST", url+"/v1/completions", `{"prompt":"x"`+tt.maxTokens+`}`, "")
			var v struct {
				Choices []struct {
					Text         string
					FinishReason string `json:"finish_reason"`
				}
				Usage struct {
					CompletionTokens int `json:"completion_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, %v: %s", resp.StatusCode, err, got)
			}
			var want strings.Builder
			for i := range tt.want {
				fmt.Fprintf(&want, " tok%d", i)
			}
			if v.Usage.CompletionTokens != tt.want || v.Choices[0].Text != want.String() || v.Choices[0].FinishReason != "length" {
				t.Errorf("%d tokens, text %q, finish %q; want %d, %q, length",
					v.Usage.CompletionTokens, v.Choices[0].Text, v.Choices[0].FinishReason, tt.want, want.String())
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		kind         Kind
		name         string
		method, path string
		body         string
		status       int
		want         string // the body; "*" in a message stands for any text
	}{
		{LlamaCpp, "not JSON", "POST", "/v1/chat/completions", "not json", 400,
			`{"error":{"code":400,"message":"*","type":"invalid_request_error"}}`},
		{LlamaCpp, "max_tokens", "POST", "/v1/completions", `{"prompt":"x","max_tokens":-1}`, 400,
			`{"error":{"code":400,"message":"*","type":"invalid_request_error"}}`},
		{LlamaCpp, "no route", "GET", "/nope", "", 404,
			`{"error":{"message":"File Not Found","type":"not_found_error","code":404}}`},
		{VLLM, "not JSON", "POST", "/v1/chat/completions", "not json", 400,
			`{"error":{"message":"*","type":"Bad Request","param":null,"code":400}}`},
		{VLLM, "max_tokens", "POST", "/v1/completions", `{"prompt":"x","max_tokens":-1}`, 400,
			`{"error":{"message":"max_tokens must be at least 1, got -1.","type":"BadRequestError","param":null,"code":400}}`},
		{VLLM, "model", "POST", "/v1/completions", `{"model":"other","prompt":"x"}`, 404,
			"{\"error\":{\"message\":\"The model `other` does not exist.\",\"type\":\"NotFoundError\",\"param\":null,\"code\":404}}"},
		{VLLM, "no route", "GET", "/nope", "", 404,
			`{"error":{"message":"Not Found","type":"Not Found","param":null,"code":404}}`},
		{TGI, "not JSON", "POST", "/v1/chat/completions", "not json", 422,
			`{"error":"*","error_type":"validation"}`},
		{TGI, "max_tokens", "POST", "/generate_stream", `{"inputs":"x","parameters":{"max_new_tokens":-1}}`, 422,
			"{\"error\":\"Input validation error: `max_new_tokens` must be strictly positive\",\"error_type\":\"validation\"}"},
		{TGI, "no route", "GET", "/nope", "", 404, ``},
		{OpenAI, "not JSON", "POST", "/v1/chat/completions", "not json", 400,
			`{"error":{"message":"*","type":"invalid_request_error","param":null,"code":null}}`},
		{OpenAI, "max_tokens", "POST", "/v1/chat/completions", `{"messages":[],"max_tokens":-1}`, 400,
			`{"error":{"message":"*","type":"invalid_request_error","param":"max_tokens","code":"integer_below_min_value"}}`},
		{OpenAI, "no route", "POST", "/nope", "", 404,
			`{"error":{"message":"Invalid URL (POST /nope)","type":"invalid_request_error","param":null,"code":null}}`},
		{OpenAI, "no health", "GET", "/health", "", 404,
			`{"error":{"message":"Invalid URL (GET /health)","type":"invalid_request_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.name, func(t *testing.T) {
			s, url := Start(t, quick(tt.kind))
			resp, got := do(t, newClient(t), tt.method, url+tt.path, tt.body, "")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			re := "^" + strings.ReplaceAll(regexp.QuoteMeta(tt.want), `\*`, `[^"]+`) + "$"
			if !regexp.MustCompile(re).MatchString(got) {
				t.Errorf("body %s\nwant %s", got, tt.want)
			}
			if tt.kind == LlamaCpp && !resp.Close { // net/http reads "Connection: close" into resp.Close
				t.Errorf("no Connection: close after an error")
			}
			if s.Served() != 0 {
				t.Errorf("Served() = %d, want 0", s.Served())
			}
		})
	}
}

func TestPages(t *testing.T) {
	tests := []struct {
		kind   Kind
		path   string
		status int
		want   []string // substrings of the body; none: an empty body
	}{
		{LlamaCpp, "/health", 200, []string{`{"status":"ok"}`}},
		{LlamaCpp, "/v1/models", 200, []string{`"object":"list","data":[{"id":"model.gguf","object":"model","created":`, `"owned_by":"llamacpp","meta":{"vocab_type":2,`}},
		{LlamaCpp, "/props", 200, []string{`"build_info":"b6351-5d804a49"`, `"total_slots":1`}},
		{VLLM, "/health", 200, nil},
		{VLLM, "/v1/models", 200, []string{`{"object":"list","data":[{"id":"meta-llama/Llama-3.1-8B-Instruct","object":"model","created":`,
			`"owned_by":"vllm","root":"meta-llama/Llama-3.1-8B-Instruct","parent":null,"max_model_len":`, `"permission":[{"id":"modelperm-`}},
		{TGI, "/health", 200, nil},
		{TGI, "/v1/models", 200, []string{`{"object":"list","data":[{"id":"meta-llama/Llama-3.1-8B-Instruct","object":"model","created":0,"owned_by":"meta-llama/Llama-3.1-8B-Instruct"}]}`}},
		{TGI, "/info", 200, []string{`{"model_id":"meta-llama/Llama-3.1-8B-Instruct",`, `"router":"text-generation-router"`}},
		{OpenAI, "/v1/models", 200, []string{`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":`, `"owned_by":"system"}]}`}},
		{OpenAI, "/health", 404, []string{`"Invalid URL (GET /health)"`}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+tt.path, func(t *testing.T) {
			_, url := Start(t, quick(tt.kind))
			resp, got := do(t, newClient(t), "GET", url+tt.path, "", "")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if len(tt.want) == 0 && got != "" {
				t.Errorf("body %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("body %s\nlacks %s", got, w)
				}
			}
			if len(tt.want) > 0 && !json.Valid([]byte(got)) {
				t.Errorf("body is not JSON: %s", got)
			}
		})
	}
}

func TestGenerateStream(t *testing.T) {
	tests := []struct {
		name    string
		details bool
	}{
		{"plain", false},
		{"details", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := Start(t, quick(TGI))
			req := fmt.Sprintf(`{"inputs":%q,"parameters":{"max_new_tokens":4,"details":%t}}`, prompt, tt.details)
			resp, got := do(t, newClient(t), "POST", url+"/generate_stream", req, "")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			frames, done := parseSSE(t, got, "data:")
			if done {
				t.Errorf("[DONE] in /generate_stream")
			}
			if len(frames) != 4 {
				t.Fatalf("%d events, want 4", len(frames))
			}
			for i, f := range frames {
				if !strings.HasPrefix(f.data, fmt.Sprintf(`{"index":%d,"token":{"id":`, i+1)) {
					t.Errorf("event %d: %s", i, f.data)
				}
				if text := f.v["token"].(map[string]any)["text"]; text != fmt.Sprintf(" tok%d", i) {
					t.Errorf("event %d text %v", i, text)
				}
				last := i == len(frames)-1
				if gt := f.v["generated_text"]; last && gt != " tok0 tok1 tok2 tok3" || !last && gt != nil {
					t.Errorf("event %d generated_text %v", i, gt)
				}
				details, _ := f.v["details"].(map[string]any)
				if (details != nil) != (last && tt.details) {
					t.Errorf("event %d details %v", i, f.v["details"])
				}
				if details != nil && (details["finish_reason"] != "length" || details["generated_tokens"] != 4.0) {
					t.Errorf("details %v", details)
				}
			}
			if s.Served() != 1 {
				t.Errorf("Served() = %d, want 1", s.Served())
			}
		})
	}
	t.Run("other kinds", func(t *testing.T) {
		for _, k := range []Kind{LlamaCpp, VLLM, OpenAI} {
			_, url := Start(t, quick(k))
			resp, _ := do(t, newClient(t), "POST", url+"/generate_stream", `{"inputs":"x"}`, "")
			if resp.StatusCode != 404 {
				t.Errorf("%s: status %d, want 404", k, resp.StatusCode)
			}
		}
	})
}

func TestDropReused(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			cfg := quick(k)
			cfg.DropReused = true
			s, url := Start(t, cfg)
			c := newClient(t)
			reqBody := body("/v1/chat/completions", 3, true, "")
			if resp, got := do(t, c, "POST", url+"/v1/chat/completions", reqBody, ""); resp.StatusCode != 200 {
				t.Fatalf("first request: status %d: %s", resp.StatusCode, got)
			}
			req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/v1/chat/completions", strings.NewReader(reqBody))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("second request on the connection: status %d, want an error", resp.StatusCode)
			}
			t.Logf("second request: %v", err)
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "server closed") {
				t.Errorf("second request: %v, want EOF, a reset or \"server closed\"", err)
			}
			if s.Dropped() != 1 || s.Served() != 1 {
				t.Errorf("Dropped() = %d, Served() = %d, want 1 and 1", s.Dropped(), s.Served())
			}
		})
	}
}

// TestCancel checks that a stream stops when its client goes: the server
// is closed (which waits for its handlers) while a stream of a million
// tokens is under way, which returns only if the handler stopped.
func TestCancel(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			cfg := quick(k)
			cfg.Tokens = 1_000_000
			s := New(cfg)
			ts := httptest.NewServer(s) // no Start: nothing but the client's going ends the stream
			ctx, cancel := context.WithCancel(t.Context())
			req, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"x","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			if _, err := io.ReadAtLeast(resp.Body, buf, 1); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			ts.Close()
			if s.Served() != 0 {
				t.Errorf("Served() = %d, want 0", s.Served())
			}
		})
	}
}

func TestTraceID(t *testing.T) {
	tests := []struct {
		name, header, want string
		ok                 bool
	}{
		{"valid", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"upper case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"future version, more fields", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"version 00 with more fields", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", "", false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", false},
		{"short trace id", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", "", false},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := traceID(tt.header)
			if got != tt.want || ok != tt.ok {
				t.Errorf("traceID(%q) = %q, %t, want %q, %t", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		ep      endpoint
		body    string
		words   int
		max     int // -1: absent
		stream  bool
		opts    bool
		wantErr bool
	}{
		{"completion", completions, `{"prompt":"a b  c\nd","max_tokens":7,"stream":true}`, 4, 7, true, false, false},
		{"prompt list", completions, `{"prompt":["a b","c"]}`, 3, -1, false, false, false},
		{"chat parts", chat, `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi there"}]}],"max_completion_tokens":3}`, 4, 3, false, false, false},
		{"stream options", chat, `{"messages":[],"stream":true,"stream_options":{}}`, 0, -1, true, true, false},
		{"null stream options", chat, `{"messages":[],"stream_options":null}`, 0, -1, false, false, false},
		{"native", native, `{"inputs":"x y","parameters":{"max_new_tokens":2},"max_tokens":9}`, 2, 2, true, false, false},
		{"not JSON", chat, `hello`, 0, 0, false, false, true},
		{"wrong type", chat, `{"stream":"yes"}`, 0, 0, false, false, true},
		{"prompt number", completions, `{"prompt":7}`, 0, 0, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq, err := parseRequest([]byte(tt.body), tt.ep)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				var be *bodyError
				if !errors.As(err, &be) {
					t.Errorf("err %T, want *bodyError", err)
				}
				return
			}
			max := -1
			if rq.maxTokens != nil {
				max = *rq.maxTokens
			}
			if rq.words != tt.words || max != tt.max || rq.stream != tt.stream || rq.streamOptions != tt.opts {
				t.Errorf("got words %d max %d stream %t options %t, want %d %d %t %t",
					rq.words, max, rq.stream, rq.streamOptions, tt.words, tt.max, tt.stream, tt.opts)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   obj
		want string
	}{
		{"order kept", obj{{"z", 1}, {"a", nil}, {"m", "x"}}, `{"z":1,"a":null,"m":"x"}`},
		{"floats", obj{{"a", 100.0}, {"b", 30.958}, {"c", 1e-5}, {"d", 0.0}}, `{"a":100.0,"b":30.958,"c":1e-05,"d":0.0}`},
		{"division by zero", obj{{"inf", 1.0 / zero()}}, `{"inf":null}`},
		{"escapes", obj{{"s", "a\"b\\c\n<&>\x01é"}}, `{"s":"a\"b\\c\n<&>\u0001é"}`},
		{"invalid UTF-8", obj{{"s", "a\xffb"}}, `{"s":"a` + "\uFFFD" + `b"}`},
		{"empty list and object", obj{{"l", []obj{}}, {"o", obj{}}}, `{"l":[],"o":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encode(tt.in)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func zero() float64 { return 0 }

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"prompt":"a b","max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`), 0)
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`), 1)
	f.Add([]byte(`{"inputs":"x","parameters":{"max_new_tokens":1,"details":true}}`), 2)
	f.Add([]byte(`not json`), 1)
	f.Fuzz(func(t *testing.T, b []byte, ep int) {
		rq, err := parseRequest(b, endpoint(ep&3%3))
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) {
				t.Fatalf("err %T, want *bodyError", err)
			}
			return
		}
		if rq.words < 0 || rq.chars < 0 || rq.words > rq.chars {
			t.Fatalf("words %d chars %d", rq.words, rq.chars)
		}
		if !json.Valid(encode(obj{{"model", rq.model}})) {
			t.Fatalf("model %q does not encode", rq.model)
		}
	})
}

func FuzzTraceID(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		id, ok := traceID(h)
		if ok != (id != "") || ok && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Fatalf("traceID(%q) = %q, %t", h, id, ok)
		}
	})
}
