package faults

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// TestJaegerKilledMidRun kills Jaeger (SIGKILL) halfway through a 7 s run
// whose client and server both export spans to it. Expected: requests keep
// succeeding after the kill; the run folder is complete (one line per
// completed iteration, summary.json, run.json finished); and the analyzer,
// pointed at the dead Jaeger, reports the traces it could not get and still
// gives every request a breakdown, within a bounded time.
func TestJaegerKilledMidRun(t *testing.T) {
	j := startJaeger(t)
	base := startRefserver(t, func(c *refserver.ServeConfig) {
		c.Telemetry = telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "refserver", SampleRatio: 1}
	})
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 4, duration: '7s' } } };
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '10s' });
export default function () { c.generate({ prompt: 'Hello world', max_tokens: 8 }); }
`)
	const killAfter = 3500 * time.Millisecond
	var killedAt time.Time
	killed := make(chan error, 1)
	timer := time.AfterFunc(killAfter, func() {
		killedAt = time.Now()
		killed <- syscall.Kill(j.Pid(), syscall.SIGKILL)
	})
	defer timer.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": base}, func(c *loadgen.Config) {
		c.Tracing = telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "llmbench", SampleRatio: 1}
		c.JaegerQuery = j.QueryGRPC
	})
	select {
	case err := <-killed:
		if err != nil {
			t.Fatalf("kill jaeger: %v", err)
		}
	default:
		t.Fatalf("the run ended before Jaeger was killed (after %v)\n%s", killAfter, stderr)
	}
	if res.Exit != loadgen.ExitOK {
		t.Errorf("exit %d, want %d\n%s", res.Exit, loadgen.ExitOK, stderr)
	}

	// The load went on, and the run folder is whole.
	reqs := readRequests(t, res.Dir)
	var after, failed int
	for _, r := range reqs {
		if !r.OK {
			failed++
			t.Errorf("request %d failed: %s %s", r.Seq, r.ErrorClass, r.Error)
		}
		if r.OK && r.Started.After(killedAt) {
			after++
		}
	}
	if after == 0 {
		t.Errorf("got no successful request started after Jaeger was killed (%d requests in all), want some", len(reqs))
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if got, want := int(sum.Metrics["iterations"].Values["count"]), len(reqs); got != want || want == 0 {
		t.Errorf("got %d completed iterations, want %d (the lines of requests.jsonl), and more than 0", got, want)
	}
	if sum.LLM == nil || int(sum.LLM.Requests) != len(reqs) {
		t.Errorf("summary llm %+v, want %d requests", sum.LLM, len(reqs))
	}
	run, err := runfmt.ReadRun(res.Dir)
	if err != nil {
		t.Fatalf("run.json: %v", err)
	}
	if run.Status != runfmt.StatusFinished || run.End.IsZero() || run.Jaeger != j.QueryGRPC {
		t.Errorf("run.json: got status %q end %v jaeger %q, want finished with an end and jaeger %q", run.Status, run.End, run.Jaeger, j.QueryGRPC)
	}

	// The analysis, against the dead Jaeger that run.json names.
	const bound = 45 * time.Second
	actx, acancel := context.WithTimeout(t.Context(), bound)
	defer acancel()
	began := time.Now()
	a, err := analyzer.Analyze(actx, analyzer.Config{Run: res.Dir, Wait: 2 * time.Second, Quiet: true}, nil)
	took := time.Since(began)
	if err != nil {
		t.Fatalf("analyze after %v: %v", took, err)
	}
	if took > bound-5*time.Second {
		t.Errorf("analyze took %v against a dead Jaeger, want well under %v", took, bound)
	}
	cov := a.Coverage
	if cov.MissingTraces == 0 && cov.ClientOnly == 0 {
		t.Errorf("coverage %+v: got no missing trace and no client-only request, want the dead Jaeger's traces reported", cov)
	}
	if !contains(strings.Join(cov.Notes, "\n"), "Jaeger at "+j.QueryGRPC) {
		t.Errorf("coverage notes %q do not name the Jaeger that failed (%s)", cov.Notes, j.QueryGRPC)
	}
	if cov.Requests != len(reqs) || cov.Analyzed != len(reqs) || len(a.Requests) != len(reqs) {
		t.Errorf("coverage: got %d requests, %d analyzed, %d breakdowns, want %d of each", cov.Requests, cov.Analyzed, len(a.Requests), len(reqs))
	}
	for _, b := range a.Requests {
		if b.OK && (b.TotalMS <= 0 || len(b.Parts) == 0 || b.Dominant == "") {
			t.Errorf("request %d: got total %v ms, parts %v, dominant %q, want an attribution", b.Seq, b.TotalMS, b.Parts, b.Dominant)
			break
		}
	}
	if a.Aggregate.Requests != len(reqs)-failed {
		t.Errorf("aggregate over %d requests, want %d", a.Aggregate.Requests, len(reqs)-failed)
	}
	t.Logf("%d requests (%d after the kill at %v); analysis in %v: %d missing traces, %d partial, %d client-only; notes %q",
		len(reqs), after, killAfter, took.Round(time.Millisecond), cov.MissingTraces, cov.PartialTraces, cov.ClientOnly, cov.Notes)
}

// TestPrometheusDown analyzes a run with a Prometheus URL that refuses
// connections. Expected: the analysis completes, with its breakdowns, no
// series points, and says that the series could not be had (SeriesErrors
// or a note naming Prometheus).
func TestPrometheusDown(t *testing.T) {
	base := startRefserver(t, nil)
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { iterations: 4, vus: 2 };
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '10s' });
export default function () { c.generate({ prompt: 'Hello world', max_tokens: 6 }); }
`)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	prom := refusedURL(t)
	res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": base}, func(c *loadgen.Config) { c.PrometheusURL = prom })
	if res.Exit != loadgen.ExitOK {
		t.Fatalf("exit %d\n%s", res.Exit, stderr)
	}
	const bound = 30 * time.Second
	actx, acancel := context.WithTimeout(t.Context(), bound)
	defer acancel()
	began := time.Now()
	a, err := analyzer.Analyze(actx, analyzer.Config{Run: res.Dir, Prometheus: prom, Quiet: true}, nil)
	took := time.Since(began)
	if err != nil {
		t.Fatalf("analyze after %v: %v", took, err)
	}
	if took > bound-5*time.Second {
		t.Errorf("analyze took %v with Prometheus down, want well under %v", took, bound)
	}
	said := a.Coverage.SeriesErrors > 0
	for _, n := range a.Coverage.Notes {
		said = said || strings.Contains(strings.ToLower(n), "prometheus")
	}
	if !said {
		t.Errorf("coverage %+v: the analysis does not say the series are missing", a.Coverage)
	}
	for _, s := range a.Series {
		if len(s.Points) > 0 {
			t.Errorf("series %s: got %d points from a Prometheus that is down", s.Name, len(s.Points))
		}
	}
	if a.Prometheus != prom || len(a.Requests) != 4 || a.Aggregate.Requests != 4 {
		t.Errorf("analysis: prometheus %q, %d breakdowns, aggregate over %d; want %q, 4, 4", a.Prometheus, len(a.Requests), a.Aggregate.Requests, prom)
	}
	if _, err := runfmt.ReadAnalysis(res.Dir); err != nil {
		t.Errorf("analysis.json: %v", err)
	}
	t.Logf("analysis in %v: %d series errors; notes %q", took.Round(time.Millisecond), a.Coverage.SeriesErrors, a.Coverage.Notes)
}
