package reportgen

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/net/html"

	"github.com/llmbench/llmbench/runfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// stubLibrary stands in for ECharts where a test looks at the page, not
// at the charts, so that those tests run without `make assets`.
const stubLibrary = "/* ECharts stub */"

var (
	testNow     = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	generatedRe = regexp.MustCompile(`<span class="generated">[^<]*</span>`)
	libraryRe   = regexp.MustCompile(`(?s)/\* echarts.min.js begins \*/.*/\* echarts.min.js ends \*/`)
)

// normalize strips what a golden file must not depend on: the inlined
// library, the time the page was made, and the temporary folders.
func normalize(page string, dirs map[string]string) string {
	page = libraryRe.ReplaceAllString(page, "/* echarts.min.js */")
	page = generatedRe.ReplaceAllString(page, `<span class="generated">TIME</span>`)
	for dir, name := range dirs {
		page = strings.ReplaceAll(page, dir, name)
	}
	return page
}

// copyRun copies a testdata run folder to a temporary one, leaving out
// the files named in skip.
func copyRun(t *testing.T, src string, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || contains(skip, e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	opts := Options{JaegerUI: "http://127.0.0.1:16686"}
	// Without analysis.json, and without timeseries.jsonl (a run written
	// before the load generator kept it).
	notAnalyzed := copyRun(t, "testdata/run-a", runfmt.AnalysisFile, runfmt.TimeSeriesFile)
	for _, tc := range []struct {
		name   string
		golden string
		render func(*bytes.Buffer) error
		dirs   map[string]string
		// want are texts the page must hold, and dontWant texts it must
		// not, beyond the golden match.
		want, dontWant []string
	}{
		{
			name:   "analyzed run",
			golden: "testdata/report.golden.html",
			render: func(b *bytes.Buffer) error {
				return render(ctx, b, "testdata/run-a", opts, stubLibrary, testNow)
			},
			want: []string{
				`id="chart-attribution-bands"`, `id="chart-attribution-share"`, `id="chart-waterfall"`,
				`id="chart-dist-ttft"`, `id="chart-dist-tpot"`, `id="chart-dist-itl"`, `id="chart-dist-e2e"`,
				`id="chart-ts-rate"`, `id="chart-ts-latency"`, `id="chart-ts-server"`,
				`href="http://127.0.0.1:16686/trace/`, "compute-bound", "move to a GPU",
				`id="chart-ts-load"`,
			},
			dontWant: []string{"VUs over time are not recorded"},
		},
		{
			name:   "run without analysis.json",
			golden: "testdata/report-not-analyzed.golden.html",
			render: func(b *bytes.Buffer) error {
				return render(ctx, b, notAnalyzed, Options{}, stubLibrary, testNow)
			},
			dirs: map[string]string{notAnalyzed: "RUN"},
			want: []string{
				"not analyzed: run llmbench analyze RUN", `id="chart-dist-ttft"`, `id="chart-ts-rate"`, "TTFT",
				"VUs over time are not recorded",
			},
			dontWant: []string{"No headline numbers", `id="chart-waterfall"`, `id="chart-ts-server"`},
		},
		{
			name:   "comparison",
			golden: "testdata/compare.golden.html",
			render: func(b *bytes.Buffer) error {
				return renderCompare(ctx, b, "testdata/run-a", "testdata/run-b", opts, stubLibrary, testNow)
			},
			want: []string{
				"cuda @ c0ffee123456 vs cpu @ b89d7db679a5", "TTFT p95 −63 %", "mostly decode_own",
				`id="chart-compare-parts"`, `id="chart-compare-bands"`, `id="chart-compare-ttft"`, "✱ significant",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatalf("render: %v", err)
			}
			got := normalize(buf.String(), tc.dirs)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("page has %q", w)
				}
			}
			checkStructure(t, got)
			if *update {
				if err := os.WriteFile(tc.golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reportgen -update to make it)", err)
			}
			if got != string(want) {
				t.Errorf("page differs from %s at %s (go test ./reportgen -update rewrites it)", tc.golden, firstDiff(got, string(want)))
			}
		})
	}
}

