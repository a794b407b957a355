package llm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// piece is a generate stream event carrying text and ids.
func piece(text string, ids ...int) string {
	return fmt.Sprintf(`{"text":%q,"token_ids":%s}`, text, mustJSON(ids))
}

func mustJSON(ids []int) string {
	if ids == nil {
		return "[]"
	}
	s := "["
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(id)
	}
	return s + "]"
}

// final is a generate stream's final event with usage.
func final(prompt, completion int) string {
	return fmt.Sprintf(`{"done":true,"finish_reason":"stop","usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		prompt, completion, prompt+completion)
}

// TestDefinitions checks every latency against its definition in
// DESIGN.md, for outputs of several sizes and token sources; TPOT divides
// by the tokens after the first event, which is DESIGN.md's out − 1 when
// the first event carries one token.
func TestDefinitions(t *testing.T) {
	const pause = 5 * time.Millisecond // between events, so gaps are not 0
	tests := []struct {
		name    string
		events  []string // before [DONE]
		counter TokenCounter

		wantChunks int
		wantTokens []int
		wantOut    int
		wantIn     int
		wantClient int
		wantSource string
		wantTPOT   bool
	}{
		{"three chunks, usage", []string{piece(" a", 1), piece(" b c", 2, 3), piece(" d", 4), final(5, 4)}, nil,
			3, []int{1, 2, 1}, 4, 5, 4, "usage", true},
		{"two chunks, two tokens", []string{piece(" a", 1), piece(" b", 2), final(5, 2)}, nil,
			2, []int{1, 1}, 2, 5, 2, "usage", true},
		{"one token", []string{piece(" a", 1), final(5, 1)}, nil,
			1, []int{1}, 1, 5, 1, "usage", false},
		{"one chunk of two tokens", []string{piece(" a b", 1, 2), final(5, 2)}, nil,
			1, []int{2}, 2, 5, 2, "usage", false},
		{"zero tokens", []string{final(5, 0)}, nil,
			0, nil, 0, 5, 0, "usage", false},
		{"empty text is not a token", []string{piece("", 1), piece(" a", 2), piece(""), final(5, 2)}, nil,
			1, []int{1}, 2, 5, 1, "usage", false},
		{"no usage, counter", []string{piece(" a b"), piece(" c"), `{"done":true,"finish_reason":"stop"}`}, wordCounter{},
			2, []int{2, 1}, 3, 2, 3, "tokenizer", true},
		{"no usage, no counter, ids", []string{piece(" a b", 7, 8), piece(" c", 9)}, nil,
			2, []int{2, 1}, 3, 0, 3, "chunks", true},
		{"no usage, no counter, no ids", []string{piece(" a b"), piece(" c")}, nil,
			2, []int{1, 1}, 2, 0, 2, "chunks", true},
		{"usage and counter disagree", []string{piece(" a b", 7), piece(" c", 9), final(5, 2)}, wordCounter{},
			2, []int{1, 1}, 2, 5, 3, "usage", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				for _, ev := range tt.events {
					time.Sleep(pause)
					writeSSE(w, ev)
				}
				writeSSE(w, "[DONE]")
			}))
			defer srv.Close()
			c := newClient(t, Config{BaseURL: srv.URL, Stream: true, Counter: tt.counter})
			res := c.Do(context.Background(), Request{Prompt: "x y"})
			checkOK(t, res)

			if res.Chunks != tt.wantChunks || !reflect.DeepEqual(res.ChunkTokens, tt.wantTokens) {
				t.Errorf("got %d chunks with tokens %v, want %d with %v", res.Chunks, res.ChunkTokens, tt.wantChunks, tt.wantTokens)
			}
			if res.OutputTokens != tt.wantOut || res.InputTokens != tt.wantIn || res.ClientOutputTokens != tt.wantClient || res.TokenSource != tt.wantSource {
				t.Errorf("got out %d, in %d, client %d, source %q; want %d, %d, %d, %q",
					res.OutputTokens, res.InputTokens, res.ClientOutputTokens, res.TokenSource, tt.wantOut, tt.wantIn, tt.wantClient, tt.wantSource)
			}
			if len(res.GapsMS) != max(0, tt.wantChunks-1) {
				t.Errorf("got %d gaps, want %d", len(res.GapsMS), max(0, tt.wantChunks-1))
			}
			if tt.wantChunks == 0 {
				if res.TTFTMS != nil || res.E2EMS != nil || res.TTSTMS != nil || res.TPOTMS != nil {
					t.Errorf("got TTFT %v, E2E %v, TTST %v, TPOT %v; want none without text", res.TTFTMS, res.E2EMS, res.TTSTMS, res.TPOTMS)
				}
				return
			}
			if res.TTFTMS == nil || res.E2EMS == nil {
				t.Fatalf("got TTFT %v, E2E %v; want both", res.TTFTMS, res.E2EMS)
			}
			ttft, e2e := *res.TTFTMS, *res.E2EMS
			if res.FirstByteMS == nil || *res.FirstByteMS > ttft || ttft > e2e || e2e > res.CloseMS {
				t.Errorf("got first byte %v, TTFT %v, E2E %v, close %v; want them in that order", res.FirstByteMS, ttft, e2e, res.CloseMS)
			}
			sum := 0.0
			for _, g := range res.GapsMS {
				if g < 0 {
					t.Errorf("got a negative gap %v", g)
				}
				sum += g
			}
			if !near(sum, e2e-ttft, 1e-6) {
				t.Errorf("got gaps summing to %v ms, want E2E − TTFT = %v", sum, e2e-ttft)
			}
			if (res.TTSTMS != nil) != (tt.wantChunks >= 2) {
				t.Errorf("got TTST %v with %d text events, want it exactly when there are 2 or more", res.TTSTMS, tt.wantChunks)
			} else if res.TTSTMS != nil && *res.TTSTMS != res.GapsMS[0] {
				t.Errorf("got TTST %v, want the first gap %v", *res.TTSTMS, res.GapsMS[0])
			}
			if (res.TPOTMS != nil) != tt.wantTPOT {
				t.Fatalf("got TPOT %v, want present = %v", res.TPOTMS, tt.wantTPOT)
			}
			// TPOT is the time after the first event over the tokens after
			// it (issue 20: a first event of several tokens); with one
			// event there is no "after".
			if res.TPOTMS != nil {
				want := (e2e - ttft) / float64(res.OutputTokens-res.ChunkTokens[0])
				if !near(*res.TPOTMS, want, 1e-9) || res.FirstEventTokens != res.ChunkTokens[0] {
					t.Errorf("got TPOT %v, first event %d tokens; want (E2E − TTFT)/(out − first event's tokens) = %v", *res.TPOTMS, res.FirstEventTokens, want)
				}
			}
		})
	}
}

// TestChatNonTextEvents checks that a role-only first chunk, an empty
// content chunk, a finish chunk and a usage-only last chunk carry no text:
// they set no TTFT and count no tokens.
func TestChatNonTextEvents(t *testing.T) {
	const roleLead = 100 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		c := `{"id":"c","object":"chat.completion.chunk","model":"gpt2","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`
		writeSSE(w, fmt.Sprintf(c, `{"role":"assistant","content":""}`, "null"))
		time.Sleep(roleLead) // a TTFT counted from the role chunk would be below this
		writeSSE(w, fmt.Sprintf(c, `{"content":"Hi"}`, "null"), fmt.Sprintf(c, `{"content":""}`, "null"),
			fmt.Sprintf(c, `{"content":null}`, "null"), fmt.Sprintf(c, `{"content":" there"}`, "null"))
		time.Sleep(roleLead) // an E2E counted to the usage chunk would include this
		writeSSE(w, fmt.Sprintf(c, `{}`, `"stop"`),
			`{"id":"c","object":"chat.completion.chunk","model":"gpt2","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`,
			"[DONE]")
	}))
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL, Protocol: OpenAIChat, Stream: true})
	res := c.Do(context.Background(), Request{Prompt: "hello"})
	checkOK(t, res)
	if res.Text != "Hi there" || res.Chunks != 2 || !reflect.DeepEqual(res.ChunkTokens, []int{1, 1}) {
		t.Errorf("got text %q in %d chunks %v, want \"Hi there\" in 2 chunks [1 1]", res.Text, res.Chunks, res.ChunkTokens)
	}
	if res.OutputTokens != 2 || res.InputTokens != 9 || res.FinishReason != "stop" {
		t.Errorf("got out %d, in %d, finish %q; want 2, 9, stop", res.OutputTokens, res.InputTokens, res.FinishReason)
	}
	if res.TTFTMS == nil || *res.TTFTMS < runfmt.Ms(roleLead) {
		t.Errorf("got TTFT %v ms, want at least %v ms (the role chunk must not count)", res.TTFTMS, runfmt.Ms(roleLead))
	}
	if res.FirstByteMS == nil || *res.FirstByteMS >= *res.TTFTMS {
		t.Errorf("got first byte %v ms, want it before TTFT %v ms", res.FirstByteMS, *res.TTFTMS)
	}
	if res.CloseMS-*res.E2EMS < runfmt.Ms(roleLead) {
		t.Errorf("got E2E %v ms and close %v ms, want E2E at the last text, at least %v before the close",
			*res.E2EMS, res.CloseMS, runfmt.Ms(roleLead))
	}
}

