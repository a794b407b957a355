// Command llmbench-dev holds the developers' benchmarks, kept out of the
// llmbench and refserver binaries that users run.
//
//	llmbench-dev refserver-bench [flags]   the engine against the memory-bandwidth floor; --http adds the HTTP benchmark
//	llmbench-dev device-bench [flags]      the engine on a CPU or a GPU, as deploy/gpu/hf_bench.py measures transformers
//	llmbench-dev selfbench [flags]         the load generator's own cost and timing truth against a fake server
//	llmbench-dev analyze-bench [flags]     the analyzer at 10,000 requests in a real Jaeger
//	llmbench-dev fake-llm [flags]          selfbench's fake LLM server (selfbench runs it as its child)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmbench/llmbench/analyzer/perf"
	"github.com/llmbench/llmbench/loadgen/selfbench"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/bench"
)

const usage = `llmbench-dev: the developers' benchmarks (make bench runs them)

usage:
  llmbench-dev refserver-bench [flags]  refserver's engine: bandwidth floor, decode, prefill, batching, memory; --http adds streaming HTTP clients
  llmbench-dev device-bench [flags]     the engine on --device cpu|cuda, as deploy/gpu/hf_bench.py measures transformers
  llmbench-dev selfbench [flags]        the load generator: 1,000 streams and 500 requests/s against a fake server
  llmbench-dev analyze-bench [flags]    the analyzer: 10,000 requests' traces in a real Jaeger
  llmbench-dev fake-llm [flags]         selfbench's fake LLM server

"llmbench-dev COMMAND -h" lists a command's flags.`

// commands wires each command's flags into its package's Config and
// returns what runs it.
var commands = map[string]func(ctx context.Context, fs *flag.FlagSet) func() error{
	"refserver-bench": func(ctx context.Context, fs *flag.FlagSet) func() error {
		var cfg bench.Config
		cfg.RegisterFlags(fs)
		return func() error { return bench.Run(ctx, cfg, os.Stdout) }
	},
	"device-bench": func(ctx context.Context, fs *flag.FlagSet) func() error {
		var cfg bench.DeviceConfig
		cfg.RegisterFlags(fs)
		return func() error { _, err := bench.Device(ctx, cfg, os.Stdout); return err }
	},
	"selfbench": func(ctx context.Context, fs *flag.FlagSet) func() error {
		var cfg selfbench.Config
		cfg.RegisterFlags(fs)
		return func() error { _, err := selfbench.Run(ctx, cfg, os.Stdout); return err }
	},
	"analyze-bench": func(ctx context.Context, fs *flag.FlagSet) func() error {
		var cfg perf.Config
		cfg.RegisterFlags(fs)
		return func() error { _, err := perf.Run(ctx, cfg, os.Stdout); return err }
	},
	"fake-llm": func(ctx context.Context, fs *flag.FlagSet) func() error {
		var cfg selfbench.FakeConfig
		cfg.RegisterFlags(fs)
		return func() error { return selfbench.ServeFake(ctx, cfg, os.Stdin, os.Stdout) }
	},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Println(usage)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	wire, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(os.Stderr, "llmbench-dev: unknown command %q\n\n%s\n", cmd, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("llmbench-dev "+cmd, flag.ExitOnError)
	run := wire(ctx, fs)
	if cmd == "refserver-bench" || cmd == "device-bench" {
		refserver.DescribeEnv(fs) // refserver's flags also come from REFSERVER_* variables
	}
	fs.Parse(args)
	if cmd == "refserver-bench" || cmd == "device-bench" {
		if err := refserver.ApplyEnv(fs); err != nil {
			fmt.Fprintln(os.Stderr, "llmbench-dev:", err)
			os.Exit(2)
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "llmbench-dev %s: unexpected arguments %q\n", cmd, fs.Args())
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "llmbench-dev:", err)
		os.Exit(1)
	}
}
