package analyzer

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/deploy/stack"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/loadgen/runfmt"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/refservertest"
	"github.com/llmbench/llmbench/refserver/telemetry"
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

// serve runs refserver (synthetic GPT-2 124M, so that the model's compute
// is real) with the engine config given, until the test ends, and
// returns its host:port.
func serve(t *testing.T, eng engine.Config, otlp string) string {
	url := refservertest.Start(t, refserver.ServeConfig{
		Engine: eng, Model: refserver.ModelConfig{Size: "124M"},
		Telemetry: telemetry.Config{Endpoint: otlp, ServiceName: "refserver", SampleRatio: 1},
	})
	return strings.TrimPrefix(url, "http://")
}

// TestVerdictFollowsTheBottleneck is the analyzer against the real stack:
// refserver, Jaeger, Prometheus and the load generator. Eight users
// against a batch capped at 1 must be diagnosed queue-bound, with the
// batch cap as the evidence; one user with room to batch must be
// diagnosed compute-bound.
func TestVerdictFollowsTheBottleneck(t *testing.T) {
	if testing.Short() {
		t.Skip("the real stack with GPT-2 124M: not in -short")
	}
	script := filepath.Join(t.TempDir(), "load.js")
	if err := os.WriteFile(script, []byte(`
import llm from 'k6/x/llm';
export const options = {
  scenarios: { load: { executor: 'shared-iterations', vus: Number(__ENV.VUS), iterations: Number(__ENV.N), maxDuration: '2m' } },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () {
  c.generate({ prompt: 'The latency of a language model server is', max_tokens: 12, ignore_eos: true, do_sample: false });
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		maxBatch int
		vus, n   string
		want     []string // acceptable bottlenecks
		wantRec  string   // a recommendation's action that must be there ("" none required)
	}{
		{"8 users, batch capped at 1", 1, "8", "24", []string{runfmt.PartServerQueue}, "raise the max batch size"},
		{"1 user", 8, "1", "6", []string{runfmt.PartPrefill, runfmt.PartDecodeOwn}, ""},
	}
	var verdicts []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := stack.JaegerForTest(t)
			addr := serve(t, engine.Config{MaxBatch: tt.maxBatch}, j.OTLPGRPC)
			p := stack.PrometheusForTest(t, stack.Target{Job: "refserver", Addr: addr})
			// Prometheus' first scrape comes a few seconds after it starts.
			for deadline := time.Now().Add(30 * time.Second); ; {
				if v, ok, err := p.Query(t.Context(), `up{job="refserver"}`); err == nil && ok && v == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Prometheus did not scrape refserver within 30 s")
				}
				time.Sleep(200 * time.Millisecond)
			}
			out := filepath.Join(t.TempDir(), "run")
			var stderr lockedBuffer
			lcfg := loadgen.Config{Script: script, Out: out, NoSysEnv: true, Quiet: true, NoSummary: true,
				Env: map[string]string{"TARGET": "http://" + addr, "VUS": tt.vus, "N": tt.n}}
			lcfg.Tracing = telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "llmbench", SampleRatio: 1}
			res, err := loadgen.Run(t.Context(), lcfg, io.Discard, &stderr)
			if err != nil || res.Exit != loadgen.ExitOK {
				t.Fatalf("run: exit %d, %v\n%s", res.Exit, err, stderr.String())
			}
			time.Sleep(2 * time.Second) // one more scrape after the last request
			var text bytes.Buffer
			a, err := Analyze(t.Context(), Config{Run: out, Jaeger: j.QueryGRPC, Prometheus: p.URL, Wait: 20 * time.Second}, &text)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(text.String())
			for _, s := range a.Series {
				t.Logf("series %s: %d points %v %s", s.Name, len(s.Points), s.Points[:min(len(s.Points), 3)], s.Error)
			}
			if a.Coverage.MissingTraces != 0 || a.Coverage.ClientOnly != 0 || a.Coverage.Analyzed != a.Coverage.Requests {
				t.Errorf("coverage: %+v", a.Coverage)
			}
			if got := a.Aggregate.UnexplainedMaxPct; got >= 1 {
				t.Errorf("unexplained remainder up to %.2f %% of a request, want < 1 %%", got)
			}
			found := false
			for _, w := range tt.want {
				found = found || a.Verdict.Bottleneck == w
			}
			if !found {
				t.Errorf("bottleneck %q (%s), want one of %v", a.Verdict.Bottleneck, a.Verdict.Summary, tt.want)
			}
			if tt.wantRec != "" {
				var actions []string
				for _, r := range a.Recommendations {
					actions = append(actions, r.Action)
				}
				if !strings.Contains(strings.Join(actions, "|"), tt.wantRec) {
					t.Errorf("recommendations %q lack %q", actions, tt.wantRec)
				}
			}
			if len(a.Series) == 0 || a.Coverage.SeriesErrors != 0 {
				t.Errorf("series: %d, %d errors", len(a.Series), a.Coverage.SeriesErrors)
			}
			back, err := runfmt.ReadAnalysis(out)
			if err != nil || back.Verdict.Bottleneck != a.Verdict.Bottleneck || len(back.Requests) != a.Coverage.Requests {
				t.Errorf("analysis.json: %v", err)
			}
			verdicts = append(verdicts, a.Verdict.Bottleneck)
		})
	}
	if len(verdicts) == 2 && verdicts[0] == verdicts[1] {
		t.Errorf("the verdict did not change between the runs: %v", verdicts)
	}
}