// TestSharedRead checks that events arriving in one read share its time:
// the gap between them is 0, not an invented spacing.
func TestSharedRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		w.Write([]byte("data: " + piece("a", 1) + "\n\ndata: " + piece("b", 2) + "\n\n"))
		http.NewResponseController(w).Flush()
		time.Sleep(50 * time.Millisecond)
		writeSSE(w, piece("c", 3), "[DONE]")
	}))
	defer srv.Close()
	res := newClient(t, Config{BaseURL: srv.URL, Stream: true}).Do(context.Background(), Request{Prompt: "p"})
	checkOK(t, res)
	if len(res.GapsMS) != 2 || res.GapsMS[0] != 0 || res.GapsMS[1] <= 0 {
		t.Errorf("got gaps %v, want [0, > 0]", res.GapsMS)
	}
}

func TestClientQueue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeSSE(w, piece("a", 1), "[DONE]")
	}))
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL, Stream: true})
	tests := []struct {
		name      string
		scheduled time.Time
	}{
		{"closed loop", time.Time{}},
		{"scheduled a second ago", time.Now().Add(-time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.Do(context.Background(), Request{Prompt: "p", Scheduled: tt.scheduled})
			checkOK(t, res)
			if !res.Scheduled.Equal(tt.scheduled) {
				t.Errorf("got scheduled %v, want %v", res.Scheduled, tt.scheduled)
			}
			if tt.scheduled.IsZero() {
				if res.ClientQueueMS != nil {
					t.Errorf("got client queue %v ms, want none", *res.ClientQueueMS)
				}
				return
			}
			if res.ClientQueueMS == nil {
				t.Fatal("got no client queue, want one")
			}
			if want := runfmt.Ms(res.Sent.Sub(tt.scheduled)); *res.ClientQueueMS != want || want < 1000 {
				t.Errorf("got client queue %v ms, want Sent − Scheduled = %v ms (≥ 1000)", *res.ClientQueueMS, want)
			}
		})
	}
}
