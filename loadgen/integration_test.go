package loadgen

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/refservertest"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

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

// startRefserver serves the tiny fixture in-process, sending spans to otlp
// ("" for none), until the test ends.
func startRefserver(t *testing.T, otlp string) string {
	return refservertest.Start(t, refserver.ServeConfig{
		Telemetry: telemetry.Config{Endpoint: otlp, ServiceName: "refserver", SampleRatio: 1},
	})
}

// TestScenariosAgainstRefserver runs the shipped smoke and baseline
// scenarios (the baseline shortened) against refserver and checks their
// run folders.
func TestScenariosAgainstRefserver(t *testing.T) {
	base := startRefserver(t, "")
	_, file, _, _ := runtime.Caller(0)
	scenarios := filepath.Join(filepath.Dir(file), "..", "scenarios")
	tests := []struct {
		script   string
		env      map[string]string
		minReqs  int64
		maxToks  int
		scenario string
	}{
		{"smoke.js", nil, 5, 16, "smoke"},
		{"baseline.js", map[string]string{"HOLD": "3s"}, 5, 50, "baseline"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			env := map[string]string{"TARGET": base}
			for k, v := range tt.env {
				env[k] = v
			}
			res, stdout, stderr, err := runScript(t, t.Context(), filepath.Join(scenarios, tt.script), env, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if res.Exit != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.Exit, stdout, stderr)
			}
			run, err := runfmt.ReadRun(res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if run.Server == nil || run.Server.Model == "" || run.Status != runfmt.StatusFinished {
				t.Errorf("run.json: server %+v, status %s", run.Server, run.Status)
			}
			var n int64
			vus := map[int]bool{}
			for r, err := range runfmt.Requests(res.Dir) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				vus[r.VU] = true
				if !r.OK || r.Scenario != tt.scenario || r.OutputTokens < 1 || r.OutputTokens > tt.maxToks || r.TTFTMS == nil || r.E2EMS == nil || r.TraceID == "" {
					t.Errorf("request %d: %+v", r.Seq, r)
				}
			}
			sum, err := runfmt.ReadSummary(res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if n < tt.minReqs || sum.LLM.Requests != n || sum.LLM.Errors != 0 || int64(sum.Metrics["llm_requests"].Values["count"]) != n {
				t.Errorf("requests: %d in requests.jsonl, summary %+v, llm_requests %v", n, sum.LLM, sum.Metrics["llm_requests"].Values)
			}
			if tt.script == "baseline.js" && len(vus) != 5 {
				t.Errorf("baseline: requests came from %d VUs, want 5", len(vus))
			}
		})
	}
}

// TestClientSpansJoinServerTraces runs scripts against refserver with
// both exporting to the real Jaeger: each request's trace holds the
// loadgen's llm.request span with its events, and refserver's spans under
// it. The second script holds 4 streams per VU at once with
// client.generateAsync: its spans must be as right as blocking calls' are.
func TestClientSpansJoinServerTraces(t *testing.T) {
	j := stacktest.Jaeger(t)
	base := startRefserver(t, j.OTLPGRPC)
	tests := []struct {
		name, script string
		want         int
	}{
		{"blocking", `
import llm from 'k6/x/llm';
export const options = { iterations: 3 };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'Hello world', max_tokens: 6 }); }
`, 3},
		{"4 streams per VU", `
import llm from 'k6/x/llm';
export const options = { vus: 2, iterations: 4 };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default async function () {
  const rs = await Promise.all([1, 2, 3, 4].map((i) => c.generateAsync({ prompt: 'Hello world ' + i, max_tokens: 6 })));
  if (!rs.every((r) => r.ok)) throw new Error('a stream failed');
}
`, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkClientSpans(t, j, base, tt.script, tt.want) })
	}
}

