package scenarios_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/web"
)

var dashboardShot = flag.String("dashboard-screenshot", "", "write the live dashboard of the real run to this PNG file (the README's docs/dashboard.png)")

// TestLiveDashboard runs baseline.js against refserver with the live
// dashboard, as `llmbench run --dashboard` wires it, and watches the page
// in headless Chromium: the charts gain points while the run goes on,
// and when it ends the page links its report and keeps its charts. With
// -dashboard-screenshot FILE it writes the picture the README shows.
func TestLiveDashboard(t *testing.T) {
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
			t.Fatal("no headless Chromium on PATH (make chromium installs it)")
		}
		t.Skip("no headless Chromium on PATH")
	}
	if _, err := reportgen.ECharts(); err != nil {
		if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	d, err := web.StartDashboard("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	base := startRefserver(t, 0, "")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1400, 1100))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()
	var pageErrs []string
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			pageErrs = append(pageErrs, e.ExceptionDetails.Text)
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(d.URL()), chromedp.WaitVisible(chromedp.ID("c-ttft"))); err != nil {
		t.Fatal(err)
	}
	points := func() int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.llmbenchDashboard.points()"))
		if err != nil {
			t.Fatalf("points: %v", err)
		}
		return n
	}

	// The run, on its own goroutine; the page is watched meanwhile.
	type result struct {
		res *loadgen.Result
		err error
	}
	done := make(chan result, 1)
	dir := filepath.Join(t.TempDir(), "run")
	go func() {
		cfg := loadgen.Config{Script: "baseline.js", Env: with(base, map[string]string{"HOLD": "6s"}), NoSysEnv: true, Out: dir, Quiet: true, OnInterval: d.Push}
		res, err := loadgen.Run(context.Background(), cfg, new(strings.Builder), new(strings.Builder))
		done <- result{res, err}
	}()
	var seen []int
	var r result
	for running := true; running; {
		select {
		case r = <-done:
			running = false
		case <-time.After(time.Second):
			seen = append(seen, points())
		}
	}
	if r.err != nil || r.res.Exit != loadgen.ExitOK {
		t.Fatalf("run: exit %v, %v", r.res, r.err)
	}
	grew := 0
	for i := 1; i < len(seen); i++ {
		if seen[i] > seen[i-1] {
			grew++
		}
	}
	if grew < 2 {
		t.Errorf("the page's points over the run: %v; want them to grow while it ran", seen)
	}
	report, err := reportgen.Write(context.Background(), dir, reportgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := runfmt.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Finish(run.Status, dir, report, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		if err == nil && strings.Contains(s, "run finished") && strings.Contains(s, "the report") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not say the run ended: %q %v", s, err)
		}
	}
	ivs, err := runfmt.ReadTimeSeries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := points(); got != len(ivs) {
		t.Errorf("the page drew %d intervals; timeseries.jsonl has %d", got, len(ivs))
	}
	if *dashboardShot != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*dashboardShot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := points(); got != len(ivs) {
		t.Errorf("after the server went the page shows %d intervals, want %d", got, len(ivs))
	}
	for _, e := range pageErrs {
		t.Errorf("page: %s", e)
	}
}
