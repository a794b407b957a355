package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/internal/demo"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/nightly"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/web"
)

// runner runs a command with its positional arguments and returns the
// exit code; a command that returns 1 with no error succeeded.
type runner func(pos []string) (int, error)

// commands wires each command's flags into its component's Config and
// returns what runs it.
var commands = map[string]func(ctx context.Context, fs *flag.FlagSet) runner{
	"run":     cmdRun,
	"merge":   cmdMerge,
	"analyze": cmdAnalyze,
	"report":  cmdReport,
	"nightly": cmdNightly,
	"demo":    cmdDemo,
	"web":     cmdWeb,
}

// cmdRun wires `llmbench run`.
func cmdRun(ctx context.Context, fs *flag.FlagSet) runner {
	var cfg loadgen.Config
	cfg.RegisterFlags(fs)
	return func(pos []string) (int, error) {
		if len(pos) != 1 {
			return loadgen.ExitInvalidConfig, fmt.Errorf("run: want one script, got %d arguments", len(pos))
		}
		cfg.Script = pos[0]
		if err := cfg.Validate(); err != nil { // also takes -o web-dashboard as --dashboard
			return loadgen.ExitInvalidConfig, err
		}
		on, addr := cfg.DashboardWanted(os.Getenv)
		if !on {
			res, err := loadgen.Run(ctx, cfg, os.Stdout, os.Stderr)
			return res.Exit, err
		}
		d, err := web.StartDashboard(addr)
		if err != nil {
			return loadgen.ExitInvalidConfig, err
		}
		defer d.Close()
		fmt.Fprintf(os.Stderr, "llmbench: live dashboard at %s\n", d.URL())
		cfg.OnInterval = d.Push
		res, err := loadgen.Run(ctx, cfg, os.Stdout, os.Stderr)
		finishDashboard(context.WithoutCancel(ctx), d, res, err)
		if cfg.Linger && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "llmbench: the dashboard stays up at %s until Ctrl-C (--linger)\n", d.URL())
			<-ctx.Done()
		}
		return res.Exit, err
	}
}

// finishDashboard writes the run's report and tells the dashboard's pages
// the run ended, linking it (and copies the report to
// K6_WEB_DASHBOARD_EXPORT, as k6 exports its dashboard's report there).
func finishDashboard(ctx context.Context, d *web.Dashboard, res *loadgen.Result, runErr error) {
	status := "failed"
	if res.Dir == "" {
		d.Finish(status, "", "", runErr)
		return
	}
	if run, err := runfmt.ReadRun(res.Dir); err == nil {
		status = run.Status
	}
	report, err := reportgen.Write(ctx, res.Dir, reportgen.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "llmbench: report for the dashboard: %v\n", err)
		report = ""
	}
	if export := os.Getenv("K6_WEB_DASHBOARD_EXPORT"); export != "" && report != "" {
		if b, err := os.ReadFile(report); err == nil {
			err = os.WriteFile(export, b, 0o644)
			if err != nil {
				fmt.Fprintf(os.Stderr, "llmbench: K6_WEB_DASHBOARD_EXPORT: %v\n", err)
			}
		}
	}
	if runErr == nil && err != nil {
		runErr = err
	}
	d.Finish(status, res.Dir, report, runErr) // Close waits for the event streams to send it
}

// cmdMerge wires `llmbench merge`.
func cmdMerge(ctx context.Context, fs *flag.FlagSet) runner {
	out := fs.String("out", "", "the merged run folder (required)")
	return func(pos []string) (int, error) {
		if *out == "" {
			return 2, fmt.Errorf("merge: -out DIR is required")
		}
		if _, err := loadgen.Merge(pos, *out, os.Stdout); err != nil {
			return 1, err
		}
		return 0, nil
	}
}

// cmdAnalyze wires `llmbench analyze`.
func cmdAnalyze(ctx context.Context, fs *flag.FlagSet) runner {
	var cfg analyzer.Config
	cfg.RegisterFlags(fs)
	compare := fs.Bool("compare", false, "compare two analyzed runs: llmbench analyze -compare RUN_A RUN_B")
	return func(pos []string) (int, error) {
		if *compare {
			if len(pos) != 2 {
				return 2, fmt.Errorf("analyze -compare: want two run folders, got %d", len(pos))
			}
			_, err := analyzer.Compare(pos[0], pos[1], os.Stdout)
			return 1, err
		}
		if len(pos) != 1 {
			return 2, fmt.Errorf("analyze: want one run folder, got %d", len(pos))
		}
		cfg.Run = pos[0]
		_, err := analyzer.Analyze(ctx, cfg, os.Stdout)
		return 1, err
	}
}

// cmdReport wires `llmbench report`: report.html for a run, or a comparison page for two
func cmdReport(ctx context.Context, fs *flag.FlagSet) runner {
	var opts reportgen.Options
	opts.RegisterFlags(fs)
	compare := fs.Bool("compare", false, "compare two runs: llmbench report -compare RUN_A RUN_B")
	out := fs.String("out", "", "with -compare, the page to write (default compare-A-vs-B.html in this folder)")
	return func(pos []string) (int, error) {
		var path string
		var err error
		switch {
		case *compare && len(pos) == 2:
			path, err = reportgen.WriteCompare(ctx, pos[0], pos[1], *out, opts)
		case !*compare && len(pos) == 1:
			path, err = reportgen.Write(ctx, pos[0], opts)
		default:
			return 2, fmt.Errorf("report: want RUN, or -compare RUN_A RUN_B; got %d run folders", len(pos))
		}
		if err == nil {
			fmt.Println(path)
		}
		return 1, err
	}
}

// cmdNightly wires `llmbench nightly`: run a suite, judge each run against the recent nights; -schedule CRON keeps running
func cmdNightly(ctx context.Context, fs *flag.FlagSet) runner {
	var cfg nightly.Config
	cfg.RegisterFlags(fs)
	return func(pos []string) (int, error) {
		if len(pos) != 0 {
			return nightly.ExitConfig, fmt.Errorf("nightly: unexpected arguments %q (the suite is -suite FILE)", pos)
		}
		res, err := nightly.Run(ctx, cfg, os.Stdout)
		return res.Exit, err
	}
}

// cmdDemo wires `llmbench demo`: the whole stack, the baseline scenario, the analysis and the report
func cmdDemo(ctx context.Context, fs *flag.FlagSet) runner {
	var cfg demo.Config
	cfg.RegisterFlags(fs)
	return func(pos []string) (int, error) {
		if len(pos) != 0 {
			return 2, fmt.Errorf("demo: unexpected arguments %q", pos)
		}
		return 1, demo.Run(ctx, cfg, os.Stdout, os.Stderr)
	}
}

// cmdWeb wires `llmbench web`: browse a runs folder: reports, comparisons, nightly trends
func cmdWeb(ctx context.Context, fs *flag.FlagSet) runner {
	var cfg web.Config
	cfg.RegisterFlags(fs)
	return func(pos []string) (int, error) {
		if len(pos) != 0 {
			return 2, fmt.Errorf("web: unexpected arguments %q (the runs folder is --runs DIR)", pos)
		}
		return 1, web.Serve(ctx, cfg, os.Stderr, nil)
	}
}
