package llm

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// chatChunk is an OpenAI chat chunk carrying text, with extra members.
func chatChunk(text, extra string) string {
	return fmt.Sprintf(`{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]%s}`, text, extra)
}

// TestTokensPerEvent: when an event carries several tokens (llama.cpp
// holds back incomplete UTF-8; vLLM merges deltas when the reader lags;
// internal/zoo/FACTS.md §1g, §2g), each event's tokens are counted from
// the best source there is, the first event's count is recorded and
// flagged, and TPOT divides the time after the first event by the tokens
// after it (issue 20).
func TestTokensPerEvent(t *testing.T) {
	usage := func(n int) string { return fmt.Sprintf(`,"usage":{"prompt_tokens":3,"completion_tokens":%d}`, n) }
	tests := []struct {
		name       string
		events     []string
		counter    TokenCounter
		wantTokens []int
		wantSource string
	}{
		{"tokenizer, scaled to the server's usage",
			// The stand-in tokenizer counts two per word; the server says 5 in all.
			[]string{chatChunk(" a b c", ""), chatChunk(" d", ""), chatChunk(" e", ""), `{"choices":[]` + usage(5) + `}`},
			counterFunc(func(s string) int { return 2 * len(strings.Fields(s)) }),
			[]int{3, 1, 1}, "tokenizer"},
		{"the server's running usage on every event (vLLM's continuous_usage_stats)",
			[]string{chatChunk(" x", usage(3)), chatChunk(" y", usage(4)), chatChunk(" z", usage(6))},
			wordCounter{}, []int{3, 1, 2}, "usage"},
		{"usage only at the end is not a running count",
			[]string{chatChunk(" a b", ""), chatChunk(" c", usage(3))},
			wordCounter{}, []int{2, 1}, "tokenizer"},
		{"no tokenizer, no ids: one per event",
			[]string{chatChunk(" a b", ""), chatChunk(" c", ""), `{"choices":[]` + usage(3) + `}`},
			nil, []int{1, 1}, "events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				for _, ev := range tt.events {
					time.Sleep(3 * time.Millisecond)
					writeSSE(w, ev)
				}
				writeSSE(w, "[DONE]")
			}))
			defer srv.Close()
			c := newClient(t, Config{BaseURL: srv.URL, Protocol: OpenAIChat, Stream: true, Counter: tt.counter})
			res := c.Do(context.Background(), Request{Prompt: "p"})
			checkOK(t, res)
			if !slices.Equal(res.ChunkTokens, tt.wantTokens) || res.ChunkTokenSource != tt.wantSource {
				t.Fatalf("tokens per event %v from %q, want %v from %q", res.ChunkTokens, res.ChunkTokenSource, tt.wantTokens, tt.wantSource)
			}
			if res.FirstEventTokens != tt.wantTokens[0] || res.MultiTokenFirstEvent != (tt.wantTokens[0] > 1) {
				t.Errorf("first event: %d tokens, flagged %v; want %d", res.FirstEventTokens, res.MultiTokenFirstEvent, tt.wantTokens[0])
			}
			if res.TPOTMS == nil {
				t.Fatal("no TPOT")
			}
			want := (*res.E2EMS - *res.TTFTMS) / float64(res.OutputTokens-res.FirstEventTokens)
			if !near(*res.TPOTMS, want, 1e-9) {
				t.Errorf("TPOT %v, want (e2e − ttft) / (output − first event's tokens) = %v", *res.TPOTMS, want)
			}
		})
	}
}

