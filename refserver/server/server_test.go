package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

// fixture is a refserver on the shared tiny checkpoint, served by httptest,
// with its spans recorded in memory.
type fixture struct {
	srv   *Server
	eng   *engine.Engine
	http  *httptest.Server
	spans *tracetest.SpanRecorder
	want  gpt2test.Expected
}

func start(t *testing.T, ecfg engine.Config, run bool) *fixture {
	t.Helper()
	dir, want := gpt2test.Load(t)
	m, err := gpt2.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bpe.New()
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reg := prometheus.NewRegistry()
	steps, err := NewSteps(tp, reg)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(m, tok, ecfg, steps)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, m, tok, eng, Info{Backend: "cpu", Device: "cpu"}, tp, reg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, eng: eng, spans: rec, want: want, http: httptest.NewServer(srv.Handler())}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if run {
		go func() { done <- eng.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		if !run {
			// Run on an ended context shuts the engine down at once,
			// ending whatever is queued, so the handlers return.
			go func() { done <- eng.Run(ctx) }()
		}
		<-done
		f.http.Close()
	})
	return f
}

func (f *fixture) post(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(f.http.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// events reads an SSE body into its data payloads.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestBadInput(t *testing.T) {
	f := start(t, engine.Config{MaxBatch: 2}, true)
	long := `{"prompt": "` + strings.Repeat(" hello", 200) + `"}`
	huge := `{"prompt": "` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"invalid JSON", "POST", "/generate", `{"prompt": "hi"`, 400, "invalid JSON"},
		{"not an object", "POST", "/generate", `[1, 2]`, 400, "must be a JSON object"},
		{"wrong type", "POST", "/generate", `{"prompt": 5}`, 400, "prompt must be a string"},
		{"wrong type of max_tokens", "POST", "/generate", `{"prompt": "hi", "max_tokens": "ten"}`, 400, "max_tokens must be an integer"},
		{"empty body", "POST", "/generate", ``, 400, "request body is empty"},
		{"missing prompt", "POST", "/generate", `{}`, 400, "prompt is missing"},
		{"empty prompt", "POST", "/generate", `{"prompt": ""}`, 400, "prompt is empty"},
		{"zero max_tokens", "POST", "/generate", `{"prompt": "hi", "max_tokens": 0}`, 400, "max_tokens is 0"},
		{"negative max_tokens", "POST", "/generate/stream", `{"prompt": "hi", "max_tokens": -3}`, 400, "max_tokens is -3"},
		{"max_tokens past the context", "POST", "/generate", `{"prompt": "Hello world", "max_tokens": 500}`, 400, "max_tokens can be at most 126"},
		{"max_tokens at the int's limit", "POST", "/generate/stream", `{"prompt": "Hello world", "max_tokens": 9223372036854775807}`, 400, "max_tokens can be at most 126"},
		{"max_tokens one below the limit", "POST", "/v1/completions", `{"prompt": "Hello world", "max_tokens": 9223372036854775806}`, 400, "max_tokens can be at most 126"},
		{"a case-folded key", "POST", "/generate", `{"PROMPT": "hi"}`, 400, `unknown field "PROMPT": JSON keys are case-sensitive; did you mean "prompt"?`},
		{"a case-folded OpenAI key", "POST", "/v1/completions", `{"prompt": "hi", "Max_Tokens": 3}`, 400, `did you mean "max_tokens"?`},
		{"a wrong type in an embedded field", "POST", "/v1/completions", `{"prompt": "hi", "stream": "yes"}`, 400, "stream must be true or false"},
		{"echo", "POST", "/v1/completions", `{"prompt": "hi", "echo": true}`, 400, "echo is not supported"},
		{"best_of", "POST", "/v1/completions", `{"prompt": "hi", "best_of": 3}`, 400, "best_of is 3"},
		{"logprobs on completions", "POST", "/v1/completions", `{"prompt": "hi", "logprobs": 5}`, 400, "logprobs (5) are not supported"},
		{"logprobs on chat", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "logprobs": true}`, 400, "logprobs (true) are not supported"},
		{"top_logprobs", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}`, 400, "top_logprobs is 2"},
		{"max_tokens past the int's limit", "POST", "/generate", `{"prompt": "Hello world", "max_tokens": 9223372036854775808}`, 400, "max_tokens"},
		{"prompt longer than the context", "POST", "/generate", long, 400, "tokens long and the context holds 128"},
		{"a megabyte of prompt", "POST", "/generate", `{"prompt": "` + strings.Repeat("a", 900<<10) + `"}`, 400, "bytes, so at least"},
		{"prompt ids longer than the context", "POST", "/v1/completions", `{"prompt": [` + strings.TrimSuffix(strings.Repeat("1,", 200), ",") + `]}`, 400, "prompt is 200 tokens long and the context holds 128"},
		{"negative temperature", "POST", "/generate", `{"prompt": "hi", "temperature": -0.5}`, 400, "temperature is -0.5"},
		{"top_p zero", "POST", "/generate", `{"prompt": "hi", "top_p": 0}`, 400, "top_p is 0"},
		{"top_p above one", "POST", "/v1/completions", `{"prompt": "hi", "top_p": 1.5}`, 400, "top_p is 1.5"},
		{"negative top_k", "POST", "/generate", `{"prompt": "hi", "top_k": -1}`, 400, "top_k is -1"},
		{"stop of the wrong type", "POST", "/generate", `{"prompt": "hi", "stop": 7}`, 400, "stop must be a string or an array"},
		{"body over 1 MiB", "POST", "/generate", huge, 413, "over 1048576 bytes"},
		{"unknown route", "GET", "/nope", ``, 404, "no route GET /nope"},
		{"wrong method", "GET", "/generate", ``, 405, "GET is not allowed"},
		{"n above one", "POST", "/v1/completions", `{"prompt": "hi", "n": 2}`, 400, "n is 2"},
		{"two prompts", "POST", "/v1/completions", `{"prompt": ["a", "b"]}`, 400, "prompt holds 2 strings"},
		{"no messages", "POST", "/v1/chat/completions", `{"messages": []}`, 400, "messages is empty"},
		{"bad role", "POST", "/v1/chat/completions", `{"messages": [{"role": "robot", "content": "hi"}]}`, 400, `messages[0].role is "robot"`},
		{"content of the wrong type", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": 5}]}`, 400, "messages[1].content must be a string or an array of text parts, not number"},
		{"an image part", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]}]}`, 400, `messages[0].content[1].type is "image_url": refserver takes text parts only`},
		{"a text part without text", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": [{"type": "text"}]}]}`, 400, "messages[0].content[0].text is missing"},
		{"a part that is not an object", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": ["hi"]}]}`, 400, "messages[0].content[0] must be a part"},
		{"a null body", "POST", "/v1/chat/completions", `null`, 400, "request body must be a JSON object, not null"},
		{"token id outside the vocabulary", "POST", "/v1/completions", `{"prompt": [50257]}`, 400, "token id 50257"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.http.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body errorBody
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("status %d, body is not a JSON error: %v", resp.StatusCode, err)
			}
			// OpenAI's error object (internal/zoo/FACTS.md §4e): param and
			// code are always there, each a string or null.
			var shape struct {
				Error map[string]any `json:"error"`
			}
			_ = json.Unmarshal(raw, &shape)
			for _, k := range []string{"param", "code"} {
				v, ok := shape.Error[k]
				if _, isStr := v.(string); !ok || (v != nil && !isStr) {
					t.Errorf("error.%s is %#v (present %v), want a string or null: %s", k, v, ok, raw)
				}
			}
			if resp.StatusCode != tc.status || !strings.Contains(body.Error.Message, tc.message) {
				t.Errorf("got %d %q, want %d and a message containing %q", resp.StatusCode, body.Error.Message, tc.status, tc.message)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
		})
	}
	// The server still serves after all of that.
	resp, _ := f.post(t, "/generate", `{"prompt": "Hello world", "max_tokens": 2}`)
	if resp.StatusCode != 200 {
		t.Errorf("after bad input: status %d, want 200", resp.StatusCode)
	}
}

