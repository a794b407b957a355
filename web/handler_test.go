package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
)

// secret is in files outside the runs folder: no response may contain it.
const secret = "SECRET-OUTSIDE-THE-RUNS-FOLDER"

// site is a runs folder served by Handler.
type site struct {
	runs    string // the runs folder
	outside string // a folder beside it, which nothing may read
	srv     *httptest.Server
}

// newSite writes the runs of specs (and, with attacks, the folders and
// links that try to lead out) and serves them.
func newSite(t *testing.T, attacks bool, specs ...runSpec) *site {
	t.Helper()
	s := &site{runs: t.TempDir(), outside: t.TempDir()}
	for _, spec := range specs {
		writeRun(t, s.runs, spec)
	}
	if attacks {
		s.writeAttacks(t)
	}
	ix, err := index.Open(context.Background(), s.runs)
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	s.srv = httptest.NewServer(Handler(ix, Config{Runs: s.runs}, nil))
	t.Cleanup(s.srv.Close)
	return s
}

// writeAttacks puts secrets outside the runs folder and links to them
// inside it.
func (s *site) writeAttacks(t *testing.T) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(s.outside, "secret.txt"), []byte(secret), 0o644))
	// A whole run folder outside, reached by a link.
	writeRun(t, s.outside, runSpec{id: "elsewhere", scenario: secret, device: "cpu"})
	must(os.WriteFile(filepath.Join(s.outside, "elsewhere", runfmt.ReportFile), []byte(secret), 0o644))
	must(os.Symlink(filepath.Join(s.outside, "elsewhere"), filepath.Join(s.runs, "outlink")))
	// A real run folder whose report.html links out.
	writeRun(t, s.runs, runSpec{id: "reportlink", scenario: "x", device: "cpu"})
	must(os.Symlink(filepath.Join(s.outside, "secret.txt"), filepath.Join(s.runs, "reportlink", runfmt.ReportFile)))
	// A real run folder whose requests.jsonl (read by reports, not by the
	// index) links out.
	writeRun(t, s.runs, runSpec{id: "requestslink", scenario: "x", device: "cpu"})
	must(os.Remove(filepath.Join(s.runs, "requestslink", runfmt.RequestsFile)))
	must(os.Symlink(filepath.Join(s.outside, "secret.txt"), filepath.Join(s.runs, "requestslink", runfmt.RequestsFile)))
	// A run folder whose run.json links out.
	must(os.Mkdir(filepath.Join(s.runs, "runlink"), 0o755))
	must(os.Symlink(filepath.Join(s.outside, "elsewhere", runfmt.RunFile), filepath.Join(s.runs, "runlink", runfmt.RunFile)))
}

func (s *site) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(s.srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// rawGet sends target as the request line's target, exactly, with no
// client-side cleaning or encoding.
func (s *site) rawGet(t *testing.T, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp.StatusCode, string(b)
}

// needECharts skips a test of rendered reports when this build has no
// ECharts (make assets puts it in), unless LLMBENCH_INTEGRATION=1.
func needECharts(t *testing.T) {
	t.Helper()
	err := reportgen.Render(t.Context(), io.Discard, t.TempDir(), reportgen.Options{})
	if !errors.Is(err, reportgen.ErrNoECharts) {
		return
	}
	if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
		t.Fatalf("rendered reports: %v", err)
	}
	t.Skipf("rendered reports: %v", err)
}

var rowID = regexp.MustCompile(`<tr id="run-([^"]+)"`)

