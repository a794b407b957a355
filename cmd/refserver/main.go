// Command refserver is llmbench's reference GPT-2 inference server.
//
//	refserver generate --prompt "Hello" --max-tokens 20   one prompt on the console
//	refserver bench                                       the engine against the memory-bandwidth floor
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/llmbench/llmbench/refserver"
)

const usage = `usage: refserver <command> [flags]

commands:
  generate   generate from a prompt on the console (synthetic GPT-2 124M unless --model DIR)
  bench      measure decode, prefill, batching and memory against this machine's bandwidth floor

Run "refserver <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("refserver "+os.Args[1], flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", refserver.Help[os.Args[1]])
		fs.PrintDefaults()
	}
	var run func() error
	switch os.Args[1] {
	case "generate":
		var cfg refserver.GenerateConfig
		cfg.RegisterFlags(fs)
		run = func() error { return refserver.Generate(ctx, cfg, os.Stdout, os.Stderr) }
	case "bench":
		var cfg refserver.BenchConfig
		cfg.RegisterFlags(fs)
		run = func() error { return refserver.Bench(ctx, cfg, os.Stdout) }
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "refserver: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	fs.Parse(os.Args[2:])
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "refserver:", err)
		os.Exit(1)
	}
}