func checkClientSpans(t *testing.T, j *stack.Jaeger, base, body string, want int) {
	script := writeScript(t, body)
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": base}, func(c *Config) {
		c.Tracing = telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "llmbench", SampleRatio: 1}
	})
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %d, %v\n%s", res.Exit, err, stderr)
	}
	var reqs []*runfmt.Request
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	if len(reqs) != want {
		t.Fatalf("got %d requests, want %d", len(reqs), want)
	}
	traces := map[string]bool{}
	for _, r := range reqs {
		if traces[r.TraceID] {
			t.Errorf("trace %s holds two requests", r.TraceID)
		}
		traces[r.TraceID] = true
	}
	for _, r := range reqs {
		var byName map[string]*model.Span
		deadline := time.Now().Add(20 * time.Second)
		for {
			spans, err := stacktest.JaegerClient(t, j).Trace(t.Context(), r.TraceID)
			if err != nil && !errors.Is(err, jaeger.ErrTraceNotFound) {
				t.Fatal(err)
			}
			byName = map[string]*model.Span{}
			for _, s := range spans {
				byName[s.OperationName] = s
			}
			if byName["llm.request"] != nil && byName["POST /generate/stream"] != nil && byName["decode"] != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trace %s: after 20 s Jaeger has spans %v", r.TraceID, keys(byName))
			}
			time.Sleep(200 * time.Millisecond)
		}
		client, server := byName["llm.request"], byName["POST /generate/stream"]
		if client.SpanID.String() != r.SpanID {
			t.Errorf("llm.request span %s, want the request line's %s", client.SpanID, r.SpanID)
		}
		parent := ""
		for _, ref := range server.References {
			if ref.RefType == model.SpanRefType_CHILD_OF {
				parent = ref.SpanID.String()
			}
		}
		if parent != client.SpanID.String() {
			t.Errorf("server span's parent %s, want the client span %s", parent, client.SpanID)
		}
		events := map[string]time.Time{}
		for _, l := range client.Logs {
			for _, f := range l.Fields {
				if f.Key == "event" {
					events[f.VStr] = l.Timestamp
				}
			}
		}
		for _, e := range []string{"first_byte", "first_token", "last_token"} {
			if events[e].IsZero() {
				t.Errorf("llm.request lacks event %s (has %v)", e, events)
			}
		}
		if events["first_token"].Before(events["first_byte"]) || events["last_token"].Before(events["first_token"]) {
			t.Errorf("events out of order: %v", events)
		}
		if server.StartTime.Before(client.StartTime) || server.StartTime.Add(server.Duration).After(client.StartTime.Add(client.Duration).Add(time.Millisecond)) {
			t.Errorf("server span [%v +%v] not inside the client span [%v +%v]", server.StartTime, server.Duration, client.StartTime, client.Duration)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestNetworkOutputs sends a run's samples with k6's
// -o experimental-prometheus-rw
// (https://grafana.com/docs/k6/latest/results-output/real-time/prometheus-remote-write/)
// and -o opentelemetry
// (https://grafana.com/docs/k6/latest/results-output/real-time/opentelemetry/)
// to the pinned Prometheus, with its remote-write and OTLP receivers on,
// configured by k6's environment variables, and reads them back with
// PromQL: the counts are the run's.
func TestNetworkOutputs(t *testing.T) {
	p := stacktest.Prometheus(t)
	host := strings.TrimPrefix(p.URL, "http://")
	for k, v := range map[string]string{
		"K6_PROMETHEUS_RW_SERVER_URL": p.URL + "/api/v1/write", "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
		"K6_OTEL_EXPORTER_TYPE": "http", "K6_OTEL_HTTP_EXPORTER_ENDPOINT": host, "K6_OTEL_HTTP_EXPORTER_INSECURE": "true",
		"K6_OTEL_HTTP_EXPORTER_URL_PATH": "/api/v1/otlp/v1/metrics", "K6_OTEL_EXPORT_INTERVAL": "1s", "K6_OTEL_SERVICE_NAME": "llmbench-test",
	} {
		t.Setenv(k, v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	script := writeScript(t, `
import http from 'k6/http';
import { Counter } from 'k6/metrics';
const hits = new Counter('hits');
export const options = { iterations: 5 };
export default function () { http.get(__ENV.URL, { tags: { mine: 'yes' } }); hits.add(2); }
`)
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"URL": srv.URL}, func(c *Config) {
		c.Outputs = []string{"experimental-prometheus-rw", "opentelemetry"}
	})
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %v, %v\n%s", res.Exit, err, stderr)
	}
	if strings.Contains(stderr, "it stopped there") || strings.Contains(stderr, "dropped") {
		t.Errorf("an output failed or dropped samples:\n%s", stderr)
	}
	for _, q := range []struct{ promql, what string }{
		{`sum(k6_hits_total{job=""})`, "remote write's counter"},
		{`sum(k6_http_reqs_total{job="", mine="yes"}) / 5 * 10`, "remote write's http_reqs with their tags"},
		{`sum({__name__=~"k6_hits(_total)?", job="llmbench-test"})`, "OTLP's counter"},
		{`sum({__name__=~"k6_http_reqs(_total)?", job="llmbench-test", mine="yes"}) / 5 * 10`, "OTLP's http_reqs with their tags"},
	} {
		var v float64
		var ok bool
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			v, ok, err = stacktest.Query(t.Context(), p, q.promql)
			if err == nil && ok && v == 10 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s = %v (ok %v, %v), want 10", q.what, q.promql, v, ok, err)
				break
			}
		}
	}
}
