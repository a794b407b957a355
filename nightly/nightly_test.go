package nightly

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
)

// fakeLLM is a refserver-shaped /generate/stream endpoint: it waits ttft
// before the first token, then streams tokens gap apart.
type fakeLLM struct {
	ttft   atomic.Int64 // nanoseconds
	tokens int
	gap    time.Duration
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
	var req struct {
		Prompt    string `json:"prompt"`
		MaxTokens int    `json:"max_tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Prompt == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	n := min(f.tokens, max(req.MaxTokens, 1))
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := range n {
		wait := f.gap
		if i == 0 {
			wait = time.Duration(f.ttft.Load())
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(wait):
		}
		fmt.Fprintf(w, "data: {\"text\": \" t%d\", \"token_ids\": [%d]}\n\n", i, i)
		rc.Flush()
	}
	fmt.Fprintf(w, "data: {\"done\": true, \"finish_reason\": \"length\", \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": %d, \"total_tokens\": %d}}\n\ndata: [DONE]\n\n", n, n+3)
	rc.Flush()
}

const e2eScript = `
import llm from 'k6/x/llm';
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 2, iterations: 20 } } };
const c = new llm.Client({ baseURL: __ENV.TARGET, protocol: __ENV.PROTOCOL });
export default function () { c.generate({ prompt: 'hello ' + __ITER, max_tokens: 6 }); }
`

// fakeReports stands in for reportgen, recording its calls.
type fakeReports struct{ writes, compares []string }

func (f *fakeReports) Write(_ context.Context, dir string) (string, error) {
	f.writes = append(f.writes, filepath.Base(dir))
	p := filepath.Join(dir, runfmt.ReportFile)
	return p, os.WriteFile(p, []byte("<html></html>"), 0o644)
}

func (f *fakeReports) WriteCompare(_ context.Context, a, b, out string) error {
	f.compares = append(f.compares, filepath.Base(a)+" vs "+filepath.Base(b))
	return os.WriteFile(out, []byte("<html></html>"), 0o644)
}

func TestRunFlagsASlowerNight(t *testing.T) {
	llm := &fakeLLM{tokens: 6, gap: 2 * time.Millisecond}
	llm.ttft.Store(int64(20 * time.Millisecond))
	srv := httptest.NewServer(llm)
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // connection refused from now on

	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("chat.js", e2eScript)
	write("broken.js", "export default function () {\n  let = 1;\n}\n")
	write("suite.json", `{
  "name": "tiny",
  "scenarios": [{"script": "chat.js"}, {"script": "broken.js"}],
  "targets": [
    {"name": "up", "url": "`+srv.URL+`"},
    {"name": "down", "url": "`+downURL+`"}
  ],
  "slos": {"ttft_p95_ms": 100},
  "detector": {"nights": 1, "min_effect_pct": 300, "metrics": ["ttft_p95_ms", "e2e_p95_ms", "tpot_p50_ms", "error_rate"]}
}`)
	// min_effect_pct 300: the slow night (TTFT 20 → 300 ms) is far above it,
	// while a loaded CI machine can move a normal night's p95s by 50 %;
	// with one night of history the MAD is 0, so only the effect guards.
	runs := filepath.Join(dir, "runs")
	reports := &fakeReports{}
	night := func(date string) (*Result, string) {
		t.Helper()
		var out bytes.Buffer
		res, err := Run(t.Context(), Config{Suite: filepath.Join(dir, "suite.json"), Runs: runs, Night: date, reports: reports}, &out)
		if err != nil {
			t.Fatalf("night %s: %v\n%s", date, err, out.String())
		}
		if len(res.Records) != 4 {
			t.Fatalf("night %s: got %d records, want 4 (2 scenarios × 2 targets)\n%s", date, len(res.Records), out.String())
		}
		return res, out.String()
	}
	record := func(res *Result, scenario, target string) Record {
		t.Helper()
		i := slices.IndexFunc(res.Records, func(r Record) bool { return r.Scenario == scenario && r.Target == target })
		if i < 0 {
			t.Fatalf("no record of %s × %s", scenario, target)
		}
		return res.Records[i]
	}

	// A normal night: no baseline yet, and failures recorded as such.
	res, out := night("2026-01-01")
	if res.Exit != ExitFailed {
		t.Errorf("night 1: got exit %d, want %d (failed runs, no regression)\n%s", res.Exit, ExitFailed, out)
	}
	if r := record(res, "chat", "up"); r.Status != StatusNoBaseline || r.Regression || r.Why != "no verdict: baseline needs 1 night, has 0" {
		t.Errorf("night 1 chat × up: got %s %q, want no-baseline", r.Status, r.Why)
	}

	// The second night is slower: TTFT 20 ms → 300 ms. (On a loaded
	// machine under -race, 20 ms becomes 70 ms at p95 at times: hence
	// the wide margin.)
	llm.ttft.Store(int64(300 * time.Millisecond))
	res, out = night("2026-01-02")
	t.Logf("night 2:\n%s", out)
	if res.Exit != ExitRegression {
		t.Errorf("night 2: got exit %d, want %d", res.Exit, ExitRegression)
	}
	r := record(res, "chat", "up")
	if r.Status != StatusRegression || !r.Regression || !slices.Contains(r.Metrics, "ttft_p95_ms") || !strings.Contains(r.Why, "ttft_p95_ms rose") {
		t.Errorf("night 2 chat × up: got %s %v %q, want a ttft_p95_ms regression", r.Status, r.Metrics, r.Why)
	}
	if r.BaselineRun != "2026-01-01-tiny-chat-up" || r.BaselineNight != "2026-01-01" {
		t.Errorf("baseline: got %s (%s), want the last good night's run 2026-01-01-tiny-chat-up", r.BaselineRun, r.BaselineNight)
	}
	if len(r.SLOMissed) != 1 || !strings.HasPrefix(r.SLOMissed[0], "ttft_p95_ms") {
		t.Errorf("SLOs missed: got %q, want ttft_p95_ms", r.SLOMissed)
	}
	for _, w := range []string{"REGRESSION", "chat × up", "ttft_p95_ms rose", "compare report:", "FAILED"} {
		if !strings.Contains(out, w) {
			t.Errorf("printed text lacks %q", w)
		}
	}

	// On disk: nightly.json as the index reads it, run.json marked.
	runDir := filepath.Join(runs, "2026-01-02-tiny-chat-up")
	onDisk, err := ReadRecord(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if !onDisk.Regression || onDisk.Why != r.Why || !slices.Equal(onDisk.Metrics, r.Metrics) || len(onDisk.Verdicts) != 4 {
		t.Errorf("nightly.json: got %+v, want the record", onDisk)
	}
	run, err := runfmt.ReadRun(runDir)
	if err != nil || run.Suite != "tiny" || run.Night != "2026-01-02" || run.Status != runfmt.StatusFinished {
		t.Errorf("run.json: got %+v, %v; want suite tiny, night 2026-01-02, finished", run, err)
	}
	if _, err := os.Stat(filepath.Join(runDir, runfmt.AnalysisFile)); err != nil {
		t.Errorf("analysis.json: %v", err)
	}
	if r.Compare != CompareFile || !slices.Contains(reports.compares, "2026-01-01-tiny-chat-up vs 2026-01-02-tiny-chat-up") {
		t.Errorf("compare report: got %q, calls %q; want last good night vs tonight", r.Compare, reports.compares)
	}
	if r.Report != runfmt.ReportFile {
		t.Errorf("report: got %q, want %s", r.Report, runfmt.ReportFile)
	}

	// A failed run is recorded as failed, never as a regression.
	for _, c := range []struct{ scenario, target, why string }{
		{"chat", "down", "all 20 requests failed (target down?)"},
		{"broken", "up", "the run could not start"},
		{"broken", "down", "the run could not start"},
	} {
		r := record(res, c.scenario, c.target)
		if r.Status != StatusFailed || r.Regression || !strings.Contains(r.Why, c.why) {
			t.Errorf("%s × %s: got %s (regression %v) %q, want failed with %q", c.scenario, c.target, r.Status, r.Regression, r.Why, c.why)
		}
		dir := filepath.Join(runs, r.Run)
		if rec, err := ReadRecord(dir); err != nil || rec.Status != StatusFailed {
			t.Errorf("%s × %s: nightly.json: got %+v, %v; want status failed", c.scenario, c.target, rec, err)
		}
		if run, err := runfmt.ReadRun(dir); err != nil || run.Suite != "tiny" || run.Night != "2026-01-02" {
			t.Errorf("%s × %s: run.json: got %+v, %v; want one marked with the suite and night", c.scenario, c.target, run, err)
		}
	}

	// The index sees the history and the regression.
	ix, err := index.Open(t.Context(), runs)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	pts, err := ix.History(t.Context(), "tiny", "", "", "ttft_p95_ms", 0)
	if err != nil {
		t.Fatal(err)
	}
	var nights []string
	for _, p := range pts {
		if strings.HasSuffix(p.RunID, "-chat-up") {
			nights = append(nights, p.Night)
			if (p.Night == "2026-01-02") != (p.Regression != "") {
				t.Errorf("index history %s: got regression %q", p.Night, p.Regression)
			}
		}
	}
	if !slices.Equal(nights, []string{"2026-01-01", "2026-01-02"}) {
		t.Errorf("index history of chat × up: got nights %q, want both", nights)
	}

	// The real report generator, on these folders.
	a, b := filepath.Join(runs, "2026-01-01-tiny-chat-up"), runDir
	out2 := filepath.Join(t.TempDir(), "compare.html")
	if err := (reportgenReporter{}).WriteCompare(t.Context(), a, b, out2); errors.Is(err, reportgen.ErrNoECharts) {
		t.Logf("reportgen: %v; its part is skipped", err)
	} else if err != nil {
		t.Errorf("reportgen compare: %v", err)
	} else if _, err := (reportgenReporter{}).Write(t.Context(), b); err != nil {
		t.Errorf("reportgen report: %v", err)
	}

	// Running a night again replaces its folders.
	llm.ttft.Store(int64(20 * time.Millisecond))
	res, _ = night("2026-01-02")
	if r := record(res, "chat", "up"); r.Regression || r.Compare != "" {
		t.Errorf("night 2 again, at normal speed: got a regression: %s", r.Why)
	}
	if _, err := os.Stat(filepath.Join(runDir, CompareFile)); err == nil {
		t.Errorf("night 2 again: the old compare.html is still there")
	}
}

func TestRunScheduledSurvivesFailedNights(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	dir := t.TempDir()
	script := strings.Replace(e2eScript, "iterations: 20", "iterations: 3", 1)
	if err := os.WriteFile(filepath.Join(dir, "chat.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := `{"name": "sched", "scenarios": [{"script": "chat.js"}], "targets": [{"name": "down", "url": "` + downURL + `"}]}`
	if err := os.WriteFile(filepath.Join(dir, "suite.json"), []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	nights := func() []string {
		ents, _ := os.ReadDir(runs)
		var ns []string
		for _, e := range ents {
			if _, err := os.Stat(filepath.Join(runs, e.Name(), RecordFile)); err == nil {
				ns = append(ns, e.Name())
			}
		}
		return ns
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	clock.onSleep = func(time.Time) {
		if len(nights()) >= 2 {
			cancel()
		}
	}
	var out bytes.Buffer
	_, err := Run(ctx, Config{Suite: filepath.Join(dir, "suite.json"), Runs: runs, Schedule: "0 2 * * *", clock: clock, reports: &fakeReports{}}, &out)
	if err != nil {
		t.Fatalf("Run: got %v, want nil when stopped\n%s", err, out.String())
	}
	got := nights()
	want := []string{"2026-01-02-sched-chat-down", "2026-01-03-sched-chat-down"}
	if !slices.Equal(got, want) {
		t.Errorf("nights: got %q, want %q\n%s", got, want, out.String())
	}
	for _, n := range got {
		if rec, err := ReadRecord(filepath.Join(runs, n)); err != nil || rec.Status != StatusFailed {
			t.Errorf("%s: got %+v, %v; want a failed night", n, rec, err)
		}
	}
	if c := strings.Count(out.String(), "night done with findings"); c != 2 {
		t.Errorf("log: got %d nights done with findings, want 2\n%s", c, out.String())
	}
}
