package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/refservertest"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// lockedBuffer is a bytes.Buffer that goroutines may write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRefserver serves the tiny fixture in-process on a free loopback
// port until the test ends, and returns its base URL. mod, when not nil,
// changes the configuration first (engine bounds, telemetry).
func startRefserver(t *testing.T, mod func(*refserver.ServeConfig)) string {
	cfg := refserver.ServeConfig{Telemetry: telemetry.Config{ServiceName: "refserver", SampleRatio: 1}}
	if mod != nil {
		mod(&cfg)
	}
	return refservertest.Start(t, cfg)
}

// startJaeger starts the pinned Jaeger with stack.StartJaeger (not
// JaegerForTest: the test kills it, and JaegerForTest reports a child that
// died as an error). A missing binary skips the test, or fails it under
// LLMBENCH_INTEGRATION=1, as stack.JaegerForTest does.
func startJaeger(t *testing.T) *stack.Jaeger {
	t.Helper()
	j, err := stack.StartJaeger(t.Context(), stack.Options{Dir: t.TempDir()})
	if errors.Is(err, stack.ErrNotBuilt) {
		if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
			t.Fatalf("the fault suite needs the pinned Jaeger: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Stop() }) // an error here only says it had died, as it should have
	return j
}

// writeScript writes a scenario script into a fresh folder and returns
// its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.js")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runLoad runs script with loadgen.Run into a fresh run folder, quietly,
// with env as __ENV. It fails the test when Run returns an error (no run
// folder). stdout and stderr are lockedBuffers: Run writes stderr from
// several goroutines (the span exporter's warnings among them), as it may
// with os.Stderr.
func runLoad(t *testing.T, ctx context.Context, script string, env map[string]string, mod func(*loadgen.Config)) (res *loadgen.Result, stderr string) {
	t.Helper()
	cfg := loadgen.Config{Script: script, Env: env, NoSysEnv: true, Out: filepath.Join(t.TempDir(), "run"), Quiet: true, NoSummary: true}
	if mod != nil {
		mod(&cfg)
	}
	var out, errb lockedBuffer
	res, err := loadgen.Run(ctx, cfg, &out, &errb)
	if err != nil {
		t.Fatalf("loadgen.Run: %v\n%s", err, errb.String())
	}
	return res, errb.String()
}

// readRequests reads every line of dir's requests.jsonl and fails the test
// on a line that does not parse.
func readRequests(t *testing.T, dir string) []*runfmt.Request {
	t.Helper()
	var reqs []*runfmt.Request
	for r, err := range runfmt.Requests(dir) {
		if err != nil {
			t.Fatalf("requests.jsonl: %v", err)
		}
		reqs = append(reqs, r)
	}
	return reqs
}

// byClass counts requests by error class ("" for the successful ones).
func byClass(reqs []*runfmt.Request) map[string]int {
	n := map[string]int{}
	for _, r := range reqs {
		n[r.ErrorClass]++
	}
	return n
}

// refusedURL is an http:// URL on 127.0.0.1 whose port refuses
// connections: it was free a moment ago and nothing listens on it.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// fakeLLM is a refserver-shaped POST /generate/stream that streams tokens
// text events, then the final event and [DONE], or answers status with
// message as an OpenAI-style error when status is not 0.
type fakeLLM struct {
	tokens  int
	status  int
	message string
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, `{"status":"ok","model":"fake-gpt2","backend":"fake","device":"cpu","gpu_available":false}`)
		return
	case "/generate/stream":
	default:
		http.NotFound(w, r)
		return
	}
	if f.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error"}}`, f.message)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for i := range f.tokens {
		fmt.Fprintf(w, "data: {\"text\":\" t%d\",\"token_ids\":[%d]}\n\n", i, i)
	}
	fmt.Fprintf(w, "data: {\"done\":true,\"finish_reason\":\"length\",\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", f.tokens, f.tokens+2)
}

// writeRunFolder writes a small valid run folder runsDir/id by hand: run.json,
// requests.jsonl with n requests, and summary.json.
func writeRunFolder(t *testing.T, runsDir, id string, n int) string {
	t.Helper()
	dir := filepath.Join(runsDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	run := &runfmt.Run{ID: id, Scenario: "smoke", Target: "http://127.0.0.1:8000", Protocol: "generate",
		Start: start, End: start.Add(10 * time.Second), Status: runfmt.StatusFinished,
		Server: &runfmt.Server{Model: "gpt2", Backend: "cpu", Device: "cpu"}}
	if err := runfmt.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		sent := start.Add(time.Duration(i) * time.Second)
		r := &runfmt.Request{Scenario: "smoke", Protocol: "generate", URL: "http://127.0.0.1:8000/generate/stream", VU: 1, Iter: int64(i),
			Stream: true, Started: sent, Sent: sent, TTFTMS: runfmt.MsPtr(20 * time.Millisecond), E2EMS: runfmt.MsPtr(100 * time.Millisecond),
			CloseMS: 101, Chunks: 5, Status: 200, OK: true, InputTokens: 3, OutputTokens: 5, TokenSource: "usage", ClientOutputTokens: 5}
		if err := log.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	p := runfmt.Percentiles{Count: int64(n), Avg: 20, Min: 20, P50: 20, P90: 20, P95: 20, P99: 20, Max: 20}
	sum := &runfmt.Summary{Start: start, End: run.End, Duration: 10, ThresholdsOK: true, Metrics: map[string]runfmt.Metric{},
		LLM: &runfmt.LLMSummary{Requests: int64(n), RequestsPerS: float64(n) / 10, TTFT: p, TPOT: p, ITL: p, E2E: p}}
	if err := runfmt.WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	return dir
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
