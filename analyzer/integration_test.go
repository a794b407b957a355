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

	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/engine"
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

// TestAnalyzeRealStack is the analyzer against the real stack: refserver,
// Jaeger, Prometheus and the load generator. It checks the pipeline, not
// the verdict: every request traced and split with nothing unexplained,
// the server's calibration used for the decode split, the host's CPU
// measured, the series read, analysis.json written. Whether the verdicts
// name the causes built into controlled runs is e2e's TestVerdictMatrix
// (make e2e): a verdict may rightly change on a busy machine, and make
// test must pass on one.
func TestAnalyzeRealStack(t *testing.T) {
	if testing.Short() {
		t.Skip("the real stack with GPT-2 124M: not in -short")
	}
	script := filepath.Join(t.TempDir(), "load.js")
	if err := os.WriteFile(script, []byte(`
import llm from 'k6/x/llm';
export const options = {
  scenarios: { load: { executor: 'shared-iterations', vus: 4, iterations: 12, maxDuration: '2m' } },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () {
  c.generate({ prompt: 'The latency of a language model server is', max_tokens: 12, ignore_eos: true, do_sample: false });
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	j := stacktest.Jaeger(t)
	addr := serve(t, engine.Config{MaxBatch: 2}, j.OTLPGRPC)
	p := stacktest.Prometheus(t, stack.Target{Job: "refserver", Addr: addr})
	// Prometheus' first scrape comes a few seconds after it starts.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if v, ok, err := stacktest.Query(t.Context(), p, `up{job="refserver"}`); err == nil && ok && v == 1 {
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
		Env: map[string]string{"TARGET": "http://" + addr}}
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
	if a.Coverage.MissingTraces != 0 || a.Coverage.ClientOnly != 0 || a.Coverage.ServerTimings != 0 || a.Coverage.Analyzed != a.Coverage.Requests {
		t.Errorf("coverage: %+v", a.Coverage)
	}
	if a.Aggregate.Source != runfmt.SourceTrace || a.Aggregate.Requests != 12 || len(a.Others) != 0 {
		t.Errorf("aggregate of %d %q requests and %d other sources, want 12 traced and no other", a.Aggregate.Requests, a.Aggregate.Source, len(a.Others))
	}
	if got := a.Aggregate.UnexplainedMaxPct; got >= 1 {
		t.Errorf("unexplained remainder up to %.2f %% of a request, want < 1 %%", got)
	}
	if sc := a.StepCost; sc == nil || sc.Source != "calibration" || len(sc.Points) != 2 {
		t.Errorf("step cost %+v, want the server's calibration of batches 1 and 2", sc)
	}
	if h := a.Host; h == nil || h.Source != "engine.step spans" || h.AskedCores <= 0 || h.GotCores <= 0 {
		t.Errorf("host %+v, want the CPU the engine got from its steps", h)
	}
	if a.Verdict.Kind == "" || len(a.Verdict.Evidence) == 0 || len(a.Verdict.Shares) == 0 || a.Verdict.Agreement <= 0 {
		t.Errorf("verdict %+v: want a kind, evidence, shares and their agreement", a.Verdict)
	}
	if len(a.Series) == 0 || a.Coverage.SeriesErrors != 0 {
		t.Errorf("series: %d, %d errors", len(a.Series), a.Coverage.SeriesErrors)
	}
	back, err := runfmt.ReadAnalysis(out)
	if err != nil || back.Verdict.Summary != a.Verdict.Summary || len(back.Requests) != a.Coverage.Requests {
		t.Errorf("analysis.json: %v", err)
	}
}
