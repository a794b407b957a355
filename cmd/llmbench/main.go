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
	wire, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(os.Stderr, "llmbench: unknown command %q\n\n%s\n", cmd, usage)
		os.Exit(2)
	}
	run := wire(ctx, fs)
	pos, _ := parseArgs(fs, args) // ExitOnError: a bad flag has exited already
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

// parseArgs parses flags before and after the positional arguments, as
// `llmbench run script.js -vus 5` should work, and returns the positional
// ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