func TestGenerateMatchesFixture(t *testing.T) {
	f := start(t, engine.Config{}, true)
	c := f.want.Cases[0] // "Hello world"
	resp, body := f.post(t, "/generate", `{"prompt": "Hello world", "max_tokens": 16, "do_sample": false}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got generateResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.TokenIDs, c.Greedy16) {
		t.Errorf("token_ids %v, want %v", got.TokenIDs, c.Greedy16)
	}
	if got.Usage != (usage{2, 16, 18}) || got.FinishReason != "length" {
		t.Errorf("usage %+v finish %q, want {2 16 18} and length", got.Usage, got.FinishReason)
	}
	if got.Timings.TTFT <= 0 || got.Timings.Total < got.Timings.TTFT || got.Timings.TPOT <= 0 {
		t.Errorf("timings %+v: want 0 < ttft <= total and tpot > 0", got.Timings)
	}

	// The stream carries the same tokens, piece by piece, then the summary.
	resp, err := http.Post(f.http.URL+"/generate/stream", "application/json",
		strings.NewReader(`{"prompt": "Hello world", "max_tokens": 16, "do_sample": false}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	evs := events(t, resp.Body)
	if len(evs) < 3 || evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("events %q: want pieces, a final event and [DONE]", evs)
	}
	var ids []int
	var text string
	for _, e := range evs[:len(evs)-2] {
		var p streamPiece
		if err := json.Unmarshal([]byte(e), &p); err != nil || p.Text == "" {
			t.Fatalf("piece %q: %v (want text)", e, err)
		}
		ids = append(ids, p.TokenIDs...)
		text += p.Text
	}
	var fin streamFinal
	if err := json.Unmarshal([]byte(evs[len(evs)-2]), &fin); err != nil || !fin.Done {
		t.Fatalf("final event %q: %v", evs[len(evs)-2], err)
	}
	if !slices.Equal(ids, c.Greedy16) || text != got.Text {
		t.Errorf("stream gave %v %q, want %v %q", ids, text, c.Greedy16, got.Text)
	}
	if fin.Usage.CompletionTokens != 16 {
		t.Errorf("final usage %+v, want 16 completion tokens", fin.Usage)
	}
}

