package faults

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/runfmt"
)

// hostile answers POST /generate/stream with 200 and a text/event-stream
// header, then misbehaves as its body says.
func hostile(body func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/generate/stream" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		body(w, r)
	})
}

// TestHostileSSE runs the load generator against fake servers that answer
// with a broken event stream. Expected, for each: every request is
// recorded as failed with the error class that names the fault, the run
// finishes (exit 0: no threshold, run.json finished) well within its
// bound, and nothing crashes.
func TestHostileSSE(t *testing.T) {
	const timeout = 2 * time.Second // the llm client's timeout in the script
	tests := []struct {
		name      string
		body      func(w http.ResponseWriter, r *http.Request)
		wantClass string
		wantError string // in every request's error
	}{
		{"garbage bytes", func(w http.ResponseWriter, r *http.Request) {
			// Random bytes, newlines and colons among them: lines of
			// unknown fields, which SSE ignores, then the end without
			// [DONE].
			rng := rand.New(rand.NewPCG(1, 2))
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b = bytes.ReplaceAll(b, []byte("data"), []byte("dat?"))
			w.Write(b)
		}, runfmt.ErrorTruncated, "without data: [DONE]"},
		{"10 MB single line", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data: {\"text\": \""))
			w.Write(bytes.Repeat([]byte("x"), 10<<20))
			w.Write([]byte("\"}\n\ndata: [DONE]\n\n"))
		}, runfmt.ErrorProtocol, "too long"},
		{"endless line", func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("y"), 64<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, runfmt.ErrorProtocol, "too long"},
		{"invalid JSON events", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data: {\"text\": \"a\", \"token_ids\": [1]}\n\ndata: {\"text\": \"b\", token_ids: [2\n\ndata: [DONE]\n\n"))
		}, runfmt.ErrorProtocol, "parse event"},
		{"stall after headers", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, runfmt.ErrorTimeout, "within " + timeout.String()},
		{"cut mid-stream", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data: {\"text\": \"a\", \"token_ids\": [1]}\n\n"))
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // drops the connection, as a crash would
		}, runfmt.ErrorTruncated, ""},
	}
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 2, iterations: 4, maxDuration: '30s' } } };
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '`+timeout.String()+`' });
export default function () { c.generate({ prompt: 'Hello', max_tokens: 4 }); }
`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(hostile(tt.body))
			defer srv.Close()
			const bound = 40 * time.Second
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			began := time.Now()
			res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": srv.URL}, func(c *loadgen.Config) { c.NoHealth = true })
			took := time.Since(began)
			if ctx.Err() != nil || took > bound/2 {
				t.Errorf("the run took %v, want well under %v", took, bound)
			}
			if res.Exit != loadgen.ExitOK {
				t.Errorf("exit %d, want %d\n%s", res.Exit, loadgen.ExitOK, stderr)
			}
			reqs := readRequests(t, res.Dir)
			if len(reqs) != 4 {
				t.Errorf("requests.jsonl: got %d lines, want 4", len(reqs))
			}
			for _, r := range reqs {
				if r.OK || r.ErrorClass != tt.wantClass || !strings.Contains(r.Error, tt.wantError) || r.Status != http.StatusOK {
					t.Errorf("request %d: got ok %v, status %d, class %q, error %.200q; want status 200, class %q, error with %q",
						r.Seq, r.OK, r.Status, r.ErrorClass, r.Error, tt.wantClass, tt.wantError)
				}
				if len(r.Error) > 4<<10 {
					t.Errorf("request %d: the error is %d bytes, want it clipped", r.Seq, len(r.Error))
				}
			}
			sum, err := runfmt.ReadSummary(res.Dir)
			if err != nil {
				t.Fatalf("summary.json: %v", err)
			}
			if got := int(sum.Metrics["llm_errors"].Values["count"]); got != len(reqs) {
				t.Errorf("llm_errors: got %d, want %d", got, len(reqs))
			}
			if run, err := runfmt.ReadRun(res.Dir); err != nil || run.Status != runfmt.StatusFinished {
				t.Errorf("run.json: %+v, %v; want status finished", run, err)
			}
			if len(reqs) > 0 {
				t.Logf("%v: %s", took.Round(time.Millisecond), reqs[0].Error[:min(len(reqs[0].Error), 160)])
			}
		})
	}
}