// firstDiff shows where two texts part.
func firstDiff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("line %d:\n got: %.300s\nwant: %.300s", i+1, g, w)
		}
	}
	return "the end"
}

// checkStructure parses the page as a browser would and checks what every
// page must be: one script element, no element that loads anything (no
// src, no stylesheet link), no event-handler attribute, unique ids, and a
// chart element for every chart the script draws.
func checkStructure(t *testing.T, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	var scripts []string
	ids := map[string]int{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script":
				var sb strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					sb.WriteString(c.Data)
				}
				scripts = append(scripts, sb.String())
			case "img", "iframe", "object", "embed", "link", "base", "form", "svg", "math":
				t.Errorf("page has a <%s> element", n.Data)
			}
			for _, a := range n.Attr {
				switch {
				case strings.HasPrefix(strings.ToLower(a.Key), "on"):
					t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
				case a.Key == "src" || a.Key == "srcset":
					t.Errorf("<%s> loads %s=%q", n.Data, a.Key, a.Val)
				case a.Key == "href" && !strings.HasPrefix(a.Val, "http://") && !strings.HasPrefix(a.Val, "https://"):
					t.Errorf("<%s> links to %q", n.Data, a.Val)
				case a.Key == "id":
					ids[a.Val]++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(scripts) != 1 {
		t.Fatalf("page has %d script elements, want 1", len(scripts))
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q is used %d times", id, n)
		}
	}
	for _, m := range regexp.MustCompile(`\{"id":"([^"]+)"`).FindAllStringSubmatch(scripts[0], -1) {
		if ids[m[1]] != 1 {
			t.Errorf("the script draws chart %q, which has no element", m[1])
		}
	}
	if strings.Contains(page, "go-echarts.github.io") || strings.Contains(page, "go-echarts-assets") {
		t.Error("page names go-echarts' assets host")
	}
}

const (
	scriptPayload = `</script><script>alert(1)</script>`
	attrPayload   = `"><img src=x onerror=alert(1)>`
)

// evil is every payload at once, with go-echarts' function marker and a
// line separator, which ends a line in JavaScript.
const evil = scriptPayload + attrPayload + "__f__\" \u2028<!-- '"

