package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for success
	}{
		{"minimal", Config{BaseURL: "http://127.0.0.1:8000"}, ""},
		{"https with protocol", Config{BaseURL: "https://example.com/v1", Protocol: OpenAIChat}, ""},
		{"empty URL", Config{}, "base URL is empty"},
		{"no scheme", Config{BaseURL: "127.0.0.1:8000"}, "scheme"},
		{"bad scheme", Config{BaseURL: "ftp://host"}, "scheme"},
		{"no host", Config{BaseURL: "http:///v1"}, "no host"},
		{"unparsable", Config{BaseURL: "http://[::1"}, "parse base URL"},
		{"unknown protocol", Config{BaseURL: "http://h", Protocol: "grpc"}, `protocol "grpc" is unknown`},
		{"negative timeout", Config{BaseURL: "http://h", Timeout: -1}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("got %v, want a client", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		base     string
		protocol Protocol
		stream   bool
		want     string
	}{
		{"http://h:8000", Generate, true, "http://h:8000/generate/stream"},
		{"http://h:8000/", Generate, false, "http://h:8000/generate"},
		{"http://h:8000/v1", Generate, true, "http://h:8000/generate/stream"},
		{"http://h:8000", "", true, "http://h:8000/generate/stream"},
		{"http://h:8000", OpenAICompletions, true, "http://h:8000/v1/completions"},
		{"http://h:8000/v1", OpenAICompletions, false, "http://h:8000/v1/completions"},
		{"http://h:8000/v1/", OpenAIChat, true, "http://h:8000/v1/chat/completions"},
		{"http://h:8000//", OpenAIChat, true, "http://h:8000/v1/chat/completions"},
		{"https://h/proxy/", OpenAIChat, true, "https://h/proxy/v1/chat/completions"},
		{"https://h/proxy/v1?api-version=2", OpenAIChat, true, "https://h/proxy/v1/chat/completions?api-version=2"},
		{"http://h/v10", OpenAICompletions, true, "http://h/v10/v1/completions"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %v", tt.base, tt.protocol, tt.stream), func(t *testing.T) {
			c := newClient(t, Config{BaseURL: tt.base, Protocol: tt.protocol, Stream: tt.stream})
			if got := c.URL(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRequestBody(t *testing.T) {
	temp, topP, seed, greedy := 0.5, 0.9, int64(7), false
	full := Request{Prompt: "Hello", MaxTokens: 20, Temperature: &temp, TopP: &topP, TopK: 40, Seed: &seed,
		Stop: []string{"\n"}, DoSample: &greedy, IgnoreEOS: true}
	tests := []struct {
		name string
		cfg  Config
		req  Request
		want string
	}{
		{"generate full", Config{Protocol: Generate, Stream: true, Model: "gpt2"}, full,
			`{"do_sample":false,"ignore_eos":true,"max_tokens":20,"prompt":"Hello","seed":7,"stop":["\n"],"temperature":0.5,"top_k":40,"top_p":0.9}`},
		{"generate minimal", Config{Protocol: Generate}, Request{Prompt: "Hi"}, `{"prompt":"Hi"}`},
		{"completions streaming", Config{Protocol: OpenAICompletions, Stream: true, Model: "gpt2"}, Request{Prompt: "Hi", MaxTokens: 5},
			`{"max_tokens":5,"model":"gpt2","prompt":"Hi","stream":true,"stream_options":{"include_usage":true}}`},
		{"completions not streaming, no model", Config{Protocol: OpenAICompletions}, Request{Prompt: "Hi"},
			`{"prompt":"Hi","stream":false}`},
		{"completions greedy", Config{Protocol: OpenAICompletions}, Request{Prompt: "Hi", DoSample: &greedy},
			`{"prompt":"Hi","stream":false,"temperature":0}`},
		{"completions greedy with temperature", Config{Protocol: OpenAICompletions}, Request{Prompt: "Hi", DoSample: &greedy, Temperature: &temp},
			`{"prompt":"Hi","stream":false,"temperature":0.5}`},
		{"chat messages", Config{Protocol: OpenAIChat, Stream: true, Model: "m"},
			Request{Messages: []Message{{"system", "Be terse."}, {"user", "Hi"}}},
			`{"messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Hi"}],"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"chat prompt as user message", Config{Protocol: OpenAIChat}, Request{Prompt: "Hi"},
			`{"messages":[{"role":"user","content":"Hi"}],"stream":false}`},
		{"extra merged last", Config{Protocol: OpenAICompletions}, Request{Prompt: "Hi", MaxTokens: 5, Extra: map[string]any{"max_tokens": 9, "logprobs": 1}},
			`{"logprobs":1,"max_tokens":9,"prompt":"Hi","stream":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.BaseURL = "http://127.0.0.1:1"
			b, err := newClient(t, tt.cfg).body(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

// TestProtocols runs each protocol, streaming and not, against a fake
// that answers in that protocol's shape as refserver does, and checks the
// request it received and the Result.
func TestProtocols(t *testing.T) {
	tests := []struct {
		name     string
		protocol Protocol
		stream   bool
		path     string
		// answer writes the fake's response.
		answer     func(w http.ResponseWriter)
		wantChunks []int // ChunkTokens
		wantSource string
	}{
		{"generate stream", Generate, true, "/generate/stream", func(w http.ResponseWriter) {
			startSSE(w)
			writeSSE(w, `{"text":" Hello","token_ids":[18435]}`, `{"text":" wor","token_ids":[]}`, `{"text":"ld!","token_ids":[995,0]}`,
				`{"done":true,"finish_reason":"length","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"timings":{"queue_s":0.001,"ttft_s":0.02,"tpot_s":0.01,"total_s":0.05}}`,
				`[DONE]`)
		}, []int{1, 1, 2}, "usage"},
		{"generate whole", Generate, false, "/generate", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"text":" Hello world!","token_ids":[18435,995,0,1],"model":"gpt2","finish_reason":"length","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"timings":{"queue_s":0.001,"ttft_s":0.02,"tpot_s":0.01,"total_s":0.05}}`)
		}, []int{4}, "usage"},
		{"completions stream", OpenAICompletions, true, "/v1/completions", func(w http.ResponseWriter) {
			startSSE(w)
			c := `{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt2","choices":[{"text":%q,"index":0,"logprobs":null,"finish_reason":%s}]}`
			writeSSE(w, fmt.Sprintf(c, " Hello", "null"), fmt.Sprintf(c, " wor", "null"), fmt.Sprintf(c, "ld!", "null"), fmt.Sprintf(c, "", `"length"`),
				`{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt2","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`,
				`[DONE]`)
		}, []int{1, 1, 1}, "usage"},
		{"completions whole", OpenAICompletions, false, "/v1/completions", func(w http.ResponseWriter) {
			io.WriteString(w, `{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt2","choices":[{"text":" Hello world!","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
		}, []int{4}, "usage"},
		{"chat stream", OpenAIChat, true, "/v1/chat/completions", func(w http.ResponseWriter) {
			startSSE(w)
			c := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt2","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`
			writeSSE(w, fmt.Sprintf(c, `{"role":"assistant","content":""}`, "null"),
				fmt.Sprintf(c, `{"content":" Hello"}`, "null"), fmt.Sprintf(c, `{"content":" wor"}`, "null"), fmt.Sprintf(c, `{"content":"ld!"}`, "null"),
				fmt.Sprintf(c, `{}`, `"length"`),
				`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt2","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`,
				`[DONE]`)
		}, []int{1, 1, 1}, "usage"},
		{"chat whole", OpenAIChat, false, "/v1/chat/completions", func(w http.ResponseWriter) {
			io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt2","choices":[{"index":0,"message":{"role":"assistant","content":" Hello world!"},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
		}, []int{4}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type received struct {
				method, path, accept string
				body                 map[string]any
			}
			got := make(chan received, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := received{method: r.Method, path: r.URL.Path, accept: r.Header.Get("Accept")}
				json.NewDecoder(r.Body).Decode(&rec.body)
				got <- rec
				tt.answer(w)
			}))
			defer srv.Close()
			c := newClient(t, Config{BaseURL: srv.URL + "/v1/", Protocol: tt.protocol, Stream: tt.stream, Model: "gpt2"})
			res := c.Do(context.Background(), Request{Prompt: "Say hello", MaxTokens: 4})
			checkOK(t, res)
			rec := <-got

			if rec.method != http.MethodPost || rec.path != tt.path {
				t.Errorf("server got %s %s, want POST %s", rec.method, rec.path, tt.path)
			}
			if want := map[bool]string{true: "text/event-stream", false: "application/json"}[tt.stream]; rec.accept != want {
				t.Errorf("server got Accept %q, want %q", rec.accept, want)
			}
			if got := rec.body["max_tokens"]; got != 4.0 {
				t.Errorf("server got max_tokens %v, want 4", got)
			}
			if tt.protocol == OpenAIChat {
				want := []any{map[string]any{"role": "user", "content": "Say hello"}}
				if !reflect.DeepEqual(rec.body["messages"], want) {
					t.Errorf("server got messages %v, want %v", rec.body["messages"], want)
				}
			} else if rec.body["prompt"] != "Say hello" {
				t.Errorf("server got prompt %v, want %q", rec.body["prompt"], "Say hello")
			}
			if tt.protocol != Generate {
				if rec.body["model"] != "gpt2" || rec.body["stream"] != tt.stream {
					t.Errorf("server got model %v, stream %v; want gpt2, %v", rec.body["model"], rec.body["stream"], tt.stream)
				}
				var want any
				if tt.stream {
					want = map[string]any{"include_usage": true}
				}
				if !reflect.DeepEqual(rec.body["stream_options"], want) {
					t.Errorf("server got stream_options %v, want %v", rec.body["stream_options"], want)
				}
			}

			if want := " Hello world!"; res.Text != want {
				t.Errorf("got text %q, want %q", res.Text, want)
			}
			if res.Protocol != string(tt.protocol) || res.URL != srv.URL+tt.path || res.Stream != tt.stream || res.Model != "gpt2" {
				t.Errorf("got protocol %q, URL %q, stream %v, model %q; want %q, %q, %v, gpt2",
					res.Protocol, res.URL, res.Stream, res.Model, tt.protocol, srv.URL+tt.path, tt.stream)
			}
			if res.Status != 200 || res.FinishReason != "length" {
				t.Errorf("got status %d, finish %q; want 200, length", res.Status, res.FinishReason)
			}
			if res.InputTokens != 3 || res.OutputTokens != 4 || res.TokenSource != tt.wantSource {
				t.Errorf("got %d in, %d out from %q; want 3, 4 from %q", res.InputTokens, res.OutputTokens, res.TokenSource, tt.wantSource)
			}
			if !reflect.DeepEqual(res.ChunkTokens, tt.wantChunks) || res.Chunks != len(tt.wantChunks) {
				t.Errorf("got %d chunks with tokens %v, want %v", res.Chunks, res.ChunkTokens, tt.wantChunks)
			}
			if res.TTFTMS == nil || res.E2EMS == nil {
				t.Fatalf("got TTFT %v, E2E %v; want both", res.TTFTMS, res.E2EMS)
			}
			if tt.stream {
				if res.TPOTMS == nil || res.TTSTMS == nil || len(res.GapsMS) != 2 {
					t.Errorf("got TPOT %v, TTST %v, gaps %v; want TPOT, TTST and 2 gaps", res.TPOTMS, res.TTSTMS, res.GapsMS)
				}
			} else {
				if res.TPOTMS != nil || res.TTSTMS != nil || len(res.GapsMS) != 0 || *res.TTFTMS != *res.E2EMS {
					t.Errorf("got TPOT %v, TTST %v, gaps %v, TTFT %v, E2E %v; want TTFT = E2E and none of the others",
						res.TPOTMS, res.TTSTMS, res.GapsMS, *res.TTFTMS, *res.E2EMS)
				}
			}
			if tt.protocol == Generate {
				for name, p := range map[string]*float64{"queue": res.ServerQueueMS, "ttft": res.ServerTTFTMS, "tpot": res.ServerTPOTMS, "total": res.ServerTotalMS} {
					if p == nil {
						t.Errorf("got no server %s timing, want one", name)
					}
				}
				if res.ServerTTFTMS != nil && !near(*res.ServerTTFTMS, 20, 1e-9) {
					t.Errorf("got server TTFT %v ms, want 20", *res.ServerTTFTMS)
				}
			}
			if res.Started.IsZero() || res.Sent.Before(res.Started) || res.CloseMS < *res.E2EMS {
				t.Errorf("got started %v, sent %v, close %v ms, e2e %v ms; want started ≤ sent and close ≥ e2e",
					res.Started, res.Sent, res.CloseMS, *res.E2EMS)
			}
			if res.TraceID == "" || res.SpanID == "" {
				t.Errorf("got trace %q span %q, want both", res.TraceID, res.SpanID)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		startSSE(w)
		writeSSE(w, `{"text":"x","token_ids":[1]}`, `[DONE]`)
	}))
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL, Stream: true, Headers: map[string]string{"Authorization": "Bearer k", "traceparent": "bogus"}})
	res := c.Do(context.Background(), Request{Prompt: "p"})
	checkOK(t, res)
	h := <-got
	if h.Get("Authorization") != "Bearer k" || h.Get("Content-Type") != "application/json" {
		t.Errorf("got Authorization %q, Content-Type %q; want Bearer k, application/json", h.Get("Authorization"), h.Get("Content-Type"))
	}
	if want := "00-" + res.TraceID + "-" + res.SpanID + "-01"; h.Get("traceparent") != want {
		t.Errorf("got traceparent %q, want %q", h.Get("traceparent"), want)
	}
}
