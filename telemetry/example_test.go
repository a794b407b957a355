package telemetry_test

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/llmbench/llmbench/telemetry"
)

// Setup with the flags a command registers; the provider is passed on to
// whatever makes spans (otelhttp.WithTracerProvider, the engine).
func ExampleSetup() {
	var cfg telemetry.Config
	fs := flag.NewFlagSet("refserver", flag.ExitOnError)
	cfg.RegisterFlags(fs, "refserver")
	fs.Parse([]string{"--otlp-endpoint", "127.0.0.1:4317", "--trace-sample-ratio", "0.5"})
	if err := cfg.Validate(); err != nil {
		panic(err)
	}

	ctx := context.Background()
	tr, err := telemetry.Setup(ctx, cfg, slog.Default())
	if err != nil {
		panic(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr.Shutdown(ctx)
	}()

	_, span := tr.Provider.Tracer("refserver").Start(ctx, "tokenize_input")
	span.End()
}
