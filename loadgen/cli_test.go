package loadgen

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// parseFlags parses args as `llmbench run` does into a Config.
func parseFlags(t *testing.T, args ...string) (*Config, *flag.FlagSet, error) {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("llmbench run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	return &cfg, fs, fs.Parse(args)
}

// TestFlagsSetOptions follows `k6 run`'s flags
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/, each
// option's "CLI" row): -s/--stage replaces the scenarios with stages (a
// stage without a target keeps the last), and the flags named after an
// option set it over the script's.
func TestFlagsSetOptions(t *testing.T) {
	cfg, _, err := parseFlags(t, "-u", "2", "-s", "10s:5", "--stage", "20s", "-s", "5s:0",
		"--user-agent", "", "--throw", "--insecure-skip-tls-verify", "--discard-response-bodies", "--no-connection-reuse",
		"--max-redirects", "3", "--batch", "4", "--batch-per-host", "2", "--min-iteration-duration", "1s",
		"--summary-trend-stats", "avg,p(99.9)", "--summary-time-unit", "ms", "--no-thresholds")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.override(json.RawMessage(`{"scenarios": {"x": {"executor": "constant-vus", "duration": "1m"}}, "thresholds": {"checks": ["rate==1"]}, "userAgent": "script's"}`))
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"vus": 2.0, "stages": []any{map[string]any{"duration": "10s", "target": 5.0}, map[string]any{"duration": "20s", "target": 5.0}, map[string]any{"duration": "5s", "target": 0.0}},
		"userAgent": "", "throw": true, "insecureSkipTLSVerify": true, "discardResponseBodies": true, "noConnectionReuse": true,
		"maxRedirects": 3.0, "batch": 4.0, "batchPerHost": 2.0, "minIterationDuration": "1s",
		"summaryTrendStats": []any{"avg", "p(99.9)"}, "summaryTimeUnit": "ms",
	}
	for k, v := range want {
		got, _ := json.Marshal(o[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("options.%s: got %s, want %s", k, got, exp)
		}
	}
	for _, k := range []string{"scenarios", "thresholds"} {
		if _, ok := o[k]; ok {
			t.Errorf("options.%s still there: %s", k, out)
		}
	}
	// Durations read as k6 reads them: days, and a plain number is
	// milliseconds.
	for arg, want := range map[string]time.Duration{"90s": 90 * time.Second, "1d2h": 26 * time.Hour, "1500": 1500 * time.Millisecond} {
		cfg, _, err := parseFlags(t, "-d", arg, "-s", arg+":1")
		if err != nil || cfg.Duration != want {
			t.Errorf("-d %s: %v, %v; want %v", arg, cfg.Duration, err, want)
		}
	}
	// Bad values are refused by the flag itself.
	for _, args := range [][]string{{"-s", "ten:5"}, {"-s", "10s:many"}, {"-s", "-5s:1"}, {"-d", "5x"}, {"--duration", "-3s"}, {"--max-redirects", "-1"}, {"--http-debug=loud"}, {"--nope"}} {
		if _, _, err := parseFlags(t, args...); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
}

// TestRunHelpGroups: `llmbench run -h` lists every flag, in groups as k6's
// help does, with k6's long names.
func TestRunHelpGroups(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("llmbench run", flag.ContinueOnError)
	var b strings.Builder
	fs.SetOutput(&b)
	cfg.RegisterFlags(fs)
	fs.Usage()
	help := b.String()
	last := -1
	for _, g := range flagGroups {
		i := strings.Index(help, "\n"+g.title+":\n")
		if i < 0 || i < last {
			t.Errorf("group %q missing or out of order", g.title)
		}
		last = i
	}
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 { // listed with its long form: "-u, --vus"
			if !strings.Contains(help, "  -"+f.Name+", --") {
				t.Errorf("help lacks -%s", f.Name)
			}
			return
		}
		if !strings.Contains(help, "--"+f.Name+" ") {
			t.Errorf("help lacks --%s", f.Name)
		}
	})
	if strings.Contains(help, "\nOther:\n") {
		t.Errorf("a flag is in no group:\n%s", help)
	}
}