func listed(body string) []string {
	var ids []string
	for _, m := range rowID.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

var listSpecs = []runSpec{
	{id: "20261128-070000-baseline", scenario: "baseline", device: "cpu", start: t0, ttft: 100, analyzed: true},
	{id: "20261128-080000-baseline", scenario: "baseline", device: "cuda", start: t0.Add(time.Hour), ttft: 10, analyzed: true},
	{id: "20261128-090000-smoke", scenario: "smoke", device: "cpu", start: t0.Add(2 * time.Hour), ttft: 50},
}

func TestList(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	if err := os.Mkdir(filepath.Join(s.runs, "half-written"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.runs, "half-written", runfmt.RunFile), []byte(`{"format": 1, "id": "half`), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		cpu   = "20261128-070000-baseline"
		cuda  = "20261128-080000-baseline"
		smoke = "20261128-090000-smoke"
		half  = "half-written"
	)
	tests := []struct {
		query    string
		status   int
		ids      []string
		contains []string
	}{
		{"", 200, []string{smoke, cuda, cpu, half}, []string{"4 of 4 runs", "broken: read run.json: the JSON ends early", `href="/runs/` + cpu + `"`}},
		{"?sort=start", 200, []string{half, cpu, cuda, smoke}, nil},
		{"?scenario=baseline", 200, []string{cuda, cpu}, []string{"2 of 4 runs"}},
		{"?device=cpu", 200, []string{smoke, cpu}, nil},
		{"?device=cpu&scenario=baseline", 200, []string{cpu}, nil},
		{"?target=http%3A%2F%2F127.0.0.1%3A1&sort=id", 200, []string{cpu, cuda, smoke}, nil},
		{"?scenario=nope", 200, nil, []string{"No run matches the filters"}},
		{"?sort=ttft_p95_ms", 200, []string{cuda, smoke, cpu, half}, []string{"TTFT p95</a> ▲"}},
		{"?sort=ttft_p95_ms&desc=1", 200, []string{cpu, smoke, cuda, half}, []string{"TTFT p95</a> ▼"}},
		{"?sort=device&desc=1", 200, []string{cuda, smoke, cpu, half}, nil},
		{"?sort=bogus", 400, nil, []string{"cannot sort by"}},
		{"?sort=" + "ttft_p95_ms%3B%20DROP%20TABLE%20runs", 400, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, h, body := s.get(t, "/"+tt.query)
			if status != tt.status {
				t.Fatalf("status: got %d, want %d; body:\n%s", status, tt.status, body)
			}
			if got := h.Get("Content-Security-Policy"); got != pageCSP {
				t.Errorf("CSP: got %q, want %q", got, pageCSP)
			}
			if status == 200 && !slices.Equal(listed(body), tt.ids) {
				t.Errorf("runs: got %v, want %v", listed(body), tt.ids)
			}
			for _, want := range tt.contains {
				if !strings.Contains(body, want) {
					t.Errorf("body does not contain %q", want)
				}
			}
		})
	}

	// A run folder added (or removed) while serving shows on the next page.
	writeRun(t, s.runs, runSpec{id: "20261128-100000-new", scenario: "smoke", device: "cpu", start: t0.Add(3 * time.Hour)})
	os.RemoveAll(filepath.Join(s.runs, cpu))
	_, _, body := s.get(t, "/")
	if got, want := listed(body), []string{"20261128-100000-new", smoke, cuda, half}; !slices.Equal(got, want) {
		t.Errorf("after adding and removing: got %v, want %v", got, want)
	}
}

func TestListEscapes(t *testing.T) {
	s := newSite(t, false, runSpec{id: "evil", scenario: "x", scenarioText: `<script>alert(1)</script>`, device: `"><img src=x onerror=alert(2)>`})
	_, _, body := s.get(t, "/")
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(body, bad) {
			t.Errorf("list page contains %q unescaped", bad)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("list page does not show the scenario escaped")
	}
}

