package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

var t0 = time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)

// fixture describes one run folder to write.
type fixture struct {
	id       string
	scenario string
	target   string
	device   string
	suite    string
	night    string
	start    time.Time
	ttftP95  float64 // 0: no summary.json
	analysis string  // the verdict's bottleneck; "": no analysis.json
	nightly  string  // nightly.json's content; "": none
}

func writeFixture(t *testing.T, runs string, f fixture) string {
	t.Helper()
	dir := filepath.Join(runs, f.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if f.start.IsZero() {
		f.start = t0
	}
	r := &runfmt.Run{
		ID: f.id, Scenario: f.scenario, Target: f.target, Protocol: "generate",
		Server: &runfmt.Server{Model: "gpt2", Backend: f.device, Device: f.device},
		Suite:  f.suite, Night: f.night, Commit: "abc123", Host: "bench1",
		Start: f.start, End: f.start.Add(time.Minute), Status: runfmt.StatusFinished,
	}
	if err := runfmt.WriteRun(dir, r); err != nil {
		t.Fatal(err)
	}
	if f.ttftP95 != 0 {
		s := &runfmt.Summary{Start: f.start, End: f.start.Add(time.Minute), LLM: &runfmt.LLMSummary{
			Requests: 10, RequestsPerS: 2, OutputTokPerS: 40, Goodput: 1.5, ErrorRate: 0.1,
			TTFT: runfmt.Percentiles{Count: 10, P50: f.ttftP95 / 2, P95: f.ttftP95, P99: f.ttftP95 + 80},
			TPOT: runfmt.Percentiles{Count: 10, P50: 20, P95: 30, P99: 35},
			E2E:  runfmt.Percentiles{Count: 10, P50: 500, P95: 900, P99: 1000},
			// ITL has no sample: its metrics are absent.
		}}
		if err := runfmt.WriteSummary(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	if f.analysis != "" {
		a := &runfmt.Analysis{Run: f.id, Verdict: runfmt.Verdict{Bottleneck: f.analysis},
			Aggregate: runfmt.Aggregate{MeanShare: map[string]float64{f.analysis: 0.6, runfmt.PartNetwork: 0.1}}}
		if err := runfmt.WriteAnalysis(dir, a); err != nil {
			t.Fatal(err)
		}
	}
	if f.nightly != "" {
		writeFile(t, filepath.Join(dir, NightlyFile), f.nightly)
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, runs string, opts ...Option) *Index {
	t.Helper()
	ix, err := Open(context.Background(), runs, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func ids(runs []Run) []string {
	var s []string
	for _, r := range runs {
		s = append(s, r.ID)
	}
	return s
}

func listIDs(t *testing.T, ix *Index) []string {
	t.Helper()
	runs, err := ix.Runs(context.Background(), Filter{Sort: "id"})
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	return ids(runs)
}

func TestOpenBuildsFromFolders(t *testing.T) {
	runs := t.TempDir()
	dir := writeFixture(t, runs, fixture{id: "r1", scenario: "baseline", target: "http://a", device: "cpu",
		suite: "nightly", night: "2026-11-28", ttftP95: 800, analysis: runfmt.PartServerQueue,
		nightly: `{"format": 1, "regression": true, "why": "ttft up", "metrics": ["ttft_p95_ms"]}`})
	writeFile(t, filepath.Join(dir, runfmt.ReportFile), "<html></html>")
	writeFixture(t, runs, fixture{id: "r2", scenario: "smoke", target: "http://b", device: "cuda"})
	writeFile(t, filepath.Join(runs, "notes.txt"), "not a run") // files are not runs
	if err := os.Mkdir(filepath.Join(runs, ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}

	ix := open(t, runs)
	if _, err := os.Stat(filepath.Join(runs, DBFile)); err != nil {
		t.Errorf("database file: %v", err)
	}
	if got, want := listIDs(t, ix), []string{"r1", "r2"}; !slices.Equal(got, want) {
		t.Fatalf("runs: got %v, want %v", got, want)
	}
	r, err := ix.Run(context.Background(), "r1")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantDir, _ := filepath.Abs(dir)
	for _, c := range []struct{ name, got, want string }{
		{"Dir", r.Dir, wantDir},
		{"Scenario", r.Scenario, "baseline"},
		{"Target", r.Target, "http://a"},
		{"Protocol", r.Protocol, "generate"},
		{"Model", r.Model, "gpt2"},
		{"Backend", r.Backend, "cpu"},
		{"Device", r.Device, "cpu"},
		{"Commit", r.Commit, "abc123"},
		{"Host", r.Host, "bench1"},
		{"Suite", r.Suite, "nightly"},
		{"Night", r.Night, "2026-11-28"},
		{"Status", r.Status, runfmt.StatusFinished},
		{"Broken", r.Broken, ""},
		{"Bottleneck", r.Bottleneck, runfmt.PartServerQueue},
		{"Regression", r.Regression, "ttft up"},
		{"Start", r.Start.String(), t0.String()},
		{"End", r.End.String(), t0.Add(time.Minute).String()},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !r.HasAnalysis || !r.HasReport || r.Requests != 10 {
		t.Errorf("HasAnalysis, HasReport, Requests: got %v, %v, %d, want true, true, 10", r.HasAnalysis, r.HasReport, r.Requests)
	}
	if !r.Regressed("ttft_p95_ms") || r.Regressed("tpot_p95_ms") {
		t.Errorf("Regressed(ttft_p95_ms), Regressed(tpot_p95_ms): got %v, %v, want true, false", r.Regressed("ttft_p95_ms"), r.Regressed("tpot_p95_ms"))
	}
	wantMetrics := map[string]float64{
		"ttft_p50_ms": 400, "ttft_p95_ms": 800, "ttft_p99_ms": 880, "tpot_p50_ms": 20, "tpot_p95_ms": 30, "tpot_p99_ms": 35,
		"e2e_p50_ms": 500, "e2e_p95_ms": 900, "e2e_p99_ms": 1000, "requests_per_s": 2, "output_tokens_per_s": 40,
		"goodput_per_s": 1.5, "error_rate": 0.1, "share_server_queue": 0.6, "share_network": 0.1,
	}
	if len(r.Metrics) != len(wantMetrics) {
		t.Errorf("metrics: got %v, want %v", r.Metrics, wantMetrics)
	}
	for name, want := range wantMetrics {
		if got, ok := r.Metrics[name]; !ok || got != want {
			t.Errorf("metric %s: got %v (present %v), want %v", name, got, ok, want)
		}
	}
	r2, err := ix.Run(context.Background(), "r2")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r2.HasAnalysis || r2.HasReport || r2.Regression != "" || len(r2.Metrics) != 0 {
		t.Errorf("r2: got analysis %v, report %v, regression %q, metrics %v, want none", r2.HasAnalysis, r2.HasReport, r2.Regression, r2.Metrics)
	}
	if _, err := ix.Run(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(nope): got %v, want ErrNotFound", err)
	}
}

func TestBrokenFolders(t *testing.T) {
	runs := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.json")
	writeFile(t, secret, `{"format": 1, "scenario": "stolen"}`)
	writeFixture(t, runs, fixture{id: "good", scenario: "baseline", ttftP95: 100})

	tests := []struct {
		name  string
		setup func(dir string)
		want  string // in Broken
		keep  string // Scenario still read, when set
	}{
		{"no run.json", func(dir string) {}, "no run.json", ""},
		{"half-written run.json", func(dir string) { writeFile(t, filepath.Join(dir, runfmt.RunFile), `{"format": 1, "scen`) }, "read run.json", ""},
		{"newer format", func(dir string) { writeFile(t, filepath.Join(dir, runfmt.RunFile), `{"format": 99}`) }, "newer llmbench", ""},
		{"not llmbench", func(dir string) { writeFile(t, filepath.Join(dir, runfmt.RunFile), `{}`) }, "not an llmbench file", ""},
		{"run.json is a directory", func(dir string) { os.Mkdir(filepath.Join(dir, runfmt.RunFile), 0o755) }, "not a regular file", ""},
		{"run.json links outside", func(dir string) { os.Symlink(secret, filepath.Join(dir, runfmt.RunFile)) }, "not a regular file", ""},
		{"bad summary", func(dir string) {
			writeFixtureIn(t, dir, "sum")
			writeFile(t, filepath.Join(dir, runfmt.SummaryFile), `{"format": 1, "llm": [}`)
		}, "read summary.json", "sum"},
		{"bad analysis", func(dir string) {
			writeFixtureIn(t, dir, "ana")
			writeFile(t, filepath.Join(dir, runfmt.AnalysisFile), `not json`)
		}, "read analysis.json", "ana"},
		{"bad nightly.json", func(dir string) {
			writeFixtureIn(t, dir, "nig")
			writeFile(t, filepath.Join(dir, NightlyFile), `{"format": 1, "regression": "yes"}`)
		}, "read nightly.json", "nig"},
	}
	for i, tt := range tests {
		dir := filepath.Join(runs, fmt.Sprintf("b%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		tt.setup(dir)
	}
	ix := open(t, runs)
	all, err := ix.Runs(context.Background(), Filter{Sort: "id"})
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	if got, want := len(all), len(tests)+1; got != want {
		t.Fatalf("runs: got %d (%v), want %d", got, ids(all), want)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ix.Run(context.Background(), fmt.Sprintf("b%d", i))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !strings.Contains(r.Broken, tt.want) {
				t.Errorf("Broken: got %q, want it to contain %q", r.Broken, tt.want)
			}
			if strings.Contains(r.Broken, runs) {
				t.Errorf("Broken: got %q, want paths relative to the runs directory", r.Broken)
			}
			if r.Scenario != tt.keep {
				t.Errorf("Scenario: got %q, want %q", r.Scenario, tt.keep)
			}
		})
	}
	if r, _ := ix.Run(context.Background(), "good"); r.Broken != "" {
		t.Errorf("good run: got Broken %q, want none", r.Broken)
	}
}

// writeFixtureIn writes a good run.json into dir.
func writeFixtureIn(t *testing.T, dir, scenario string) {
	t.Helper()
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: filepath.Base(dir), Scenario: scenario, Start: t0, Status: runfmt.StatusFinished}); err != nil {
		t.Fatal(err)
	}
}

func TestSymlinkedFolderNotIndexed(t *testing.T) {
	runs := t.TempDir()
	outside := t.TempDir()
	writeFixture(t, outside, fixture{id: "elsewhere", scenario: "x"})
	writeFixture(t, runs, fixture{id: "here", scenario: "x"})
	if err := os.Symlink(filepath.Join(outside, "elsewhere"), filepath.Join(runs, "link")); err != nil {
		t.Fatal(err)
	}
	ix := open(t, runs)
	if got, want := listIDs(t, ix), []string{"here"}; !slices.Equal(got, want) {
		t.Errorf("runs: got %v, want %v", got, want)
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	runs := t.TempDir()
	writeFixture(t, runs, fixture{id: "a", scenario: "s", ttftP95: 100})
	writeFixture(t, runs, fixture{id: "b", scenario: "s", ttftP95: 200})
	ix := open(t, runs)

	ttft := func(id string) float64 {
		t.Helper()
		r, err := ix.Run(ctx, id)
		if err != nil {
			t.Fatalf("Run(%s): %v", id, err)
		}
		return r.Metrics["ttft_p95_ms"]
	}
	steps := []struct {
		name   string
		change func()
		ids    []string
		check  func(t *testing.T)
	}{
		{"add", func() { writeFixture(t, runs, fixture{id: "c", scenario: "s", ttftP95: 300}) }, []string{"a", "b", "c"}, nil},
		{"modify summary", func() { writeFixture(t, runs, fixture{id: "a", scenario: "s", ttftP95: 150}) }, []string{"a", "b", "c"},
			func(t *testing.T) {
				if got := ttft("a"); got != 150 {
					t.Errorf("a's ttft_p95_ms: got %v, want 150", got)
				}
			}},
		{"add analysis", func() {
			writeFixture(t, runs, fixture{id: "b", scenario: "s", ttftP95: 200, analysis: runfmt.PartPrefill})
		}, []string{"a", "b", "c"},
			func(t *testing.T) {
				if r, _ := ix.Run(ctx, "b"); !r.HasAnalysis || r.Bottleneck != runfmt.PartPrefill {
					t.Errorf("b: got analysis %v, bottleneck %q, want true, %q", r.HasAnalysis, r.Bottleneck, runfmt.PartPrefill)
				}
			}},
		{"break run.json", func() { writeFile(t, filepath.Join(runs, "c", runfmt.RunFile), "{") }, []string{"a", "b", "c"},
			func(t *testing.T) {
				if r, _ := ix.Run(ctx, "c"); r.Broken == "" {
					t.Errorf("c: got Broken empty, want the error")
				}
			}},
		{"remove", func() { os.RemoveAll(filepath.Join(runs, "b")) }, []string{"a", "c"}, nil},
		{"nothing", func() {}, []string{"a", "c"}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			if err := ix.Sync(ctx); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if got := listIDs(t, ix); !slices.Equal(got, s.ids) {
				t.Errorf("runs: got %v, want %v", got, s.ids)
			}
			if s.check != nil {
				s.check(t)
			}
		})
	}

	// A new Open of the same database sees what changed while it was
	// closed.
	ix.Close()
	writeFixture(t, runs, fixture{id: "d", scenario: "s"})
	os.RemoveAll(filepath.Join(runs, "a"))
	ix2 := open(t, runs)
	if ix2.Rebuilt() != "" {
		t.Errorf("Rebuilt: got %q, want the file reused", ix2.Rebuilt())
	}
	if got, want := listIDs(t, ix2), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Errorf("runs after reopening: got %v, want %v", got, want)
	}
}

func TestRebuild(t *testing.T) {
	tests := []struct {
		name    string
		spoil   func(t *testing.T, path string)
		rebuilt string // in Rebuilt(); "" when the file must be reused, "?" when either is right
	}{
		{"missing", func(t *testing.T, path string) { removeDB(path) }, ""},
		{"garbage", func(t *testing.T, path string) {
			removeDB(path)
			writeFile(t, path, strings.Repeat("this is not a database ", 400))
		}, "unreadable"},
		{"truncated", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			removeDB(path)
			writeFile(t, path, string(b[:len(b)/2]))
		}, "?"},
		{"other schema version", func(t *testing.T, path string) { execDB(t, path, "PRAGMA user_version = 99") }, "schema version 99"},
		{"someone else's database", func(t *testing.T, path string) {
			removeDB(path)
			execDB(t, path, "CREATE TABLE other (x)")
		}, "not an llmbench index"},
		{"stale rows", func(t *testing.T, path string) {
			execDB(t, path, `INSERT INTO runs VALUES ('ghost', 'x', '', '', '', '', '', '', '', '', '', '', 0, 0, '', 0, '', 0, 0, '', '', '')`)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := t.TempDir()
			writeFixture(t, runs, fixture{id: "a", scenario: "s", ttftP95: 100})
			writeFixture(t, runs, fixture{id: "b", scenario: "s", ttftP95: 200})
			path := filepath.Join(t.TempDir(), "index.db")
			ix := open(t, runs, WithPath(path))
			ix.Close()
			tt.spoil(t, path)

			ix = open(t, runs, WithPath(path))
			switch got := ix.Rebuilt(); {
			case tt.rebuilt == "?":
				t.Logf("Rebuilt: %q", got)
			case tt.rebuilt == "" && got != "", tt.rebuilt != "" && !strings.Contains(got, tt.rebuilt):
				t.Errorf("Rebuilt: got %q, want %q", got, tt.rebuilt)
			}
			if got, want := listIDs(t, ix), []string{"a", "b"}; !slices.Equal(got, want) {
				t.Errorf("runs: got %v, want %v", got, want)
			}
			if r, err := ix.Run(context.Background(), "b"); err != nil || r.Metrics["ttft_p95_ms"] != 200 {
				t.Errorf("b: got %v, %v, want ttft_p95_ms 200", r.Metrics, err)
			}
		})
	}
}

func execDB(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

func TestRunsFilterSort(t *testing.T) {
	runs := t.TempDir()
	for _, f := range []fixture{
		{id: "r1", scenario: "baseline", target: "http://a", device: "cpu", start: t0.Add(2 * time.Hour), ttftP95: 300},
		{id: "r2", scenario: "baseline", target: "http://b", device: "cuda", start: t0.Add(1 * time.Hour), ttftP95: 100},
		{id: "r3", scenario: "smoke", target: "http://a", device: "cpu", start: t0.Add(3 * time.Hour)},
		{id: "r4", scenario: "smoke", target: "http://a", device: "cuda", start: t0, ttftP95: 200, suite: "nightly"},
	} {
		writeFixture(t, runs, f)
	}
	ix := open(t, runs)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"zero value: by start", Filter{}, []string{"r4", "r2", "r1", "r3"}},
		{"start descending", Filter{Desc: true}, []string{"r3", "r1", "r2", "r4"}},
		{"scenario", Filter{Scenario: "smoke"}, []string{"r4", "r3"}},
		{"target", Filter{Target: "http://a", Sort: "id"}, []string{"r1", "r3", "r4"}},
		{"device", Filter{Device: "cuda", Sort: "id"}, []string{"r2", "r4"}},
		{"suite", Filter{Suite: "nightly"}, []string{"r4"}},
		{"combined", Filter{Scenario: "baseline", Device: "cpu"}, []string{"r1"}},
		{"no match", Filter{Scenario: "nope"}, nil},
		{"by column", Filter{Sort: "device", Desc: true}, []string{"r4", "r2", "r3", "r1"}},
		{"by metric", Filter{Sort: "ttft_p95_ms"}, []string{"r2", "r4", "r1", "r3"}},
		{"by metric descending: missing still last", Filter{Sort: "ttft_p95_ms", Desc: true}, []string{"r1", "r4", "r2", "r3"}},
		{"by metric no run has", Filter{Sort: "share_prefill"}, []string{"r1", "r2", "r3", "r4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ix.Runs(context.Background(), tt.f)
			if err != nil {
				t.Fatalf("Runs: %v", err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
			for _, r := range got {
				if r.ID == "r2" && r.Metrics["ttft_p95_ms"] != 100 {
					t.Errorf("r2's ttft_p95_ms: got %v, want 100", r.Metrics["ttft_p95_ms"])
				}
			}
		})
	}
	for _, bad := range []string{"ttft; DROP TABLE runs", "Start", "a-b"} {
		if _, err := ix.Runs(context.Background(), Filter{Sort: bad}); !errors.Is(err, ErrBadSort) {
			t.Errorf("Sort %q: got %v, want ErrBadSort", bad, err)
		}
	}
}

func TestHistory(t *testing.T) {
	runs := t.TempDir()
	night := func(d int) string { return t0.AddDate(0, 0, d).Format(time.DateOnly) }
	for d := range 5 {
		f := fixture{id: fmt.Sprintf("n%d-base", d), suite: "nightly", night: night(d), scenario: "baseline",
			target: "http://a", start: t0.AddDate(0, 0, d), ttftP95: float64(100 + d)}
		if d == 3 {
			f.nightly = `{"format": 1, "regression": true, "why": "ttft_p95_ms +20 %", "metrics": ["ttft_p95_ms"]}`
		}
		writeFixture(t, runs, f)
		writeFixture(t, runs, fixture{id: fmt.Sprintf("n%d-smoke", d), suite: "nightly", night: night(d), scenario: "smoke",
			target: "http://a", start: t0.AddDate(0, 0, d).Add(time.Hour), ttftP95: float64(10 + d)})
	}
	// Not in the history: another suite, no suite, no summary, broken.
	writeFixture(t, runs, fixture{id: "weekly", suite: "weekly", night: night(1), scenario: "baseline", target: "http://a", ttftP95: 1})
	writeFixture(t, runs, fixture{id: "manual", scenario: "baseline", target: "http://a", ttftP95: 1})
	writeFixture(t, runs, fixture{id: "n5-running", suite: "nightly", night: night(5), scenario: "baseline", target: "http://a"})
	// A regression flag without metrics flags every metric.
	writeFixture(t, runs, fixture{id: "other-target", suite: "nightly", night: night(2), scenario: "baseline", target: "http://b",
		start: t0.AddDate(0, 0, 2), ttftP95: 7, nightly: `{"format": 1, "regression": true}`})

	ix := open(t, runs)
	type pt struct {
		id    string
		value float64
		flag  string
	}
	tests := []struct {
		name                     string
		scenario, target, metric string
		limit                    int
		want                     []pt
	}{
		{"one scenario", "baseline", "http://a", "ttft_p95_ms", 0, []pt{
			{"n0-base", 100, ""}, {"n1-base", 101, ""}, {"n2-base", 102, ""}, {"n3-base", 103, "ttft_p95_ms +20 %"}, {"n4-base", 104, ""}}},
		{"limit keeps the newest", "baseline", "http://a", "ttft_p95_ms", 2, []pt{{"n3-base", 103, "ttft_p95_ms +20 %"}, {"n4-base", 104, ""}}},
		{"flag is per metric", "baseline", "http://a", "ttft_p50_ms", 2, []pt{{"n3-base", 51.5, ""}, {"n4-base", 52, ""}}},
		{"other target, flag for all metrics", "baseline", "http://b", "tpot_p95_ms", 0, []pt{{"other-target", 30, "regression"}}},
		{"all scenarios and targets", "", "", "ttft_p95_ms", 3, []pt{{"n3-smoke", 13, ""}, {"n4-base", 104, ""}, {"n4-smoke", 14, ""}}},
		{"metric no run has", "baseline", "", "itl_p99_ms", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := ix.History(context.Background(), "nightly", tt.scenario, tt.target, tt.metric, tt.limit)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			var got []pt
			for _, p := range pts {
				got = append(got, pt{p.RunID, p.Value, p.Regression})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for _, p := range pts {
				if want := p.Start.Format(time.DateOnly); p.Night != want {
					t.Errorf("%s: got night %q, want %q", p.RunID, p.Night, want)
				}
			}
		})
	}
	if _, err := ix.History(context.Background(), "", "baseline", "", "ttft_p95_ms", 0); err == nil {
		t.Errorf("History without a suite: got no error, want one")
	}
}

// writeRunFiles writes a run folder whose ttft_p95_ms is 100, without
// the testing.T that other goroutines may not fail.
func writeRunFiles(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: filepath.Base(dir), Scenario: "s", Start: t0, Status: runfmt.StatusFinished}); err != nil {
		return err
	}
	return runfmt.WriteSummary(dir, &runfmt.Summary{LLM: &runfmt.LLMSummary{TTFT: runfmt.Percentiles{Count: 1, P95: 100}}})
}

// TestConcurrentUse runs readers and Syncs at once: the race detector and
// SQLite's locking must both be content, and every listing whole.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	runs := t.TempDir()
	for i := range 5 {
		writeFixture(t, runs, fixture{id: fmt.Sprintf("r%d", i), scenario: "s", ttftP95: 100})
	}
	ix := open(t, runs)
	// A second Index on the same file, as the nightly job beside the web
	// server.
	other := open(t, runs)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				switch {
				case w == 0:
					// Written under a hidden name, then renamed: a
					// run folder appears whole.
					tmp := filepath.Join(runs, fmt.Sprintf(".new%d", i))
					if err := writeRunFiles(tmp); err != nil {
						errs <- err
						continue
					}
					if err := os.Rename(tmp, filepath.Join(runs, fmt.Sprintf("new%d", i))); err != nil {
						errs <- err
						continue
					}
					if err := ix.Sync(ctx); err != nil {
						errs <- err
					}
				case w == 1:
					if err := other.Sync(ctx); err != nil {
						errs <- err
					}
				default:
					got, err := ix.Runs(ctx, Filter{Sort: "ttft_p95_ms"})
					if err != nil {
						errs <- err
						continue
					}
					for _, r := range got {
						if r.Metrics["ttft_p95_ms"] != 100 {
							errs <- fmt.Errorf("run %s listed without its metrics: %v", r.ID, r.Metrics)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := other.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(listIDs(t, other)); got != 15 {
		t.Errorf("runs seen by the second index: got %d, want 15", got)
	}
}