// TestOutputsAndExports runs a script with k6's --out json=FILE.gz and
// --out csv=FILE together
// (https://grafana.com/docs/k6/latest/results-output/real-time/json/ and
// .../csv/), --summary-export, --console-output and --http-debug, and
// checks what each wrote.
func TestOutputsAndExports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	jsonOut, csvOut, export, console := filepath.Join(dir, "out.json.gz"), filepath.Join(dir, "out.csv"), filepath.Join(dir, "sub", "summary.json"), filepath.Join(dir, "console.log")
	script := writeScript(t, `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 3, thresholds: { http_req_duration: ['p(95)<60000'] } };
export default function () {
  const r = http.get(__ENV.URL + '/x', { tags: { mine: 'yes' } });
  check(r, { 'is ok': (x) => x.body === 'ok' });
  console.log('iteration ' + __ITER);
}
`)
	cfg, _, err := parseFlags(t, "-o", "json="+jsonOut, "--out", "csv="+csvOut, "--summary-export", export, "--console-output", console, "--http-debug")
	if err != nil {
		t.Fatal(err)
	}
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"URL": srv.URL}, func(c *Config) {
		c.Outputs, c.SummaryExport, c.ConsoleOutput, c.HTTPDebug = cfg.Outputs, cfg.SummaryExport, cfg.ConsoleOutput, cfg.HTTPDebug
	})
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %v, %v\n%s", res.Exit, err, stderr)
	}

	// JSON lines, gzipped: a Metric line before each metric's Points.
	f, err := os.Open(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", jsonOut, err)
	}
	declared := map[string]bool{}
	points := map[string]int{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		var line struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
			Data   struct {
				Type       string            `json:"type"`
				Thresholds []string          `json:"thresholds"`
				Time       time.Time         `json:"time"`
				Tags       map[string]string `json:"tags"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %s: %v", sc.Bytes(), err)
		}
		switch line.Type {
		case "Metric":
			declared[line.Metric] = true
			if line.Metric == "http_req_duration" && (line.Data.Type != "trend" || !slices.Equal(line.Data.Thresholds, []string{"p(95)<60000"})) {
				t.Errorf("http_req_duration's Metric line: %s", sc.Bytes())
			}
		case "Point":
			if !declared[line.Metric] {
				t.Errorf("a Point of %s before its Metric line", line.Metric)
			}
			if line.Metric == "http_reqs" && line.Data.Tags["mine"] != "yes" {
				t.Errorf("http_reqs point lacks its tags: %s", sc.Bytes())
			}
			points[line.Metric]++
		default:
			t.Errorf("line type %q", line.Type)
		}
	}
	if points["http_reqs"] != 3 || points["checks"] != 3 || points["iterations"] != 3 {
		t.Errorf("JSON points: %v; want 3 http_reqs, checks and iterations", points)
	}

	// CSV: k6's header, the tags in their columns and the rest in extra_tags.
	cf, err := os.Open(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 10 || rows[0][0] != "metric_name" || rows[0][17] != "extra_tags" {
		t.Fatalf("CSV header %v, %d rows", rows[0], len(rows))
	}
	n := 0
	for _, r := range rows[1:] {
		if r[0] == "http_reqs" {
			n++
			if r[8] != "GET" || !strings.Contains(r[17], "mine=yes") {
				t.Errorf("http_reqs row %v: want method GET and mine=yes in extra_tags", r)
			}
		}
	}
	if n != 3 {
		t.Errorf("CSV: %d http_reqs rows, want 3", n)
	}

	// --summary-export: k6's flat export.
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	if exp.Metrics["http_reqs"]["count"] != 3.0 || exp.Metrics["checks"]["value"] != 1.0 ||
		exp.Metrics["http_req_duration"]["thresholds"].(map[string]any)["p(95)<60000"] != false {
		t.Errorf("summary export: %s", b)
	}
	c, err := os.ReadFile(console)
	if err != nil || strings.Count(string(c), "iteration ") != 3 || strings.Contains(stderr, "iteration 0") {
		t.Errorf("console output %q (%v), stderr has it: %v", c, err, strings.Contains(stderr, "iteration 0"))
	}
	if !strings.Contains(stderr, "Request:\nGET /x") || !strings.Contains(stderr, "Response:\nHTTP/1.1 200 OK") {
		t.Errorf("--http-debug did not log the exchange:\n%s", stderr)
	}
	if !strings.Contains(stderr, "outputs json="+jsonOut+", csv="+csvOut+":") {
		t.Errorf("no line says what the outputs got:\n%s", stderr)
	}
}

// TestRunFoldersDoNotCollide: runs of one script started in the same
// second (a CI loop) each get their own folder.
func TestRunFoldersDoNotCollide(t *testing.T) {
	runs := t.TempDir()
	script := writeScript(t, "export default function () {}\n")
	seen := map[string]bool{}
	for range 3 {
		res, _, stderr, err := runScript(t, t.Context(), script, nil, func(c *Config) { c.Out, c.RunsDir = "", runs })
		if err != nil || res.Exit != ExitOK {
			t.Fatalf("exit %v, %v\n%s", res.Exit, err, stderr)
		}
		if seen[res.Dir] {
			t.Fatalf("two runs share %s", res.Dir)
		}
		seen[res.Dir] = true
	}
}

// TestTimeSeries: the run folder keeps the run's time series, one line a
// second: VUs, iterations, LLM requests and their latency quantiles, so
// that the report and the live dashboard show the same series. The counts
// add up to the run's totals.
func TestTimeSeries(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 4, gap: time.Millisecond})
	defer srv.Close()
	script := writeScript(t, `
import llm from 'k6/x/llm';
import { sleep } from 'k6';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '2500ms' } } };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'hi', max_tokens: 4 }); sleep(0.05); }
`)
	var live []*runfmt.Interval
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, func(c *Config) {
		c.OnInterval = func(iv *runfmt.Interval) { live = append(live, iv) }
	})
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %v, %v\n%s", res.Exit, err, stderr)
	}
	ivs, err := runfmt.ReadTimeSeries(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ivs) < 2 || len(ivs) != len(live) {
		t.Fatalf("%d intervals in %s, %d given to OnInterval; want the same, 2 or more", len(ivs), runfmt.TimeSeriesFile, len(live))
	}
	var reqs, iters int64
	sawVUs, sawTTFT := false, false
	for i, iv := range ivs {
		reqs += iv.Requests
		iters += iv.Iterations
		sawVUs = sawVUs || iv.VUs == 2
		sawTTFT = sawTTFT || (iv.TTFT != nil && iv.TTFT.Count > 0 && iv.TTFT.P50 <= iv.TTFT.P95)
		if i > 0 && !iv.Time.After(ivs[i-1].Time) {
			t.Errorf("interval %d ends at %v, not after the one before", i, iv.Time)
		}
	}
	if reqs != int64(res.Summary.LLM.Requests) || float64(iters) != res.Summary.Metrics["iterations"].Values["count"] {
		t.Errorf("the intervals add up to %d requests and %d iterations; the run had %d and %v", reqs, iters, res.Summary.LLM.Requests, res.Summary.Metrics["iterations"].Values["count"])
	}
	if !sawVUs || !sawTTFT {
		t.Errorf("no interval with the 2 VUs (%v) or TTFT quantiles (%v)", sawVUs, sawTTFT)
	}
}
