// Command refserver is llmbench's reference GPT-2 inference server.
//
//	refserver [serve] --addr 127.0.0.1:8000 [--model DIR]   serve the HTTP API (the default)
//	refserver generate --prompt "Hello" --max-tokens 20     one prompt on the console
//
// Its benchmarks are in llmbench-dev (refserver-bench, device-bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/llmbench/llmbench/refserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := "serve", os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("refserver "+cmd, flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", refserver.Help[cmd]); fs.PrintDefaults() }
	var run func() error
	switch cmd {
	case "serve":
		var cfg refserver.ServeConfig
		cfg.RegisterFlags(fs)
		run = func() error { return refserver.Serve(ctx, cfg, os.Stderr, nil) }
	case "generate":
		var cfg refserver.GenerateConfig
		cfg.RegisterFlags(fs)
		run = func() error { return refserver.Generate(ctx, cfg, os.Stdout, os.Stderr) }
	case "bench", "device-bench":
		fmt.Fprintf(os.Stderr, "refserver %s: the benchmarks moved out of the server's binary: run llmbench-dev %s (make build puts it in bin/)\n",
			cmd, map[string]string{"bench": "refserver-bench", "device-bench": "device-bench"}[cmd])
		os.Exit(2)
	case "help":
		fmt.Print(refserver.Help["serve"], "\n")
		return
	default:
		fmt.Fprintf(os.Stderr, "refserver: unknown command %q\n\n%s\n", cmd, refserver.Help["serve"])
		os.Exit(2)
	}
	refserver.DescribeEnv(fs)
	fs.Parse(args)
	if err := refserver.ApplyEnv(fs); err != nil {
		fmt.Fprintln(os.Stderr, "refserver:", err)
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "refserver:", err)
		os.Exit(1)
	}
}
