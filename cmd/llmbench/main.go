// Command llmbench load-tests LLM inference servers and explains where the
// latency goes.
//
//	llmbench run [flags] script.js        run a k6-style scenario script, write a run folder
//	llmbench merge -out DIR RUN RUN...     combine the run folders of a distributed run
//	llmbench analyze [flags] RUN           attribute each request's latency, with a verdict
//	llmbench analyze -compare RUN_A RUN_B  per-part deltas between two analyzed runs
//	llmbench report [-compare] RUN [RUN]   HTML reports and comparisons
//	llmbench web --runs DIR                the runs browser
//	llmbench nightly --suite FILE          scheduled suites with regression detection
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/analyzer/perf"
	"github.com/llmbench/llmbench/deploy/demo"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/loadgen/selfbench"
	"github.com/llmbench/llmbench/nightly"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/web"
)

const usage = `llmbench: load tests and latency analysis for LLM inference servers

usage:
  llmbench demo [-keep]                start Jaeger, Prometheus and refserver, run the baseline, analyze, write the report
  llmbench run [flags] script.js       run a scenario script (k6-style JavaScript) and write a run folder
  llmbench merge -out DIR RUN RUN...    merge the run folders of one test split with --execution-segment
  llmbench analyze [flags] RUN          where each request's latency went (Jaeger traces, Prometheus series), with a verdict
  llmbench analyze -compare RUN_A RUN_B  what changed between two analyzed runs, part by part, with significance
  llmbench report [flags] RUN           write RUN/report.html: the verdict, attribution, distributions (works offline)
  llmbench report -compare RUN_A RUN_B  a comparison page of two runs (CPU vs GPU, commit vs commit)
  llmbench web [--runs DIR]             browse runs, their reports, comparisons and nightly trends (127.0.0.1:8080)
  llmbench nightly --suite FILE         run a suite, analyze, report, flag regressions against recent nights

"llmbench COMMAND -h" lists a command's flags.`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Println(usage)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C kills at once; what was measured is on disk already
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("llmbench "+cmd, flag.ExitOnError)
	var run func(pos []string) (int, error)
	switch cmd {
	case "run":
		var cfg loadgen.Config
		cfg.RegisterFlags(fs)
		run = func(pos []string) (int, error) {
			if len(pos) != 1 {
				return loadgen.ExitInvalidConfig, fmt.Errorf("run: want one script, got %d arguments", len(pos))
			}
			cfg.Script = pos[0]
			res, err := loadgen.Run(ctx, cfg, os.Stdout, os.Stderr)
			return res.Exit, err
		}
	case "merge":
		out := fs.String("out", "", "the merged run folder (required)")
		run = func(pos []string) (int, error) {
			if *out == "" {
				return 2, fmt.Errorf("merge: -out DIR is required")
			}
			if _, err := loadgen.Merge(pos, *out, os.Stdout); err != nil {
				return 1, err
			}
			return 0, nil
		}
	case "analyze":
		var cfg analyzer.Config
		cfg.RegisterFlags(fs)
		compare := fs.Bool("compare", false, "compare two analyzed runs: llmbench analyze -compare RUN_A RUN_B")
		run = func(pos []string) (int, error) {
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
	case "report": // report.html for a run, or a comparison page for two
		var opts reportgen.Options
		opts.RegisterFlags(fs)
		compare := fs.Bool("compare", false, "compare two runs: llmbench report -compare RUN_A RUN_B")
		out := fs.String("out", "", "with -compare, the page to write (default compare-A-vs-B.html in this folder)")
		run = func(pos []string) (int, error) {
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
	case "nightly": // run a suite, judge each run against the recent nights; -schedule CRON keeps running
		var cfg nightly.Config
		cfg.RegisterFlags(fs)
		run = func(pos []string) (int, error) {
			if len(pos) != 0 {
				return nightly.ExitConfig, fmt.Errorf("nightly: unexpected arguments %q (the suite is -suite FILE)", pos)
			}
			res, err := nightly.Run(ctx, cfg, os.Stdout)
			return res.Exit, err
		}
	case "demo": // the whole stack, the baseline scenario, the analysis and the report
		var cfg demo.Config
		cfg.RegisterFlags(fs)
		run = func(pos []string) (int, error) {
			if len(pos) != 0 {
				return 2, fmt.Errorf("demo: unexpected arguments %q", pos)
			}
			return 1, demo.Run(ctx, cfg, os.Stdout, os.Stderr)
		}
	case "web": // browse a runs folder: reports, comparisons, nightly trends
		var cfg web.Config
		cfg.RegisterFlags(fs)
		run = func(pos []string) (int, error) {
			if len(pos) != 0 {
				return 2, fmt.Errorf("web: unexpected arguments %q (the runs folder is --runs DIR)", pos)
			}
			return 1, web.Serve(ctx, cfg, os.Stderr, nil)
		}
	case "selfbench": // hidden: the load generator's own benchmark (make bench)
		var cfg selfbench.Config
		cfg.RegisterFlags(fs)
		run = func([]string) (int, error) {
			_, err := selfbench.Run(ctx, cfg, os.Stdout)
			return 0, err
		}
	case "analyze-bench": // hidden: the analyzer's benchmark, 10,000 requests in Jaeger (make bench)
		var cfg perf.Config
		cfg.RegisterFlags(fs)
		run = func([]string) (int, error) {
			_, err := perf.Run(ctx, cfg, os.Stdout)
			return 0, err
		}
	case "fake-llm": // hidden: selfbench's fake LLM server, run as its child
		var cfg selfbench.FakeConfig
		cfg.RegisterFlags(fs)
		run = func([]string) (int, error) { return 0, selfbench.ServeFake(ctx, cfg, os.Stdin, os.Stdout) }
	default:
		fmt.Fprintf(os.Stderr, "llmbench: unknown command %q\n\n%s\n", cmd, usage)
		os.Exit(2)
	}
	pos := parseInterspersed(fs, args)
	code, err := run(pos)
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmbench:", err)
		os.Exit(max(code, 1))
	}
	if code == 1 { // the commands that return 1 with their error succeed with none
		code = 0
	}
	os.Exit(code)
}

// parseInterspersed parses flags before and after the positional
// arguments, as `llmbench run script.js -vus 5` should work.
func parseInterspersed(fs *flag.FlagSet, args []string) []string {
	var pos []string
	for {
		fs.Parse(args)
		if fs.NArg() == 0 {
			return pos
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