// writeEvilRun writes a run folder whose every free text is evil.
func writeEvilRun(t *testing.T, device string) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	run := &runfmt.Run{
		ID: "evil-" + evil, Scenario: evil, Script: evil, Target: evil, Protocol: evil,
		Options: []byte(`{"slo":{"ttft":500},"note":` + fmt.Sprintf("%q", evil) + `}`),
		Env:     map[string]string{evil: evil},
		Server:  &runfmt.Server{Model: evil, Backend: evil, Device: device + evil},
		Commit:  evil, Host: evil, Version: evil, Error: evil,
		Start: start, End: start.Add(20 * time.Second), Status: evil,
	}
	if err := runfmt.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bds []runfmt.Breakdown
	for i := range 6 {
		ttft, e2e, tpot := 40.0+float64(i), 400.0+10*float64(i), 9.0
		r := &runfmt.Request{
			Scenario: evil, Protocol: evil, Model: evil, URL: evil, VU: 1, Iter: int64(i),
			Tags: map[string]string{evil: evil}, TraceID: evil,
			Started: start.Add(time.Duration(i) * time.Second), Sent: start.Add(time.Duration(i) * time.Second),
			TTFTMS: &ttft, E2EMS: &e2e, TPOTMS: &tpot, CloseMS: e2e, GapsMS: []float64{9, 9, 9},
			Status: 200, OK: i%3 != 0, OutputTokens: 40,
		}
		if !r.OK {
			r.Error, r.ErrorClass, r.Status = evil, evil, 500
		}
		if err := log.Append(r); err != nil {
			t.Fatal(err)
		}
		bds = append(bds, runfmt.Breakdown{
			Seq: r.Seq, TraceID: evil, Scenario: evil, OK: r.OK, TotalMS: e2e, E2EMS: e2e, TTFTMS: ttft,
			Parts:    map[string]float64{runfmt.PartPrefill: ttft, runfmt.PartDecodeOwn: e2e - ttft},
			Dominant: evil, Source: evil, SLOMissed: []string{evil},
		})
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	sum := &runfmt.Summary{
		Start: start, End: start.Add(20 * time.Second), Duration: 20,
		Metrics: map[string]runfmt.Metric{evil: {Type: "trend", Thresholds: map[string]runfmt.Threshold{evil: {OK: false}}}},
		Root:    runfmt.Group{Checks: []runfmt.Check{{Name: evil, Path: evil, Fails: 1}}},
		LLM: &runfmt.LLMSummary{
			Requests: 6, Errors: 2, SLOs: map[string]float64{evil: 1, "ttft": 500},
			TTFT: runfmt.Percentiles{Count: 4, P50: 42, P95: 45}, E2E: runfmt.Percentiles{Count: 4, P50: 420, P95: 450},
		},
		Aborted: evil,
	}
	if err := runfmt.WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	mean := map[string]float64{runfmt.PartPrefill: 42, runfmt.PartDecodeOwn: 380}
	an := &runfmt.Analysis{
		Run: evil, Jaeger: evil, Prometheus: evil,
		Coverage: runfmt.Coverage{Requests: 6, Analyzed: 6, Notes: []string{evil}},
		Requests: bds,
		Aggregate: runfmt.Aggregate{
			Requests: 4, MeanMS: mean, MeanShare: map[string]float64{runfmt.PartPrefill: 0.1, runfmt.PartDecodeOwn: 0.9},
			Bands:     []runfmt.Band{{Name: evil, Requests: 4, TotalMS: 422, MeanMS: mean}},
			SLOMisses: []runfmt.SLOGroup{{Dominant: evil, Requests: 1, MeanMS: mean}},
		},
		Verdict:         runfmt.Verdict{Bottleneck: evil, Summary: evil, Evidence: []string{evil}},
		Recommendations: []runfmt.Recommendation{{Action: evil, Because: evil, Evidence: []string{evil}}},
		Saturation:      &runfmt.Saturation{Knee: &runfmt.LoadPoint{Label: evil}, Note: evil},
		Clock:           runfmt.Clock{Note: evil},
		PrefillFit:      &runfmt.Fit{X: evil, Y: evil},
		Series: []runfmt.Series{
			{Name: "queue_depth", Unit: evil, Points: [][2]float64{{float64(start.Unix()), 1}, {float64(start.Unix() + 5), 2}}},
			{Name: evil, Error: evil},
		},
	}
	if err := runfmt.WriteAnalysis(dir, an); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEscaping renders runs whose scenario, errors, tags, verdict and
// every other free text try to inject script, and checks that the page
// a browser parses has no element, attribute or script they made, while
// the texts themselves still show, escaped.
func TestEscaping(t *testing.T) {
	ctx := context.Background()
	a, b := writeEvilRun(t, "cpu"), writeEvilRun(t, "cuda")
	for _, tc := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"report", func(buf *bytes.Buffer) error {
			return render(ctx, buf, a, Options{JaegerUI: "http://127.0.0.1:16686"}, stubLibrary, testNow)
		}},
		{"comparison", func(buf *bytes.Buffer) error {
			return renderCompare(ctx, buf, a, b, Options{}, stubLibrary, testNow)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatalf("render: %v", err)
			}
			page := buf.String()
			checkStructure(t, page)
			for _, raw := range []string{scriptPayload, attrPayload, "<img", "<!-- '"} {
				if strings.Contains(page, raw) {
					t.Errorf("page holds %q unescaped", raw)
				}
			}
			doc, err := html.Parse(strings.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			var text, script strings.Builder
			var walk func(n *html.Node, inScript bool)
			walk = func(n *html.Node, inScript bool) {
				if n.Type == html.TextNode {
					if inScript {
						script.WriteString(n.Data)
					} else {
						text.WriteString(n.Data)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, inScript || (n.Type == html.ElementNode && n.Data == "script"))
				}
			}
			walk(doc, false)
			// A line separator ends a line of JavaScript: the script has none.
			if strings.Contains(script.String(), "\u2028") {
				t.Error("the script holds a raw U+2028")
			}
			// The payload is shown as text, so it was escaped, not dropped.
			if !strings.Contains(text.String(), scriptPayload+attrPayload) {
				t.Error("the page's text does not show the payload")
			}
			// And it reached the chart options as JSON-escaped data.
			if !strings.Contains(script.String(), `\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e`) {
				t.Error("the chart options do not hold the payload JSON-escaped")
			}
			if strings.Contains(page, "/trace/"+evil) || strings.Contains(page, "/trace/%3c") {
				t.Error("a trace id that is not hex became a link")
			}
		})
	}
}