func TestOpenAIStreams(t *testing.T) {
	f := start(t, engine.Config{}, true)
	tests := []struct {
		name, path, body string
		textOf           func(map[string]any) string
	}{
		{"completions", "/v1/completions", `{"model": "gpt2", "prompt": "Hello world", "max_tokens": 6, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}`,
			func(c map[string]any) string { s, _ := c["text"].(string); return s }},
		{"chat", "/v1/chat/completions", `{"model": "gpt2", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 6, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}`,
			func(c map[string]any) string {
				d, _ := c["delta"].(map[string]any)
				s, _ := d["content"].(string)
				return s
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(f.http.URL+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			evs := events(t, resp.Body)
			if len(evs) < 4 || evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("events %q", evs)
			}
			var chunks []map[string]any
			for _, e := range evs[:len(evs)-1] {
				var c map[string]any
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("chunk %q: %v", e, err)
				}
				chunks = append(chunks, c)
			}
			last := chunks[len(chunks)-1]
			u, _ := last["usage"].(map[string]any)
			if ch, _ := last["choices"].([]any); len(ch) != 0 || u == nil || u["completion_tokens"] != float64(6) {
				t.Errorf("last chunk %v: want empty choices and usage with 6 completion tokens", last)
			}
			// With include_usage, OpenAI's other chunks carry "usage": null
			// (internal/zoo/FACTS.md §4b).
			for i, c := range chunks[:len(chunks)-1] {
				if v, ok := c["usage"]; !ok || v != nil {
					t.Errorf("chunk %d: usage %v (present %v), want null", i, v, ok)
				}
			}
			fin := chunks[len(chunks)-2]["choices"].([]any)[0].(map[string]any)
			if fin["finish_reason"] != "length" {
				t.Errorf("finish chunk %v, want finish_reason length", fin)
			}
			var text string
			for _, c := range chunks[:len(chunks)-2] {
				text += tc.textOf(c["choices"].([]any)[0].(map[string]any))
			}
			if text == "" {
				t.Errorf("no text streamed")
			}
		})
	}
	// Non-streaming answers carry the same shape.
	resp, body := f.post(t, "/v1/chat/completions", `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "max_tokens": 3}`)
	var chat struct {
		Object  string `json:"object"`
		Choices []struct {
			Message chatMessage `json:"message"`
		} `json:"choices"`
		Usage usage `json:"usage"`
	}
	if err := json.Unmarshal(body, &chat); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d %s: %v", resp.StatusCode, body, err)
	}
	if chat.Object != "chat.completion" || len(chat.Choices) != 1 || chat.Choices[0].Message.Role != "assistant" || chat.Usage.CompletionTokens == 0 {
		t.Errorf("chat answer %s", body)
	}
	resp, body = f.post(t, "/v1/completions", `{"prompt": [15496, 995], "max_tokens": 4, "temperature": 0}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"object":"text_completion"`) {
		t.Errorf("completion from token ids: %d %s", resp.StatusCode, body)
	}
}