func TestRunPage(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	pre := filepath.Join(s.runs, "20261128-090000-smoke", runfmt.ReportFile)
	const prerendered = "<!DOCTYPE html><html><body>PRERENDERED</body></html>"
	if err := os.WriteFile(pre, []byte(prerendered), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.runs, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("report.html is served as it is", func(t *testing.T) {
		status, h, body := s.get(t, "/runs/20261128-090000-smoke")
		if status != 200 || body != prerendered {
			t.Errorf("got %d %q, want 200 %q", status, body, prerendered)
		}
		if got := h.Get("Content-Security-Policy"); got != reportCSP {
			t.Errorf("CSP: got %q, want %q", got, reportCSP)
		}
	})
	t.Run("a folder name that needs escaping", func(t *testing.T) {
		writeRun(t, s.runs, runSpec{id: "my run #2", scenario: "x", device: "cpu"})
		if err := os.WriteFile(filepath.Join(s.runs, "my run #2", runfmt.ReportFile), []byte(prerendered), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, list := s.get(t, "/")
		const link = `href="/runs/my%20run%20%232"`
		if !strings.Contains(list, link) {
			t.Fatalf("list does not link %s", link)
		}
		if status, _, body := s.get(t, "/runs/my%20run%20%232"); status != 200 || body != prerendered {
			t.Errorf("got %d %q, want 200 %q", status, body, prerendered)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		if status, _, _ := s.get(t, "/runs/20261128-000000-nope"); status != 404 {
			t.Errorf("status: got %d, want 404", status)
		}
	})
	t.Run("broken run", func(t *testing.T) {
		needECharts(t)
		status, _, body := s.get(t, "/runs/broken")
		// A folder without run.json is not a run: 404, saying what is missing.
		if status != 404 || !strings.Contains(body, "cannot be made") || !strings.Contains(body, "run.json") {
			t.Errorf("got %d, want 404 with the error; body:\n%s", status, body)
		}
		if strings.Contains(body, s.runs) {
			t.Errorf("error page shows the runs folder's path")
		}
	})
	t.Run("rendered report", func(t *testing.T) {
		needECharts(t)
		status, h, body := s.get(t, "/runs/20261128-070000-baseline")
		if status != 200 {
			t.Fatalf("status: got %d, want 200; body:\n%.2000s", status, body)
		}
		if got := h.Get("Content-Security-Policy"); got != reportCSP {
			t.Errorf("CSP: got %q, want %q", got, reportCSP)
		}
		for _, want := range []string{"20261128-070000-baseline", "<script", "echarts"} {
			if !strings.Contains(body, want) {
				t.Errorf("report does not contain %q", want)
			}
		}
		// Read-only: rendering did not write report.html.
		if _, err := os.Stat(filepath.Join(s.runs, "20261128-070000-baseline", runfmt.ReportFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("report.html after viewing: got %v, want none written", err)
		}
	})
}

func TestCompare(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	const a, b = "20261128-070000-baseline", "20261128-080000-baseline"

	status, _, body := s.get(t, "/compare")
	if status != 200 || !strings.Contains(body, `id="pick-a"`) || strings.Contains(body, "<iframe") {
		t.Errorf("picker: got %d, want 200 with the selects and no comparison", status)
	}
	for _, spec := range listSpecs {
		if !strings.Contains(body, `<option value="`+spec.id+`"`) {
			t.Errorf("picker does not offer %s", spec.id)
		}
	}

	status, _, body = s.get(t, "/compare?a="+a+"&b="+b)
	want := `src="/compare/report?a=` + a + `&amp;b=` + b + `"`
	if status != 200 || !strings.Contains(body, want) || !strings.Contains(body, `<option value="`+b+`" selected>`) {
		t.Errorf("picked: got %d, want 200 with %s and b selected; body:\n%s", status, want, body)
	}

	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/compare?a=" + a + "&b=nope", 404},
		{"/compare/report?a=" + a, 400},
		{"/compare/report?a=nope&b=" + b, 404},
	} {
		if status, _, _ := s.get(t, tt.path); status != tt.status {
			t.Errorf("%s: got %d, want %d", tt.path, status, tt.status)
		}
	}

	t.Run("rendered comparison", func(t *testing.T) {
		needECharts(t)
		status, h, body := s.get(t, "/compare/report?a="+a+"&b="+b)
		if status != 200 {
			t.Fatalf("status: got %d, want 200; body:\n%.2000s", status, body)
		}
		if got := h.Get("Content-Security-Policy"); got != reportCSP {
			t.Errorf("CSP: got %q, want %q", got, reportCSP)
		}
		for _, want := range []string{a, b, "<script"} {
			if !strings.Contains(body, want) {
				t.Errorf("comparison does not contain %q", want)
			}
		}
	})
}

func TestTrends(t *testing.T) {
	var specs []runSpec
	for d := range 4 {
		night := t0.AddDate(0, 0, d).Format(time.DateOnly)
		for _, sc := range []string{"baseline", "smoke"} {
			spec := runSpec{id: "nightly-" + night + "-" + sc, scenario: sc, device: "cpu", suite: "nightly", night: night,
				start: t0.AddDate(0, 0, d), ttft: float64(100 + 10*d), analyzed: true}
			if d == 3 && sc == "baseline" {
				spec.nightly = `{"format": 1, "regression": true, "why": "ttft_p95_ms +30 % <b>over</b> the median", "metrics": ["ttft_p95_ms", "ttft_p50_ms"]}`
			}
			specs = append(specs, spec)
		}
	}
	specs = append(specs, runSpec{id: "manual", scenario: "baseline", device: "cuda", start: t0.AddDate(0, 0, 10)})
	s := newSite(t, false, specs...)

	status, _, body := s.get(t, "/trends")
	if status != 200 {
		t.Fatalf("status: got %d, want 200; body:\n%s", status, body)
	}
	for _, metric := range index.KeyMetrics {
		if !strings.Contains(body, `id="trend-`+metric+`"`) {
			t.Errorf("no chart of %s", metric)
		}
	}
	checks := []struct {
		what string
		re   string
		want int
	}{
		{"charts with lines", `<g class="series">`, 2 * len(index.KeyMetrics)},
		{"points", `<circle cx=`, 8 * len(index.KeyMetrics)},
		{"flagged points (two metrics)", `r="6" class="regression"`, 2},
		{"links to the flagged run", `href="/runs/nightly-2026-12-01-baseline"`, len(index.KeyMetrics) + 1},
		{"the manual run", `manual`, 0},
	}
	for _, c := range checks {
		if got := len(regexp.MustCompile(c.re).FindAllString(body, -1)); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
	if !strings.Contains(body, "&lt;b&gt;over&lt;/b&gt; the median</li>") {
		t.Errorf("the regression's why is not listed, escaped")
	}

	for _, tt := range []struct {
		query  string
		status int
	}{
		{"?suite=nightly&limit=2", 200},
		{"?suite=weekly", 404},
		{"?suite=../nightly", 404},
		{"?limit=0", 400},
		{"?limit=x", 400},
	} {
		if status, _, _ := s.get(t, "/trends"+tt.query); status != tt.status {
			t.Errorf("%s: got %d, want %d", tt.query, status, tt.status)
		}
	}
	_, _, body = s.get(t, "/trends?limit=2")
	if got, want := strings.Count(body, "<circle cx="), 4*len(index.KeyMetrics); got != want {
		t.Errorf("points with limit=2: got %d, want %d", got, want)
	}

	empty := newSite(t, false, listSpecs...)
	if status, _, body := empty.get(t, "/trends"); status != 200 || !strings.Contains(body, "No nightly runs yet") {
		t.Errorf("no suite: got %d, want 200 saying there are no nightly runs", status)
	}
}

// TestPathEscapes sends request targets that try to leave the runs
// folder. Each must be refused with 400 or 404, and no response may carry
// what lies outside.
func TestPathEscapes(t *testing.T) {
	s := newSite(t, true, listSpecs...)
	const good = "20261128-070000-baseline"
	// The links are where they should be, and the index skipped or
	// refused them.
	if _, err := os.Lstat(filepath.Join(s.runs, "outlink")); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(s.outside, "elsewhere")
	for _, target := range []string{
		"/runs/..",
		"/runs/.",
		"/runs/../" + filepath.Base(s.outside) + "/secret.txt",
		"/runs/%2e%2e",
		"/runs/..%2f" + filepath.Base(s.outside) + "%2fsecret.txt",
		"/runs/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/runs/%252e%252e",
		"/runs/" + strings.ReplaceAll(abs, "/", "%2f"),
		"/runs/" + abs,
		"/runs//etc/passwd",
		"/runs/..%5c..%5csecret.txt",
		"/runs/C:%5Csecret.txt",
		"/runs/%00",
		"/runs/.llmbench-index.db",
		"/runs/outlink",
		"/runs/reportlink",
		"/runs/requestslink",
		"/runs/runlink",
		"/runs/" + good + "/../../secret.txt",
		"/runs/" + good + "%2f..%2f..%2fsecret.txt",
		"/compare/report?a=..&b=" + good,
		"/compare/report?a=" + good + "&b=%2e%2e%2f" + filepath.Base(s.outside),
		"/compare/report?a=" + good + "&b=" + abs,
		"/compare/report?a=outlink&b=" + good,
		"/compare/report?a=" + good + "&b=requestslink",
		"/compare?a=../x&b=" + good,
		"/compare?a=outlink&b=" + good,
		"/trends?suite=..%2f..",
	} {
		t.Run(target, func(t *testing.T) {
			status, body := s.rawGet(t, target)
			if status != 400 && status != 404 {
				t.Errorf("status: got %d, want 400 or 404", status)
			}
			if strings.Contains(body, secret) {
				t.Errorf("the response carries what lies outside the runs folder")
			}
		})
	}
	// The list shows what it may: the broken run.json link, refused.
	_, _, body := s.get(t, "/")
	if strings.Contains(body, secret) || slices.Contains(listed(body), "outlink") {
		t.Errorf("the list shows the linked folder or its content")
	}
	if !strings.Contains(body, "broken: read run.json: not a regular file") {
		t.Errorf("the run folder whose run.json is a link is not listed as broken")
	}
}

// TestTrailingSlash: a page's path typed with a slash at its end
// redirects to the page.
func TestTrailingSlash(t *testing.T) {
	s := newSite(t, true, listSpecs...)
	const good = "20261128-070000-baseline"
	for path, want := range map[string]string{"/runs/" + good + "/": "/runs/" + good, "/compare/?a=x": "/compare?a=x", "/trends/": "/trends"} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != want {
			t.Errorf("%s: %d to %q, want 301 to %q", path, resp.StatusCode, loc, want)
		}
	}
}

// TestReadOnly views every page and checks that nothing in the run
// folders changed: only the index database, in the runs folder's root,
// may be written.
func TestReadOnly(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	before := snapshot(t, s.runs)
	for _, p := range []string{"/", "/?sort=ttft_p95_ms", "/runs/20261128-070000-baseline", "/compare",
		"/compare?a=20261128-070000-baseline&b=20261128-080000-baseline",
		"/compare/report?a=20261128-070000-baseline&b=20261128-080000-baseline", "/trends", "/healthz"} {
		s.get(t, p)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, s.srv.URL+"/runs/20261128-070000-baseline", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: got %d, want 405", method, resp.StatusCode)
		}
	}
	after := snapshot(t, s.runs)
	if !slices.Equal(before, after) {
		t.Errorf("the run folders changed:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshot lists every file below the runs folder's sub-folders with its
// size and modification time.
func snapshot(t *testing.T, runs string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(runs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(runs, path)
		if !strings.Contains(rel, string(filepath.Separator)) && !d.IsDir() {
			return nil // the root's files: the index database
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, fmt.Sprintf("%s %d %d", rel, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestHealthz(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	status, _, body := s.get(t, "/healthz")
	if status != 200 || body != "ok: 3 runs indexed\n" {
		t.Errorf("got %d %q, want 200 %q", status, body, "ok: 3 runs indexed\n")
	}
	if status, _, _ := s.get(t, "/nope"); status != 404 {
		t.Errorf("/nope: got %d, want 404", status)
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"20261128-071500-baseline", true},
		{"run_1.merged", true},
		{"", false},
		{".", false},
		{"..", false},
		{".llmbench-index.db", false},
		{"my run #2 (é)", true},
		{"a/b", false},
		{`a\b`, false},
		{"/abs", false},
		{"a\x00", false},
		{"a\nb", false},
		{"\xff", false},
		{strings.Repeat("a", 256), false},
	} {
		if got := validID(tt.id); got != tt.want {
			t.Errorf("validID(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
}

// TestVanishingRun: a run folder removed, or its run.json, between the
// lookup and the render gave 500; it is a 404 that says so.
func TestVanishingRun(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	for _, tc := range []struct {
		name, path string
		remove     func()
	}{
		{"run.json removed", "/runs/20261128-090000-smoke", func() {
			os.Remove(filepath.Join(s.runs, "20261128-090000-smoke", runfmt.RunFile))
		}},
		{"folder removed, compare", "/compare/report?a=20261128-070000-baseline&b=20261128-080000-baseline", func() {
			os.RemoveAll(filepath.Join(s.runs, "20261128-080000-baseline"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.get(t, "/") // the index sees the run
			tc.remove()
			status, _, body := s.get(t, tc.path)
			if status != http.StatusNotFound {
				t.Errorf("got %d (%.200s), want 404", status, body)
			}
		})
	}
}

// TestForeignHost: a page whose name was rebound to 127.0.0.1 must not
// read the runs: a Host that does not name the server is refused.
func TestForeignHost(t *testing.T) {
	s := newSite(t, false, listSpecs...)
	conn, err := net.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "20261128-070000-baseline") {
		t.Errorf("Host evil.example: %d, want 403 and no run listed", resp.StatusCode)
	}
}
