package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browsers are the names headless Chromium goes by; `make chromium`
// installs Debian's.
var browsers = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// findBrowser returns the path of a Chromium, or skips the test when there
// is none (fails it, with LLMBENCH_INTEGRATION=1, as make test sets).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no headless browser: none of %s is on PATH (make chromium installs Debian's chromium)", strings.Join(browsers, ", "))
	if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// watcher collects what a page must not do: throw, log an error to the
// console (a CSP violation or a failed load is one), or request anything
// from another origin than the server's.
type watcher struct {
	origin string
	mu     sync.Mutex
	errs   []string
	urls   int
}

func (w *watcher) listen(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		w.errs = append(w.errs, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			w.errs = append(w.errs, "console.error: "+strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			w.errs = append(w.errs, fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		w.urls++
		u := ev.Request.URL
		if !strings.HasPrefix(u, w.origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "about:") && !strings.HasPrefix(u, "blob:") {
			w.errs = append(w.errs, "request outside the server: "+u)
		}
	}
}

func (w *watcher) check(t *testing.T, page string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.errs {
		t.Errorf("%s: %s", page, e)
	}
	w.errs = nil
}

// chartsDrawn is a script that returns how many report charts there are
// and how many of them ECharts drew: a canvas of non-zero size inside the
// chart's element.
const chartsDrawn = `(() => {
	const charts = [...document.querySelectorAll("div.chart")];
	const drawn = charts.filter(el => [...el.querySelectorAll("canvas")].some(c => c.width > 0 && c.height > 0));
	return [charts.length, drawn.length];
})()`

// TestBrowser opens the UI in real headless Chromium: the run list, a
// run's report (its ECharts charts drawn), a comparison built with the
// picker, and the nightly trends. No page may throw, log an error or
// request anything from outside the server. Screenshots are kept as test
// artifacts: go test -run TestBrowser -artifacts -outputdir DIR ./web/.
func TestBrowser(t *testing.T) {
	exe := findBrowser(t)
	needECharts(t)
	specs := append([]runSpec(nil), listSpecs...)
	for d := range 5 {
		night := t0.AddDate(0, 0, d).Format(time.DateOnly)
		for i, sc := range []string{"baseline", "smoke"} {
			spec := runSpec{id: "nightly-" + night + "-" + sc, scenario: sc, device: "cpu", suite: "nightly", night: night,
				start: t0.AddDate(0, 0, d).Add(time.Duration(i) * time.Hour), ttft: float64(80 + 10*d + 40*i)}
			if d == 4 && sc == "baseline" {
				spec.ttft *= 1.6
				spec.nightly = `{"format": 1, "regression": true, "why": "ttft_p95_ms +60 % over the previous nights", "metrics": ["ttft_p95_ms", "ttft_p50_ms", "e2e_p95_ms"]}`
			}
			specs = append(specs, spec)
		}
	}
	s := newSite(t, false, specs...)
	if err := os.Mkdir(filepath.Join(s.runs, "half-written"), 0o755); err != nil {
		t.Fatal(err)
	}
	artifacts := t.ArtifactDir()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1400, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	// The whole browser lives at most this long.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()
	w := &watcher{origin: s.srv.URL}
	if err := chromedp.Listen(ctx, w.listen); err != nil {
		t.Fatalf("start the browser: %v", err)
	}

	screenshot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(artifacts, name), png, 0o644)
		})
	}
	// do runs a page's steps, then checks what the page did.
	do := func(page string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		w.check(t, page)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	drawn := func() []int {
		t.Helper()
		d, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](chartsDrawn))
		if err != nil {
			t.Fatalf("charts: %v", err)
		}
		return d
	}

	// The list: every run, the broken one with its error.
	do("list",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("runs")),
		screenshot("list.png"),
	)
	if got, want := count(`#runs tbody tr[id^="run-"]`), len(specs)+1; got != want {
		t.Errorf("list rows: got %d, want %d", got, want)
	}
	if got := text("tr.broken-why"); !strings.Contains(got, "no run.json") {
		t.Errorf("broken row: got %q, want the error", got)
	}

	// A run's report, reached by its link in the list; its charts drawn.
	const analyzed = "20261128-070000-baseline"
	do("report",
		chromedp.Click(chromedp.CSS(`#run-`+analyzed+` td.id a`)),
		chromedp.WaitVisible(chromedp.CSS("div.chart canvas")),
		screenshot("report.png"),
	)
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || url != s.srv.URL+"/runs/"+analyzed {
		t.Errorf("report URL: got %s (%v), want %s", url, err, s.srv.URL+"/runs/"+analyzed)
	}
	if d := drawn(); len(d) != 2 || d[0] < 5 || d[1] != d[0] {
		t.Errorf("report charts [present, drawn]: got %v, want at least 5, all drawn", d)
	}

	// A comparison, built with the picker.
	const a, b = "20261128-070000-baseline", "20261128-080000-baseline"
	do("compare picker",
		chromedp.Navigate(s.srv.URL+"/compare"),
		chromedp.SetValue(chromedp.ID("pick-a"), a),
		chromedp.SetValue(chromedp.ID("pick-b"), b),
		chromedp.Click(chromedp.CSS(`#picker button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("comparison")),
	)
	src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("comparison"), "src"))
	if want := "/compare/report?a=" + a + "&b=" + b; err != nil || src.Value != want {
		t.Fatalf("comparison frame: got %q (%v), want %q", src.Value, err, want)
	}
	do("comparison",
		chromedp.Navigate(s.srv.URL+src.Value),
		chromedp.WaitVisible(chromedp.CSS("div.chart canvas")),
		screenshot("compare.png"),
	)
	if d := drawn(); len(d) != 2 || d[0] < 1 || d[1] != d[0] {
		t.Errorf("comparison charts [present, drawn]: got %v, want all drawn", d)
	}

	// The nightly trends, the regression marked.
	do("trends",
		chromedp.Navigate(s.srv.URL+"/trends"),
		chromedp.WaitVisible(chromedp.CSS("#trend-ttft_p95_ms svg")),
		screenshot("trends.png"),
	)
	if got := count(`circle.regression[r="6"]`); got != 3 {
		t.Errorf("flagged points: got %d, want 3", got)
	}
	w.mu.Lock()
	urls := w.urls
	w.mu.Unlock()
	if urls == 0 {
		t.Errorf("saw no request at all: the network watch is not working")
	}
	t.Logf("screenshots in %s", artifacts)
}