func TestChatTemplate(t *testing.T) {
	got := chatTemplate([]chatMessage{{Role: "system", text: "Be brief."}, {Role: "user", text: "Hi"}, {Role: "assistant", text: "Hello."}, {Role: "user", text: "Bye"}})
	want := "System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:"
	if got != want {
		t.Errorf("template %q, want %q", got, want)
	}
}

// TestContentText: a chat message's content as a string, as text parts
// (joined by newlines), or null or absent (empty).
func TestContentText(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`"Hello"`, "Hello"},
		{`""`, ""},
		{`null`, ""},
		{``, ""},
		{`[{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]`, "Hello\nworld"},
		{`[]`, ""},
	} {
		got, e := contentText(0, json.RawMessage(tc.raw))
		if e != nil || got != tc.want {
			t.Errorf("contentText(%s) = %q, %v; want %q", tc.raw, got, e, tc.want)
		}
	}
}

// TestChatContentParts: text parts make the same prompt as the string they
// join to, so greedy decoding answers the same.
func TestChatContentParts(t *testing.T) {
	f := start(t, engine.Config{}, true)
	answer := func(content string) string {
		t.Helper()
		resp, body := f.post(t, "/v1/chat/completions", `{"messages": [{"role": "user", "content": `+content+`}], "max_tokens": 6, "temperature": 0}`)
		if resp.StatusCode != 200 {
			t.Fatalf("content %s: status %d: %s", content, resp.StatusCode, body)
		}
		var out struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Choices) != 1 {
			t.Fatalf("content %s: %v: %s", content, err, body)
		}
		return out.Choices[0].Message.Content
	}
	parts := answer(`[{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]`)
	if text := answer(`"Hello\nworld"`); parts != text {
		t.Errorf("text parts answered %q, the string they join to %q", parts, text)
	}
}