// TestWrite writes report.html with the embedded ECharts library and
// checks it is whole, offline and small enough to attach to a ticket.
func TestWrite(t *testing.T) {
	if _, err := library(); errors.Is(err, ErrNoECharts) {
		t.Fatalf("%v: the build has no ECharts library; run `make assets` first", err)
	}
	ctx := context.Background()
	dir := copyRun(t, "testdata/run-a")
	path, err := Write(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if want := filepath.Join(dir, runfmt.ReportFile); path != want {
		t.Errorf("path = %q, want %q", path, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	checkStructure(t, page)
	if !strings.Contains(page, `version="`+EChartsVersion+`"`) {
		t.Errorf("the inlined library is not ECharts %s", EChartsVersion)
	}
	if strings.Contains(page, stubLibrary) {
		t.Error("the report inlines the test stub, not ECharts")
	}
	if n := len(b); n > 1_300_000 {
		t.Errorf("report is %d bytes, want under 1.3 MB", n)
	}
	t.Logf("report.html of 20 requests: %d bytes", len(b))

	out := filepath.Join(t.TempDir(), "compare.html")
	got, err := WriteCompare(ctx, "testdata/run-a", "testdata/run-b", out, Options{})
	if err != nil {
		t.Fatalf("WriteCompare: %v", err)
	}
	if got != out {
		t.Errorf("WriteCompare path = %q, want %q", got, out)
	}
	cb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkStructure(t, string(cb))
}

func TestLibrary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fsys    fs.FS
		wantErr string
	}{
		{"missing names make assets", fstest.MapFS{"assets/README.md": {Data: []byte("x")}}, "make assets"},
		{"a closing script tag cannot be inlined", fstest.MapFS{"assets/echarts.min.js": {Data: []byte(`var s="</SCRIPT>"`)}}, "cannot be inlined"},
		{"a comment opener cannot be inlined", fstest.MapFS{"assets/echarts.min.js": {Data: []byte(`var s="<!--"`)}}, "cannot be inlined"},
		{"a library", fstest.MapFS{"assets/echarts.min.js": {Data: []byte(`var echarts={}`)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib, err := libraryFrom(tc.fsys)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tc.wantErr == "" && lib != "var echarts={}":
				t.Errorf("library = %q, want the file's text", lib)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
	if _, err := libraryFrom(fstest.MapFS{}); !errors.Is(err, ErrNoECharts) {
		t.Errorf("missing library: got %v, want ErrNoECharts", err)
	}
}

// TestMakefileVersion keeps the Makefile's pinned ECharts and the
// version this package says it inlines the same.
func TestMakefileVersion(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ECHARTS_VERSION\s*[:?]?=\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the Makefile sets no ECHARTS_VERSION")
	}
	if got := string(m[1]); got != EChartsVersion {
		t.Errorf("Makefile ECHARTS_VERSION = %s, want %s (EChartsVersion)", got, EChartsVersion)
	}
}

func TestRenderErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	newer := copyRun(t, "testdata/run-a")
	if err := os.WriteFile(filepath.Join(newer, runfmt.AnalysisFile), []byte(`{"format": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	noSummary := copyRun(t, "testdata/run-a", runfmt.SummaryFile)
	noRequests := copyRun(t, "testdata/run-a", runfmt.RequestsFile)
	badLine := copyRun(t, "testdata/run-a")
	f, err := os.OpenFile(filepath.Join(badLine, runfmt.RequestsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("{not json\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		dir     string
		opts    Options
		wantErr string // "" renders, with want on the page
		want    string
	}{
		{"no run folder", ctx, filepath.Join(t.TempDir(), "nope"), Options{}, "run.json", ""},
		{"bad options", ctx, "testdata/run-a", Options{JaegerUI: "javascript:alert(1)"}, "jaeger-ui", ""},
		{"canceled", canceled, "testdata/run-a", Options{}, "context canceled", ""},
		{"newer analysis renders the rest", ctx, newer, Options{}, "", "analysis unreadable"},
		{"no summary renders the rest", ctx, noSummary, Options{}, "", "No headline numbers: the run has no summary.json."},
		{"no requests renders the rest", ctx, noRequests, Options{}, "", "no requests.jsonl: the run recorded no request"},
		{"a bad line costs one request", ctx, badLine, Options{}, "", "20 requests, 20 successful, 1 unreadable lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := render(tc.ctx, &buf, tc.dir, tc.opts, stubLibrary, testNow)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got error %v, want one with %q", err, tc.wantErr)
				}
				if buf.Len() != 0 {
					t.Errorf("wrote %d bytes on error, want none", buf.Len())
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if !strings.Contains(buf.String(), tc.want) {
				t.Errorf("page lacks %q", tc.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero value", Options{}, true},
		{"http Jaeger UI", Options{JaegerUI: "http://127.0.0.1:16686"}, true},
		{"https Jaeger UI with a path", Options{JaegerUI: "https://jaeger.example/ui/"}, true},
		{"javascript URL", Options{JaegerUI: "javascript:alert(1)"}, false},
		{"no host", Options{JaegerUI: "http:///trace"}, false},
		{"negative slowest", Options{Slowest: -1}, false},
		{"tiny interval", Options{Interval: time.Millisecond}, false},
		{"interval", Options{Interval: 10 * time.Second, Slowest: 5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %t", err, tc.ok)
			}
		})
	}
}

func withDType(d *runData, dtype string) *runData { d.Run.Server.DType = dtype; return d }

func TestCompareLabels(t *testing.T) {
	mk := func(id, device, commit string) *runData {
		return &runData{Run: &runfmt.Run{ID: id, Commit: commit, Server: &runfmt.Server{Device: device}}}
	}
	for _, tc := range []struct {
		name         string
		a, b         *runData
		wantA, wantB string
	}{
		{"device differs", mk("r1", "cpu", "abc"), mk("r2", "cuda", "abc"), "cpu", "cuda"},
		{"commit differs", mk("r1", "cpu", "abc"), mk("r2", "cpu", "def"), "abc", "def"},
		{"both differ", mk("r1", "cpu", "abc"), mk("r2", "cuda", "def"), "cpu @ abc", "cuda @ def"},
		{"neither differs", mk("r1", "cpu", "abc"), mk("r2", "cpu", "abc"), "r1", "r2"},
		{"the same run twice", mk("r1", "cpu", "abc"), mk("r1", "cpu", "abc"), "A", "B"},
		{"weights differ", withDType(mk("r1", "cpu", "abc"), "f32"), withDType(mk("r2", "cpu", "abc"), "int8"), "f32 weights", "int8 weights"},
		{"device and weights differ", withDType(mk("r1", "cpu", "abc"), "f32"), withDType(mk("r2", "cuda", "abc"), "f16"), "cpu @ f32 weights", "cuda @ f16 weights"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := compareLabels(tc.a, tc.b)
			if a != tc.wantA || b != tc.wantB {
				t.Errorf("labels = %q, %q, want %q, %q", a, b, tc.wantA, tc.wantB)
			}
		})
	}
}

// TestRenderConcurrent renders the same run from several goroutines, as
// the web UI does, for the race detector.
func TestRenderConcurrent(t *testing.T) {
	var first string
	var wg sync.WaitGroup
	pages := make([]string, 4)
	errs := make([]error, 4)
	for i := range pages {
		wg.Go(func() {
			var buf bytes.Buffer
			errs[i] = render(context.Background(), &buf, "testdata/run-a", Options{}, stubLibrary, testNow)
			pages[i] = buf.String()
		})
	}
	wg.Wait()
	for i, p := range pages {
		if errs[i] != nil {
			t.Fatalf("render %d: %v", i, errs[i])
		}
		if i == 0 {
			first = p
		} else if p != first {
			t.Errorf("render %d differs from render 0: %s", i, firstDiff(p, first))
		}
	}
}

// TestImplausibleValues: one request with a duration of 1e308 ms (or a
// negative one) used to put +Inf in a histogram and fail the whole report.
// Such requests are left out, counted and named.
func TestImplausibleValues(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{runfmt.RunFile, runfmt.SummaryFile, runfmt.RequestsFile} {
		b, err := os.ReadFile(filepath.Join("testdata/run-a", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, runfmt.RequestsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`{"seq": 9001, "scenario": "x", "protocol": "generate", "url": "u", "vu": 1, "iter": 0, "stream": true, "started": "2026-11-28T08:11:40Z", "sent": "2026-11-28T08:11:40Z", "ttft_ms": 1e308, "e2e_ms": 1e308, "close_ms": 1e308, "chunks": 1, "status": 200, "ok": true, "input_tokens": 1, "output_tokens": 1, "token_source": "usage", "client_output_tokens": 1}`,
		`{"seq": 9002, "scenario": "x", "protocol": "generate", "url": "u", "vu": 1, "iter": 1, "stream": true, "started": "2026-11-28T08:11:40Z", "sent": "2026-11-28T08:11:40Z", "ttft_ms": 12, "e2e_ms": -5, "close_ms": 20, "chunks": 1, "status": 200, "ok": true, "input_tokens": 1, "output_tokens": 1, "token_source": "usage", "client_output_tokens": 1}`,
	} {
		if _, err := f.WriteString(line + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	// And an error text of 200,000 bytes: shown cut, not in full.
	long := fmt.Sprintf(`{"seq": 9003, "scenario": "x", "protocol": "generate", "url": "u", "vu": 1, "iter": 2, "stream": true, "started": "2026-11-28T08:11:40Z", "sent": "2026-11-28T08:11:40Z", "close_ms": 20, "chunks": 0, "status": 500, "ok": false, "error": "%s", "error_class": "http", "input_tokens": 1, "output_tokens": 0, "token_source": "usage", "client_output_tokens": 0}`,
		strings.Repeat("E", 200000))
	if _, err := f.WriteString(long + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := render(t.Context(), &buf, dir, Options{}, stubLibrary, testNow); err != nil {
		t.Fatalf("render with implausible values: %v", err)
	}
	if page := buf.String(); strings.Contains(page, strings.Repeat("E", 1001)) || !strings.Contains(page, "(200000 bytes in all)") {
		t.Errorf("a 200,000-byte error is not shown cut (the page has %d bytes)", len(page))
	}
	if page := buf.String(); !strings.Contains(page, "2 requests with implausible timings were left out, the first with ttft_ms = 1e&#43;308") {
		i := strings.Index(page, "implausible")
		t.Errorf("the page does not say which requests were left out: %q", page[max(0, i-100):min(len(page), i+200)])
	}
}
