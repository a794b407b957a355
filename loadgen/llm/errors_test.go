package llm

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// TestErrors checks each kind of failure: its class, its message, and that
// what was measured before it is kept.
func TestErrors(t *testing.T) {
	garbage := strings.Repeat("\x00garbage\xff", 1000) // 10 KB, not UTF-8
	tests := []struct {
		name     string
		handler  http.HandlerFunc // nil: nothing listens
		protocol Protocol
		stream   bool
		timeout  time.Duration
		// cancelAt cancels the caller's context once the client has taken
		// the text-carrying event with this text ("" for never).
		cancelAt string

		wantClass  string
		wantStatus int
		wantError  string // a part of Error
		wantChunks int    // text-carrying events kept
		wantFinish string
	}{
		{name: "connection closed mid-stream", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1), piece("b", 2))
			panic(http.ErrAbortHandler) // the connection closes without the body's end
		}, wantClass: runfmt.ErrorTruncated, wantStatus: 200, wantError: "unexpected EOF", wantChunks: 2},
		{name: "missing [DONE]", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1), piece("b", 2), final(3, 2))
		}, wantClass: runfmt.ErrorTruncated, wantStatus: 200, wantError: "without data: [DONE]", wantChunks: 2, wantFinish: "stop"},
		{name: "error event mid-stream", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1), `{"error":{"message":"engine failed: out of memory","type":"server_error","code":500}}`)
		}, wantClass: runfmt.ErrorStream, wantStatus: 200, wantError: "server_error: engine failed: out of memory", wantChunks: 1},
		{name: "error event as a string", protocol: OpenAIChat, stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, `{"choices":[{"delta":{"content":"a"}}]}`, `{"error":"backend went away"}`)
		}, wantClass: runfmt.ErrorStream, wantStatus: 200, wantError: "backend went away", wantChunks: 1},
		{name: "HTTP 429 with JSON", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"server is busy: queue full; retry later","type":"overloaded_error","code":429}}`)
		}, wantClass: runfmt.ErrorHTTP, wantStatus: 429, wantError: "HTTP 429: overloaded_error: server is busy: queue full; retry later"},
		{name: "HTTP 500 with garbage", protocol: OpenAICompletions, handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, garbage)
		}, wantClass: runfmt.ErrorHTTP, wantStatus: 500, wantError: "HTTP 500: \x00garbage\uFFFD\x00garbage"},
		{name: "malformed JSON event", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1), `{"text": "b", `, "[DONE]")
		}, wantClass: runfmt.ErrorProtocol, wantStatus: 200, wantError: "parse event", wantChunks: 1},
		{name: "malformed whole answer", protocol: OpenAIChat, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"choices": [{"message": {"content": 5}}]}`)
		}, wantClass: runfmt.ErrorProtocol, wantStatus: 200, wantError: "parse answer"},
		{name: "JSON instead of a stream", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, `{"error": {"message": "streaming is off"}}`)
		}, wantClass: runfmt.ErrorProtocol, wantStatus: 200, wantError: "streaming is off"},
		{name: "event over the size limit", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1))
			w.Write([]byte("data: " + strings.Repeat("x", maxEventBytes+1)))
		}, wantClass: runfmt.ErrorProtocol, wantStatus: 200, wantError: "line over 4194304 bytes", wantChunks: 1},
		{name: "connection refused", stream: true, wantClass: runfmt.ErrorConnect, wantError: "refused"},
		{name: "timeout", stream: true, timeout: 500 * time.Millisecond, handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a", 1))
			waitGone(r) // never finishes
		}, wantClass: runfmt.ErrorTimeout, wantStatus: 200, wantError: "within 500ms", wantChunks: 1},
		{name: "timeout before the answer", protocol: OpenAICompletions, timeout: 300 * time.Millisecond, handler: func(w http.ResponseWriter, r *http.Request) {
			waitGone(r)
		}, wantClass: runfmt.ErrorTimeout, wantError: "no answer within 300ms"},
		{name: "canceled by the caller", stream: true, cancelAt: "b", handler: func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			writeSSE(w, piece("a"), piece("b")) // no ids: the Counter counts them
			waitGone(r)
		}, wantClass: runfmt.ErrorCanceled, wantStatus: 200, wantError: "canceled", wantChunks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base string
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				base = srv.URL
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				base = "http://" + ln.Addr().String()
				ln.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := Config{BaseURL: base, Protocol: tt.protocol, Stream: tt.stream, Timeout: tt.timeout}
			if tt.cancelAt != "" {
				// The Counter is called as each text event is taken, in
				// Do's goroutine: cancel there, with no race against the
				// reads.
				var once sync.Once
				cfg.Counter = counterFunc(func(s string) int {
					if s == tt.cancelAt {
						once.Do(cancel)
					}
					return 1
				})
			}
			res := newClient(t, cfg).Do(ctx, Request{Prompt: "p"})

			if res.OK || res.ErrorClass != tt.wantClass {
				t.Fatalf("got OK %v, class %q (%s); want class %q", res.OK, res.ErrorClass, res.Error, tt.wantClass)
			}
			if !strings.Contains(res.Error, tt.wantError) {
				t.Errorf("got error %q, want it to contain %q", res.Error, tt.wantError)
			}
			if len(res.Error) > maxErrorBytes+50 {
				t.Errorf("got an error of %d bytes, want at most about %d", len(res.Error), maxErrorBytes)
			}
			if res.Status != tt.wantStatus || res.FinishReason != tt.wantFinish {
				t.Errorf("got status %d, finish %q; want %d, %q", res.Status, res.FinishReason, tt.wantStatus, tt.wantFinish)
			}
			if res.Chunks != tt.wantChunks || len(res.ChunkTokens) != tt.wantChunks {
				t.Errorf("got %d chunks (%v), want %d kept", res.Chunks, res.ChunkTokens, tt.wantChunks)
			}
			if tt.wantChunks > 0 {
				if res.TTFTMS == nil || res.E2EMS == nil || res.Text == "" {
					t.Errorf("got TTFT %v, E2E %v, text %q; want what came before the error", res.TTFTMS, res.E2EMS, res.Text)
				}
				if (res.TTSTMS != nil) != (tt.wantChunks > 1) || len(res.GapsMS) != tt.wantChunks-1 {
					t.Errorf("got TTST %v, gaps %v; want those of %d events", res.TTSTMS, res.GapsMS, tt.wantChunks)
				}
			} else if res.TTFTMS != nil || res.E2EMS != nil {
				t.Errorf("got TTFT %v, E2E %v; want none", res.TTFTMS, res.E2EMS)
			}
			if tt.wantStatus != 0 && (res.FirstByteMS == nil || res.Sent.IsZero()) {
				t.Errorf("got first byte %v, sent %v; want both", res.FirstByteMS, res.Sent)
			}
			if tt.wantClass == runfmt.ErrorConnect && (!res.Sent.IsZero() || res.Started.IsZero()) {
				t.Errorf("got started %v, sent %v; want a start and no send", res.Started, res.Sent)
			}
			if res.TraceID == "" {
				t.Error("got no trace id, want one even on failure")
			}
		})
	}
}

// TestCallerDeadline checks that the caller's own deadline counts as
// canceled (the run stopped), not as the request's timeout.
func TestCallerDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		waitGone(r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := newClient(t, Config{BaseURL: srv.URL, Timeout: time.Minute}).Do(ctx, Request{Prompt: "p"})
	if res.ErrorClass != runfmt.ErrorCanceled {
		t.Errorf("got class %q (%s), want %q", res.ErrorClass, res.Error, runfmt.ErrorCanceled)
	}
}
