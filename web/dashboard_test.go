package web

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/llmbench/llmbench/runfmt"
)

// interval is the i-th second of a made-up run: ramping VUs, TTFT rising
// with them.
func interval(start time.Time, i int) *runfmt.Interval {
	vus := int64(min(i+1, 8))
	ttft := 80 + 12*float64(vus) + float64(i%3)
	return &runfmt.Interval{
		Time: start.Add(time.Duration(i+1) * time.Second), Elapsed: float64(i + 1),
		VUs: vus, VUsMax: 8, InFlight: vus, Iterations: vus * 2, Requests: vus * 2, RequestsPerS: float64(vus * 2),
		OutputTokens: vus * 64, TokensPerS: float64(vus * 64),
		TTFT: &runfmt.Quantiles{P50: ttft, P95: ttft * 1.4, P99: ttft * 1.7, Count: int(vus * 2)},
		TPOT: &runfmt.Quantiles{P50: 18 + float64(vus), P95: 25 + float64(vus), P99: 30, Count: int(vus * 2)},
		ITL:  &runfmt.Quantiles{P50: 17 + float64(vus), P95: 28 + float64(vus), P99: 40, Count: int(vus * 120)},
	}
}

// TestDashboardEvents: the event stream replays the intervals so far, then
// each new one, then "end" with the report's link, which the dashboard
// then serves; the page's own files come from this server alone.
func TestDashboardEvents(t *testing.T) {
	d, err := StartDashboard("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	d.Push(interval(start, 0))
	resp, err := http.Get(d.URL() + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: Content-Type %q", ct)
	}
	report := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(report, []byte("<!doctype html><title>r</title>report"), 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.Push(interval(start, 1))
		d.Finish(runfmt.StatusFinished, "runs/x", report, nil)
	}()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			events = append(events, e)
		}
	}
	if strings.Join(events, ",") != "interval,interval,end" {
		t.Errorf("events %v, want two intervals then end", events)
	}
	r, err := http.Get(d.URL() + "report")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("report after the end: %v %v", r, err)
	}
	r.Body.Close()
	page, err := http.Get(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

// TestDashboardBrowser opens the live dashboard in headless Chromium while
// intervals arrive, as in a run: the charts gain points as it goes on,
// and when the run ends the page says so, links the report and keeps its
// charts, also once the server is gone. No page may throw, log an error or
// load anything from elsewhere. (e2e/scenarios.TestLiveDashboard does the
// same with a real run, and takes the README's picture.)
func TestDashboardBrowser(t *testing.T) {
	exe := findBrowser(t)
	needECharts(t)
	d, err := StartDashboard("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() { // the run: one interval each 100 ms
		defer close(pushed)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			d.Push(interval(start, i))
		}
	}()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1400, 1100))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()
	origin := strings.TrimSuffix(d.URL(), "/")
	w := &watcher{origin: origin}
	if err := chromedp.Listen(ctx, w.listen); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(d.URL()), chromedp.WaitVisible(chromedp.ID("c-ttft"))); err != nil {
		t.Fatal(err)
	}
	drawn := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[[]int]("window.llmbenchDashboard.drawn()"))
		if err != nil {
			t.Fatalf("drawn: %v", err)
		}
		sum := 0
		for _, x := range n {
			sum += x
		}
		return sum
	}
	// The charts gain points while the run goes on (a bound only a hang
	// reaches).
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s: %s", what)
			}
		}
	}
	var first int
	waitFor("the charts show points", func() bool { first = drawn(); return first > 0 })
	waitFor("the charts gain points", func() bool { return drawn() > first })
	close(stop)
	<-pushed

	report := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(report, []byte("<!doctype html><title>report</title>the report"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Finish(runfmt.StatusFinished, "runs/20261207-120000-baseline", report, nil)
	text := func() string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		return s
	}
	waitFor("the page says the run ended", func() bool { return strings.Contains(text(), "run finished") })
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#status a").getAttribute("href")`))
	if err != nil || href != "/report" {
		t.Errorf("report link %q (%v), want /report", href, err)
	}
	before := drawn()
	// The server goes (the load generator exits): the page keeps its charts.
	if err := d.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if after := drawn(); after != before || after == 0 {
		t.Errorf("after the server went: %d points drawn, before %d", after, before)
	}
	w.check(t, "dashboard")
}