func TestQueueFull(t *testing.T) {
	// The engine does not run, so the queue fills and stays full.
	f := start(t, engine.Config{MaxBatch: 1, MaxQueue: 1}, false)
	go http.Post(f.http.URL+"/generate", "application/json", strings.NewReader(`{"prompt": "a", "max_tokens": 1}`))
	deadline := time.Now().Add(5 * time.Second)
	for f.eng.State().Waiting != 1 {
		if time.Now().After(deadline) {
			t.Fatal("first request never queued")
		}
		time.Sleep(time.Millisecond)
	}
	resp, body := f.post(t, "/generate", `{"prompt": "b", "max_tokens": 1}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "server is busy") {
		t.Errorf("got %d Retry-After %q %s, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestDrain(t *testing.T) {
	f := start(t, engine.Config{}, true)
	// A stream in flight when the drain starts finishes normally.
	resp, err := http.Post(f.http.URL+"/generate/stream", "application/json", strings.NewReader(`{"prompt": "Hello", "max_tokens": 60}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- f.srv.Drain(context.Background()) }()
	for !f.srv.draining.Load() {
		time.Sleep(time.Millisecond)
	}
	r2, body := f.post(t, "/generate", `{"prompt": "late", "max_tokens": 1}`)
	if r2.StatusCode != 503 || !strings.Contains(string(body), "shutting down") {
		t.Errorf("new request while draining: %d %s, want 503", r2.StatusCode, body)
	}
	if h, _ := http.Get(f.http.URL + "/health"); h.StatusCode != 503 {
		t.Errorf("/health while draining: %d, want 503", h.StatusCode)
	}
	rest := events(t, br)
	if len(rest) == 0 || rest[len(rest)-1] != "[DONE]" {
		t.Errorf("the stream in flight did not finish: %q", rest)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v", err)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	f := start(t, engine.Config{}, true)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.http.URL+"/generate/stream", strings.NewReader(`{"prompt": "Hello", "max_tokens": 120}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	stepsAtCancel := f.eng.State().Steps
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.eng.State().Running != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sequence is still running 5s after the client left: %+v", f.eng.State())
		}
		time.Sleep(time.Millisecond)
	}
	// The engine drops a cancelled sequence at the start of its next step
	// (engine.TestCancelFreesCache); here the bound also covers the time
	// the server takes to see the closed connection, which on this tiny
	// model is many sub-millisecond steps on a loaded machine.
	if steps := f.eng.State().Steps - stepsAtCancel; steps >= 60 {
		t.Errorf("%d steps ran after the disconnect, want the sequence gone long before its 120 tokens", steps)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	f := start(t, engine.Config{}, true)
	f.post(t, "/generate", `{"prompt": "Hello world", "max_tokens": 4}`)
	f.post(t, "/generate", `{"prompt": ""}`)
	resp, err := http.Get(f.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`llm_requests_total{endpoint="generate",status="200"} 1`,
		`llm_requests_total{endpoint="generate",status="400"} 1`,
		`llm_errors_total{endpoint="generate",type="bad_request"} 1`,
		`llm_tokens_processed_total{kind="completion"} 4`,
		`llm_tokens_processed_total{kind="prompt"} 2`,
		`llm_ttft_seconds_bucket{le="0.005"}`, `llm_ttft_seconds_bucket{le="60"}`,
		`llm_tpot_seconds_bucket{le="0.001"}`, `llm_tpot_seconds_bucket{le="2"}`,
		`llm_inference_duration_seconds_count 1`, `llm_queue_wait_seconds_count 1`,
		"llm_requests_running 0", "llm_requests_waiting 0", "llm_kv_cache_usage_ratio 0", "llm_batch_size 1",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(f.http.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	for _, k := range []string{"status", "model", "synthetic", "model_config", "backend", "device", "gpu_available", "threads", "engine"} {
		if _, ok := h[k]; !ok {
			t.Errorf("/health lacks %q: %v", k, h)
		}
	}
	if h["gpu_available"] != false || h["status"] != "ok" {
		t.Errorf("/health = %v", h)
	}
}

// TestSpans checks the span tree of one request and the engine.step spans
// linked to it, from an in-memory recorder.
func TestSpans(t *testing.T) {
	f := start(t, engine.Config{}, true)
	resp, _ := f.post(t, "/generate", `{"prompt": "Hello world", "max_tokens": 5}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var server sdktrace.ReadOnlySpan
	deadline := time.Now().Add(5 * time.Second)
	for server == nil {
		for _, s := range f.spans.Ended() {
			if s.Name() == "POST /generate" {
				server = s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no POST /generate span")
		}
		time.Sleep(time.Millisecond)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	var steps []sdktrace.ReadOnlySpan
	for _, s := range f.spans.Ended() {
		if s.Name() == "engine.step" {
			steps = append(steps, s)
			continue
		}
		if s.SpanContext().TraceID() == server.SpanContext().TraceID() {
			byName[s.Name()] = s
		}
	}
	tree := map[string]string{"tokenize_input": "POST /generate", "queue_wait": "POST /generate", "model_generate": "POST /generate",
		"decode_output": "POST /generate", "prefill": "model_generate", "decode": "model_generate"}
	for child, parent := range tree {
		c, p := byName[child], byName[parent]
		if c == nil || p == nil {
			t.Fatalf("span %s or %s missing; have %v", child, parent, byName)
		}
		if c.Parent().SpanID() != p.SpanContext().SpanID() {
			t.Errorf("%s's parent is not %s", child, parent)
		}
	}
	if _, ok := byName["stream_write"]; ok {
		t.Errorf("a non-streaming request has a stream_write span")
	}
	// 5 tokens: one prefill step and 4 decode steps, each linked to the request.
	linked := 0
	for _, s := range steps {
		for _, l := range s.Links() {
			if l.SpanContext.SpanID() == server.SpanContext().SpanID() {
				linked++
			}
		}
		if s.Parent().IsValid() {
			t.Errorf("engine.step has a parent; want a trace of its own")
		}
		// The compare report puts two weight types side by side (issue 22).
		kv := map[string]string{}
		for _, a := range s.Attributes() {
			kv[string(a.Key)] = a.Value.Emit()
		}
		if kv["device"] != "cpu" || kv["dtype"] != "f32" {
			t.Errorf("engine.step device %q, dtype %q: want cpu and f32", kv["device"], kv["dtype"])
		}
	}
	if linked != 5 {
		t.Errorf("%d engine.step spans link to the request, want 5", linked)
	}
	d := byName["decode"]
	attrs := map[string]bool{}
	for _, a := range d.Attributes() {
		attrs[string(a.Key)] = true
	}
	if !attrs["steps"] || !attrs["mean_batch_size"] {
		t.Errorf("decode attributes %v: want steps and mean_batch_size", d.Attributes())
	}
}

// TestRefusedBeforeTheBody: a body announced as too large gets 413 at once,
// without the server reading it, also when the client waits for 100
// Continue before sending it; HEAD /health answers as GET does.
func TestRefusedBeforeTheBody(t *testing.T) {
	f := start(t, engine.Config{}, true)
	addr := strings.TrimPrefix(f.http.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\nExpect: 100-continue\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a 50 MB body announced with Expect: 100-continue: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413 before the body is sent", resp.StatusCode)
	}

	req, _ := http.NewRequest(http.MethodHead, f.http.URL+"/health", nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK {
		t.Errorf("HEAD /health: %d, want 200", hr.StatusCode)
	}

	// The defaults of the refused fields are accepted.
	for _, body := range []string{
		`{"prompt": "hi", "max_tokens": 1, "logprobs": null, "echo": false, "best_of": 1}`,
		`{"prompt": "hi", "max_tokens": 1, "logprobs": 0}`,
	} {
		r, err := http.Post(f.http.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", body, r.StatusCode)
		}
	}
}

// TestBrowserBorneRequests: a web page may not make refserver generate
// (a POST from another origin), nor reach it through a rebound name; the
// docs page's own requests and tools without an Origin go through.
func TestBrowserBorneRequests(t *testing.T) {
	f := start(t, engine.Config{}, true)
	body := `{"prompt": "hi", "max_tokens": 1}`
	tests := []struct {
		name, host, origin string
		status             int
	}{
		{"a tool (no Origin)", "", "", 200},
		{"the docs page, same origin", "", "SAME", 200},
		{"a page elsewhere", "", "https://evil.example", 403},
		{"a rebound name", "evil.example", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.http.URL+"/generate", strings.NewReader(body))
			req.Header.Set("Content-Type", "text/plain") // what a page can send without a preflight
			if tt.host != "" {
				req.Host = tt.host
			}
			switch tt.origin {
			case "":
			case "SAME":
				req.Header.Set("Origin", f.http.URL)
			default:
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("got %d (%s), want %d", resp.StatusCode, b, tt.status)
			}
		})
	}
}
