// Package loadgen is `llmbench run`: it runs a k6-style scenario script
// with the executors of its options, measures every LLM request, writes the
// run folder (run.json, requests.jsonl, summary.json), checks the
// thresholds and prints the end-of-test summary.
package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/llmbench/llmbench/telemetry"
)

// Exit codes, as k6 uses them, so that CI gates work the same way.
const (
	ExitOK             = 0
	ExitThresholds     = 99  // a threshold failed (also when it aborted the run)
	ExitInvalidConfig  = 104 // bad flags or options
	ExitInterrupted    = 105 // stopped by a signal (Ctrl-C) before its end
	ExitScriptError    = 107 // the script could not be loaded, or init/setup threw
	ExitScriptAborted  = 108 // the script called exec.test.abort()
	ExitMarkedFailed   = 110 // the script called exec.test.fail(); the test ran to its end
	ExitGenericFailure = 1   // anything else (the run folder could not be written, ...)
)

// Config is `llmbench run`'s configuration. Its zero value runs Script with
// the script's own options, into runs/, with the OTLP exporter only when
// OTEL_EXPORTER_OTLP_ENDPOINT or --otlp-endpoint says where.
type Config struct {
	Script string // the scenario script (.js)

	Env      envFlag // -e KEY=VALUE: __ENV entries, over the process environment
	NoSysEnv bool    // leave the process environment out of __ENV
	Tags     envFlag // --tag KEY=VALUE: added to every sample
	VUs      int     // -u: override the options with this many VUs
	Duration time.Duration
	Iter     int64 // -i: override with a shared-iterations count
	RunsDir  string
	Out      string           // the run folder; default RunsDir/<time>-<scenario>
	Segment  string           // --execution-segment, e.g. 1/3:2/3
	Sequence string           // --execution-segment-sequence, e.g. 0,1/3,2/3,1
	Metrics  string           // --metrics-addr: serve the loadgen's own Prometheus metrics here
	Tracing  telemetry.Config // --otlp-endpoint, --trace-sample-ratio: where the llm.request client spans go
	// JaegerQuery and PrometheusURL are recorded in run.json so that
	// `llmbench analyze RUN` finds the traces and series without flags.
	JaegerQuery   string
	PrometheusURL string
	Quiet         bool // no progress line
	NoSummary     bool // no end-of-test summary on stdout
	NoHealth      bool // do not ask the target for /health
	// ModuleCache, Offline and ReloadModules say how remote imports
	// (https://...) are found: see script.Imports.
	ModuleCache   string
	Offline       bool
	ReloadModules bool
	// ServerKind names the target's software for run.json, over what
	// llmbench can tell from the outside.
	ServerKind string
}

// RegisterFlags adds the flags of `llmbench run` to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&c.Env, "env", "`KEY=VALUE` for __ENV (repeatable); e.g. -env TARGET=http://127.0.0.1:8000 -env PROTOCOL=openai-chat")
	fs.Var(&c.Env, "e", "short for -env")
	fs.BoolVar(&c.NoSysEnv, "no-system-env", false, "leave the process environment out of __ENV (only -env values)")
	fs.Var(&c.Tags, "tag", "`KEY=VALUE` tag added to every sample (repeatable)")
	fs.IntVar(&c.VUs, "vus", 0, "run this many VUs instead of the script's scenarios (with -duration or -iterations)")
	fs.IntVar(&c.VUs, "u", 0, "short for -vus")
	fs.DurationVar(&c.Duration, "duration", 0, "run the VUs for this long instead of the script's scenarios")
	fs.DurationVar(&c.Duration, "d", 0, "short for -duration")
	fs.Int64Var(&c.Iter, "iterations", 0, "run this many iterations in all (shared-iterations) instead of the script's scenarios")
	fs.Int64Var(&c.Iter, "i", 0, "short for -iterations")
	fs.StringVar(&c.RunsDir, "runs", "runs", "the folder that run folders go into")
	fs.StringVar(&c.Out, "out", "", "the run folder (default: <runs>/<date>-<time>-<scenario>)")
	fs.StringVar(&c.Segment, "execution-segment", "", "run only this part of the load, e.g. 1/3:2/3 or 50%:100% (for distributed load)")
	fs.StringVar(&c.Sequence, "execution-segment-sequence", "", "all the segments' boundaries, e.g. 0,1/3,2/3,1, so that parts split consistently")
	fs.StringVar(&c.Metrics, "metrics-addr", "", "serve the load generator's own Prometheus metrics on this `host:port` (e.g. 127.0.0.1:9465)")
	c.Tracing.RegisterFlags(fs, "llmbench")
	fs.StringVar(&c.JaegerQuery, "jaeger", "", "Jaeger's gRPC query `host:port`, recorded in run.json for llmbench analyze (the spans go to --otlp-endpoint)")
	fs.StringVar(&c.PrometheusURL, "prometheus", "", "the `URL` of the Prometheus that scrapes the target, recorded in run.json for llmbench analyze")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line (it is off anyway when stderr is not a terminal)")
	fs.BoolVar(&c.Quiet, "q", false, "short for -quiet")
	fs.BoolVar(&c.NoSummary, "no-summary", false, "do not print the end-of-test summary")
	fs.BoolVar(&c.NoHealth, "no-health", false, "do not ask the target for GET /health at the start")
	fs.StringVar(&c.ModuleCache, "module-cache", "", "the `folder` where remote imports (https://...) are cached (default $LLMBENCH_MODULE_CACHE, else ~/.cache/llmbench/modules)")
	fs.BoolVar(&c.Offline, "offline", false, "never fetch remote imports: use the module cache, then llmbench's built-in k6-utils and k6-summary")
	fs.BoolVar(&c.ReloadModules, "reload-modules", false, "fetch remote imports again even when cached")
	fs.StringVar(&c.ServerKind, "server-kind", "", "what the target is, for run.json and the report: refserver, llama.cpp, vllm, tgi, openai or any name (default: identified from its headers, /health and /v1/models)")
}

// Validate checks the flags that can be checked without the script.
func (c *Config) Validate() error {
	var errs []error
	if c.Script == "" {
		errs = append(errs, errors.New("no script: llmbench run [flags] script.js"))
	}
	if c.VUs < 0 || c.Iter < 0 || c.Duration < 0 {
		errs = append(errs, errors.New("-vus, -iterations and -duration must not be negative"))
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// envFlag is a repeatable KEY=VALUE flag.
type envFlag map[string]string

func (f *envFlag) String() string {
	if f == nil {
		return ""
	}
	var parts []string
	for k, v := range *f {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (f *envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	if *f == nil {
		*f = map[string]string{}
	}
	(*f)[k] = v
	return nil
}
