// Package demo is `llmbench demo` (and `make demo`): it starts the whole
// stack as child processes on free loopback ports — Jaeger, Prometheus and
// refserver (synthetic GPT-2 124M) — runs the baseline scenario against
// it, analyzes the run, writes its HTML report, prints the verdict and
// where everything is, and stops what it started: on success, on failure
// and on Ctrl-C. With Keep, the stack stays up (with `llmbench web`) until
// Ctrl-C.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/scenarios"
	"github.com/llmbench/llmbench/telemetry"
	"github.com/llmbench/llmbench/web"
)

// Config is the demo's configuration. The zero value runs
// scenarios/baseline.js (or, outside a checkout, the copy built into
// llmbench) for 20 s into runs/.
type Config struct {
	Runs     string // the runs folder (default "runs")
	Scenario string // the script (default scenarios/baseline.js)
	// Bins names the jaeger, prometheus and refserver binaries outright;
	// a missing entry is looked for as stack.Options says (beside
	// llmbench, in the checkout's bin/, on $PATH).
	Bins    map[string]string
	Hold    time.Duration // how long the baseline's 5 VUs run after their ramp (default 20 s; the original report's is 115 s)
	Keep    bool          // leave the stack running, with llmbench web, until Ctrl-C
	WebAddr string        // where llmbench web listens with Keep (default 127.0.0.1:8080)
}

// RegisterFlags adds the demo's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Runs, "runs", "runs", "the folder for the run folder")
	fs.StringVar(&c.Scenario, "scenario", "scenarios/baseline.js", "the scenario to run")
	fs.DurationVar(&c.Hold, "hold", 20*time.Second, "how long the baseline's 5 users run after their 5 s ramp (the original report's test: 115s)")
	fs.BoolVar(&c.Keep, "keep", false, "leave Jaeger, Prometheus, refserver and llmbench web running for exploration, until Ctrl-C")
	fs.StringVar(&c.WebAddr, "web-addr", web.DefaultAddr, "where llmbench web listens with -keep")
	c.Bins = map[string]string{}
	for _, name := range []string{"jaeger", "prometheus", "refserver"} {
		fs.Func(name, "the `path` of the "+name+" binary (default: beside llmbench, in the checkout's bin/, or on $PATH)", func(v string) error {
			c.Bins[name] = v
			return nil
		})
	}
}

// defaultScenario is the scenario the demo runs unless told otherwise.
const defaultScenario = "scenarios/baseline.js"

