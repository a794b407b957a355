package refserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serve runs Serve on the tiny fixture on a free loopback port with traces
// sent to otlp, and returns its base URL. Serve must return nil when the
// test ends (a drain, as on SIGTERM).
func serve(t *testing.T, otlp string, log *syncBuffer) string {
	t.Helper()
	cfg := ServeConfig{Model: ModelConfig{Dir: gpt2test.Dir(t)}}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.DrainTimeout = 5 * time.Second
	cfg.Telemetry = telemetry.Config{Endpoint: otlp, ServiceName: "refserver", SampleRatio: 1}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, log, func(a string) { addr <- a }) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("Serve: %v\n%s", err, log)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not listen within 30s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after the drain, want nil", err)
		}
	})
	return base
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// stream posts a streaming request and reads it to [DONE].
func stream(t *testing.T, base, traceparent string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/generate/stream", strings.NewReader(`{"prompt": "Hello world", "max_tokens": 8}`))
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return
		}
	}
	t.Fatalf("stream ended without [DONE] (status %d)", resp.StatusCode)
}

// TestTraceInJaeger sends a streamed request with a client's traceparent
// and finds the server's spans in the real Jaeger, in that trace, as the
// tree of DESIGN.md with nested timings.
func TestTraceInJaeger(t *testing.T) {
	j := stacktest.Jaeger(t)
	log := &syncBuffer{}
	base := serve(t, j.OTLPGRPC, log)
	traceID, parentID := randomHex(16), randomHex(8)
	stream(t, base, fmt.Sprintf("00-%s-%s-01", traceID, parentID))

	want := []string{"POST /generate/stream", "tokenize_input", "queue_wait", "model_generate", "prefill", "decode", "decode_output", "stream_write"}
	var spans []*model.Span
	byName := map[string]*model.Span{}
	deadline := time.Now().Add(20 * time.Second)
	for len(byName) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s Jaeger holds %d of the spans %v for trace %s\nserver log:\n%s", len(byName), want, traceID, log)
		}
		time.Sleep(200 * time.Millisecond)
		var err error
		spans, err = stacktest.JaegerClient(t, j).Trace(context.Background(), traceID)
		if err != nil && !errors.Is(err, jaeger.ErrTraceNotFound) {
			t.Fatal(err)
		}
		byName = map[string]*model.Span{}
		for _, s := range spans {
			byName[s.OperationName] = s
		}
	}
	parentOf := func(s *model.Span) string {
		for _, r := range s.References {
			if r.RefType == model.SpanRefType_CHILD_OF {
				return r.SpanID.String()
			}
		}
		return ""
	}
	server := byName["POST /generate/stream"]
	if got := server.TraceID.String(); got != traceID {
		t.Errorf("trace id %s, want the client's %s", got, traceID)
	}
	if got := parentOf(server); got != parentID {
		t.Errorf("server span's parent %q, want the client's span %s", got, parentID)
	}
	tree := map[string]string{
		"tokenize_input": "POST /generate/stream", "queue_wait": "POST /generate/stream",
		"model_generate": "POST /generate/stream", "decode_output": "POST /generate/stream",
		"stream_write": "POST /generate/stream", "prefill": "model_generate", "decode": "model_generate",
	}
	for child, parent := range tree {
		c, p := byName[child], byName[parent]
		if got := parentOf(c); got != p.SpanID.String() {
			t.Errorf("%s's parent is %s, want %s (%s)", child, got, parent, p.SpanID)
		}
		if c.StartTime.Before(p.StartTime) || c.StartTime.Add(c.Duration).After(p.StartTime.Add(p.Duration)) {
			t.Errorf("%s [%v, +%v] is not inside %s [%v, +%v]", child, c.StartTime, c.Duration, parent, p.StartTime, p.Duration)
		}
	}
	// prefill then decode, back to back.
	if p, d := byName["prefill"], byName["decode"]; !p.StartTime.Add(p.Duration).Equal(d.StartTime) {
		t.Errorf("prefill ends at %v, decode starts at %v: want the same instant", p.StartTime.Add(p.Duration), d.StartTime)
	}
	tags := map[string]bool{}
	for _, kv := range server.Tags {
		tags[kv.Key] = true
	}
	for _, k := range []string{"gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.latency.time_in_queue", "gen_ai.latency.time_to_first_token"} {
		if !tags[k] {
			t.Errorf("server span lacks attribute %s", k)
		}
	}
}

// TestPrometheusScrapes has the real Prometheus scrape refserver and
// answers the PromQL queries the analyzer will ask.
func TestPrometheusScrapes(t *testing.T) {
	log := &syncBuffer{}
	base := serve(t, "", log)
	p := stacktest.Prometheus(t, stack.Target{Job: "refserver", Addr: strings.TrimPrefix(base, "http://")})
	for _, q := range []string{
		"rate(llm_requests_total[1m])",
		"histogram_quantile(0.95, rate(llm_ttft_seconds_bucket[1m]))",
	} {
		deadline := time.Now().Add(40 * time.Second)
		for {
			stream(t, base, "")
			v, ok, err := stacktest.Query(context.Background(), p, q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if ok && v > 0 {
				t.Logf("%s = %g", q, v)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no positive value after 40s (last %v, %v)", q, v, ok)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// TestJaegerDown serves with the trace collector unreachable: requests
// still succeed, and the export failure is logged once, not per span.
func TestJaegerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	log := &syncBuffer{}
	base := serve(t, dead, log)
	for i := 0; i < 10; i++ {
		stream(t, base, "")
		time.Sleep(300 * time.Millisecond) // several export batches
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "export") {
		if time.Now().After(deadline) {
			t.Fatalf("no export failure logged within 10s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var failures int
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "export") && strings.Contains(strings.ToLower(line), "fail") {
			failures++
		}
	}
	t.Logf("server log:\n%s", log)
	if failures != 1 {
		t.Errorf("%d export failure lines, want 1:\n%s", failures, log)
	}
}