// TestServerTimings: what each server reports about a request lands in
// the record under one schema, with its source and the raw numbers
// (internal/zoo/FACTS.md §1c llama.cpp's timings, §2c vLLM's per-request
// metrics, §3c TGI's x-*-time headers, §4c openai-processing-ms), and TTFT
// over the server's TTFT is kept as a measurement of its own.
func TestServerTimings(t *testing.T) {
	tests := []struct {
		name    string
		stream  bool
		headers map[string]string
		final   string // the last event (or the whole answer)
		source  string
		ttft    *float64
		tpot    *float64
		queue   *float64
		total   *float64
		raw     string // one raw key that must be kept
	}{
		{"llama.cpp timings", true, nil,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"timings":{"cache_n":0,"prompt_n":12,"prompt_ms":40.5,"prompt_per_token_ms":3.375,"prompt_per_second":296.3,"predicted_n":3,"predicted_ms":30,"predicted_per_token_ms":10,"predicted_per_second":100}}`,
			runfmt.ServerTimingLlamaCpp, ptr(40.5), ptr(10), nil, ptr(70.5), "prompt_n"},
		{"vLLM per-request metrics", true, nil,
			`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3},"metrics":{"time_to_first_token_ms":20,"generation_time_ms":30,"queue_time_ms":5,"mean_itl_ms":15,"tokens_per_second":60}}`,
			runfmt.ServerTimingVLLM, ptr(20), ptr(15), ptr(5), ptr(50), "tokens_per_second"},
		{"TGI headers on a whole answer", false,
			map[string]string{"x-queue-time": "4", "x-inference-time": "60", "x-time-per-token": "20", "x-total-time": "65", "x-validation-time": "1"},
			`{"choices":[{"index":0,"message":{"role":"assistant","content":" a b c"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":3}}`,
			runfmt.ServerTimingTGI, nil, ptr(20), ptr(4), ptr(65), "x-inference-time"},
		{"OpenAI processing time", false, map[string]string{"openai-processing-ms": "123"},
			`{"choices":[{"index":0,"message":{"role":"assistant","content":" a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`,
			runfmt.ServerTimingOpenAI, nil, nil, nil, ptr(123), "openai-processing-ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				if !tt.stream {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, tt.final)
					return
				}
				startSSE(w)
				writeSSE(w, chatChunk(" a", ""), chatChunk(" b", ""), chatChunk(" c", ""), tt.final, "[DONE]")
			}))
			defer srv.Close()
			c := newClient(t, Config{BaseURL: srv.URL, Protocol: OpenAIChat, Stream: tt.stream})
			res := c.Do(context.Background(), Request{Prompt: "p"})
			checkOK(t, res)
			if res.ServerTimingSource != tt.source {
				t.Fatalf("source %q, want %q", res.ServerTimingSource, tt.source)
			}
			for _, f := range []struct {
				name      string
				got, want *float64
			}{{"ttft", res.ServerTTFTMS, tt.ttft}, {"tpot", res.ServerTPOTMS, tt.tpot}, {"queue", res.ServerQueueMS, tt.queue}, {"total", res.ServerTotalMS, tt.total}} {
				if (f.got == nil) != (f.want == nil) || (f.got != nil && !near(*f.got, *f.want, 1e-9)) {
					t.Errorf("server %s: got %v, want %v", f.name, deref(f.got), deref(f.want))
				}
			}
			if _, ok := res.ServerTimings[tt.raw]; !ok {
				t.Errorf("raw timings %v lack %s", res.ServerTimings, tt.raw)
			}
			if tt.ttft != nil {
				if res.TTFTOverServerMS == nil || !near(*res.TTFTOverServerMS, *res.TTFTMS-*tt.ttft, 1e-9) {
					t.Errorf("ttft over server %v, want TTFT %v − %v", deref(res.TTFTOverServerMS), *res.TTFTMS, *tt.ttft)
				}
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// dropReused is an SSE server that, like a server closing its kept-alive
// connections as requests arrive, closes a connection without answering
// when a second request comes over it (after reading that request).
type dropReused struct {
	served, dropped atomic.Int64
}

type connKey struct{}

type connState struct {
	c net.Conn
	n int
}

func (d *dropReused) start(t *testing.T) string {
	srv := httptest.NewUnstartedServer(d)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connState{c: c})
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func (d *dropReused) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := r.Context().Value(connKey{}).(*connState)
	st.n++ // requests on one connection are sequential
	io.Copy(io.Discard, r.Body)
	if st.n > 1 {
		d.dropped.Add(1)
		st.c.Close()
		return
	}
	startSSE(w)
	writeSSE(w, chatChunk(" a", ""), chatChunk(" b", ""), `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}`, "[DONE]")
	d.served.Add(1)
}

// TestStaleConnectionRetried: a request sent on a kept-alive connection
// that the server closes before answering was never served; it is sent
// again on a fresh connection, and counted neither as an error nor in
// TTFT (issue 20: llama-server closes connections it advertised as
// kept-alive, and 1.7–12 % of requests failed as "protocol" or
// "truncated").
func TestStaleConnectionRetried(t *testing.T) {
	d := &dropReused{}
	base := d.start(t)
	c := newClient(t, Config{BaseURL: base, Protocol: OpenAIChat, Stream: true})
	const n = 6
	for i := range n {
		res := c.Do(context.Background(), Request{Prompt: "p"})
		checkOK(t, res)
		if res.OutputTokens != 2 || res.TTFTMS == nil {
			t.Errorf("request %d: %d tokens, TTFT %v", i, res.OutputTokens, res.TTFTMS)
		}
		if i > 0 && res.Retries == 0 {
			t.Errorf("request %d: no retry recorded, though the kept-alive connection was dropped", i)
		}
	}
	if d.served.Load() != n || d.dropped.Load() == 0 {
		t.Errorf("server: %d served, %d dropped; want %d served and some dropped", d.served.Load(), d.dropped.Load(), n)
	}
}

// TestServedRequestNotRetried: a request the server answered (a byte of
// the answer came back) is never sent again, whatever happens next.
func TestServedRequestNotRetried(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		startSSE(w)
		writeSSE(w, chatChunk(" a", ""))
		hj, _ := w.(http.Hijacker)
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL, Protocol: OpenAIChat, Stream: true})
	res := c.Do(context.Background(), Request{Prompt: "p"})
	if res.OK || res.ErrorClass != runfmt.ErrorTruncated || res.Retries != 0 || calls.Load() != 1 {
		t.Errorf("got OK %v class %q retries %d after %d calls; want one call, truncated", res.OK, res.ErrorClass, res.Retries, calls.Load())
	}
}