// Run runs the demo. Its error says which step failed; the run folder
// keeps every child's log either way.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) (err error) {
	if cfg.Runs == "" {
		cfg.Runs = "runs"
	}
	if cfg.Scenario == "" {
		cfg.Scenario = defaultScenario
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 20 * time.Second
	}
	step := func(format string, args ...any) { fmt.Fprintf(stderr, "demo: "+format+"\n", args...) }
	builtIn := false
	if _, err := os.Stat(cfg.Scenario); err != nil {
		if cfg.Scenario != defaultScenario {
			return fmt.Errorf("demo: scenario: %w", err)
		}
		builtIn = true // outside a checkout: the copy built into llmbench
	}
	id := time.Now().Format("20060102-150405") + "-demo"
	dir := filepath.Join(cfg.Runs, id)
	logs, err := filepath.Abs(filepath.Join(dir, "logs")) // the children run in their own folders
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if builtIn {
		shipped := filepath.Join(logs, "scenarios")
		if err := scenarios.Extract(shipped); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		step("no %s here: running the copy built into llmbench (%s)", defaultScenario, shipped)
		cfg.Scenario = filepath.Join(shipped, filepath.Base(defaultScenario))
	}
	opt := func(name string) stack.Options { return stack.Options{Dir: filepath.Join(logs, name), Paths: cfg.Bins} }
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if serr := stops[i](); serr != nil && err == nil && ctx.Err() == nil {
				step("stopping: %v", serr)
			}
		}
		if len(stops) > 0 {
			step("stopped everything it started; logs in %s", logs)
		}
	}()

	step("starting Jaeger, refserver (synthetic GPT-2 124M) and Prometheus on free 127.0.0.1 ports; logs in %s", logs)
	j, err := stack.StartJaeger(ctx, opt("jaeger"))
	if err != nil {
		return fmt.Errorf("demo: start Jaeger: %w", err)
	}
	stops = append(stops, j.Stop)
	ref, err := stack.StartRefserver(ctx, opt("refserver"), "--otlp-endpoint", j.OTLPGRPC)
	if err != nil {
		return fmt.Errorf("demo: start refserver: %w", err)
	}
	stops = append(stops, ref.Stop)
	metricsAddr, err := freeAddr()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	p, err := stack.StartPrometheus(ctx, opt("prometheus"),
		[]stack.Target{{Job: "refserver", Addr: ref.Addr}, {Job: "llmbench", Addr: metricsAddr}})
	if err != nil {
		return fmt.Errorf("demo: start Prometheus: %w", err)
	}
	stops = append(stops, p.Stop)
	if err := waitScrape(ctx, p); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	step("running %s (5 users, ramp 5 s, then %v) against %s", cfg.Scenario, cfg.Hold, ref.URL)
	lcfg := loadgen.Config{
		Script: cfg.Scenario, Out: dir, Metrics: metricsAddr, JaegerQuery: j.QueryGRPC, PrometheusURL: p.URL,
		Env:     map[string]string{"TARGET": ref.URL, "HOLD": cfg.Hold.String()},
		Tracing: telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "llmbench", SampleRatio: 1},
	}
	res, err := loadgen.Run(ctx, lcfg, stdout, stderr)
	if err != nil {
		return fmt.Errorf("demo: run: %w", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("demo: interrupted; what ran is in %s", dir)
	}
	if res.Exit != loadgen.ExitOK && res.Exit != loadgen.ExitThresholds {
		return fmt.Errorf("demo: the run ended with exit code %d; see %s", res.Exit, dir)
	}
	time.Sleep(2 * time.Second) // Prometheus' last scrape of the run

	step("analyzing: traces from Jaeger, series from Prometheus")
	a, err := analyzer.Analyze(ctx, analyzer.Config{Run: dir, Jaeger: j.QueryGRPC, Prometheus: p.URL, Quiet: true}, nil)
	if err != nil {
		return fmt.Errorf("demo: analyze: %w", err)
	}
	report, err := reportgen.Write(ctx, dir, reportgen.Options{JaegerUI: "http://" + j.UI})
	if err != nil {
		return fmt.Errorf("demo: report: %w", err)
	}
	abs, _ := filepath.Abs(report)

	fmt.Fprintf(stdout, "\nVERDICT  %s\n", a.Verdict.Summary)
	for _, r := range a.Recommendations {
		fmt.Fprintf(stdout, "         -> %s: %s\n", r.Action, r.Because)
	}
	fmt.Fprintf(stdout, "\nreport:      %s\n", abs)
	fmt.Fprintf(stdout, "run folder:  %s\n", dir)
	fmt.Fprintf(stdout, "analysis:    %s analyze %s\n", self(), dir)
	fmt.Fprintf(stdout, "web:         %s web --runs %s   (then http://%s)\n", self(), cfg.Runs, cfg.WebAddr)
	fmt.Fprintf(stdout, "Jaeger:      http://%s (query API; gRPC %s)\n", j.UI, j.QueryGRPC)
	fmt.Fprintf(stdout, "Prometheus:  %s\n", p.URL)
	if !cfg.Keep {
		fmt.Fprintf(stdout, "(the stack stops now; `llmbench demo -keep` leaves it running)\n")
		return nil
	}
	fmt.Fprintf(stdout, "\nthe stack stays up, with llmbench web on http://%s: Ctrl-C stops everything\n", cfg.WebAddr)
	werr := web.Serve(ctx, web.Config{Runs: cfg.Runs, Addr: cfg.WebAddr, JaegerUI: "http://" + j.UI},
		stderr, nil)
	if werr != nil && !errors.Is(werr, context.Canceled) {
		return fmt.Errorf("demo: web: %w", werr)
	}
	return nil
}

// waitScrape waits until Prometheus has scraped refserver once, so that
// the run's series start with it.
func waitScrape(ctx context.Context, p *stack.Prometheus) error {
	q, err := prom.New(p.URL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if v, ok, err := q.Instant(ctx, `up{job="refserver"}`); err == nil && ok && v == 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Prometheus did not scrape refserver within 30 s")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// self is how the user ran llmbench, for the commands the demo suggests.
func self() string {
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "llmbench" {
		return os.Args[0]
	}
	return "llmbench"
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
