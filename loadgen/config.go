// Package loadgen is `llmbench run`: it runs a k6-style scenario script
// with the executors of its options, measures every LLM request, writes the
// run folder (run.json, requests.jsonl, summary.json), checks the
// thresholds and prints the end-of-test summary.
package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/loadgen/executor"
	"github.com/llmbench/llmbench/loadgen/output"
	"github.com/llmbench/llmbench/runfmt"
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
	Iter     int64     // -i: override with a shared-iterations count
	Stages   stageFlag // -s: override with one ramping-vus scenario of these stages
	RunsDir  string
	Out      string           // the run folder (--run-dir); default RunsDir/<time>-<scenario>
	Outputs  listFlag         // -o/--out: k6 outputs (json=FILE, csv=FILE, ...)
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
	NoColor       bool // no colours in the summary
	NoHealth      bool // do not ask the target for /health
	// SummaryExport writes k6's --summary-export JSON to this file;
	// ConsoleOutput sends the script's console to this file.
	SummaryExport string
	ConsoleOutput string
	// NoSetup, NoTeardown and NoThresholds skip setup(), teardown() and
	// the thresholds, as k6's flags of those names do.
	NoSetup, NoTeardown, NoThresholds bool
	// HTTPDebug logs k6/http's requests and responses: "headers" or
	// "full" (bodies too); "" none.
	HTTPDebug httpDebugFlag
	// The flags that set k6 options, over the script's: see options().
	opts optionFlags
	// ModuleCache, Offline and ReloadModules say how remote imports
	// (https://...) are found: see script.Imports.
	ModuleCache   string
	Offline       bool
	ReloadModules bool
	// ServerKind names the target's software for run.json, over what
	// llmbench can tell from the outside.
	ServerKind string
	// OnInterval, when set, is given each interval of the time series as
	// it closes, once a second (the live dashboard); it must be quick.
	OnInterval func(*runfmt.Interval)
	// Dashboard and DashboardAddr ask for the live dashboard (--dashboard,
	// -o web-dashboard, or K6_WEB_DASHBOARD=true) and say where it
	// listens; Linger keeps it up after the run until Ctrl-C. The command
	// wires the dashboard (package web) to OnInterval: loadgen only reads
	// the flags.
	Dashboard     bool
	DashboardAddr string
	Linger        bool
}

// DashboardWanted reports whether the live dashboard was asked for, by a
// flag or by k6's K6_WEB_DASHBOARD environment variable, and where it
// should listen (K6_WEB_DASHBOARD_HOST and _PORT, as k6 reads them, over
// the default 127.0.0.1:5665).
func (c *Config) DashboardWanted(getenv func(string) string) (bool, string) {
	on := c.Dashboard
	if v, err := strconv.ParseBool(getenv("K6_WEB_DASHBOARD")); err == nil && v {
		on = true
	}
	addr := c.DashboardAddr
	if addr == "" {
		host, port := getenv("K6_WEB_DASHBOARD_HOST"), getenv("K6_WEB_DASHBOARD_PORT")
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "5665"
		}
		addr = net.JoinHostPort(host, port)
	}
	return on, addr
}

// optionFlags are the flags that set a k6 option, as k6's do; nil (or
// "") leaves the script's.
type optionFlags struct {
	userAgent, summaryTrendStats, summaryTimeUnit, minIterationDuration    optString
	throw, insecureSkipTLSVerify, discardResponseBodies, noConnectionReuse optBool
	maxRedirects, batch, batchPerHost                                      optInt
	includeSystemEnv                                                       optBool
}

// RegisterFlags adds the flags of `llmbench run` to fs, with k6's names
// (long and short) where k6 has the flag, and sets fs.Usage to list them
// in groups, as `k6 run --help` does.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	o := &c.opts
	// Execution.
	fs.IntVar(&c.VUs, "vus", 0, "run this many VUs instead of the script's scenarios (with --duration or --iterations)")
	fs.IntVar(&c.VUs, "u", 0, "short for --vus")
	fs.Var(durationFlag{&c.Duration}, "duration", "run the VUs for this long instead of the script's scenarios: a `duration` such as 90s, 1h30m or 1d, or a number of milliseconds (as k6 reads it)")
	fs.Var(durationFlag{&c.Duration}, "d", "short for --duration")
	fs.Int64Var(&c.Iter, "iterations", 0, "run this many iterations in all (shared-iterations) instead of the script's scenarios")
	fs.Int64Var(&c.Iter, "i", 0, "short for --iterations")
	fs.Var(&c.Stages, "stage", "add a stage, as `DURATION:TARGET` (repeatable): one ramping-vus scenario instead of the script's")
	fs.Var(&c.Stages, "s", "short for --stage")
	fs.StringVar(&c.Segment, "execution-segment", "", "run only this part of the load, e.g. 1/3:2/3 or 50%:100% (for distributed load)")
	fs.StringVar(&c.Sequence, "execution-segment-sequence", "", "all the segments' boundaries, e.g. 0,1/3,2/3,1, so that parts split consistently")
	fs.Var(&o.minIterationDuration, "min-iteration-duration", "the shortest an iteration may be, a `duration` such as 2s (options.minIterationDuration)")
	fs.BoolVar(&c.NoSetup, "no-setup", false, "do not run setup()")
	fs.BoolVar(&c.NoTeardown, "no-teardown", false, "do not run teardown()")
	fs.BoolVar(&c.NoThresholds, "no-thresholds", false, "do not check the thresholds")
	// Script and environment.
	fs.Var(&c.Env, "env", "`KEY=VALUE` for __ENV (repeatable); e.g. -e TARGET=http://127.0.0.1:8000 -e PROTOCOL=openai-chat")
	fs.Var(&c.Env, "e", "short for --env")
	fs.Var(&o.includeSystemEnv, "include-system-env-vars", "pass the process environment to __ENV (default true; =false leaves only --env values)")
	fs.BoolVar(&c.NoSysEnv, "no-system-env", false, "leave the process environment out of __ENV (as --include-system-env-vars=false)")
	fs.Var(&c.Tags, "tag", "`KEY=VALUE` tag added to every sample (repeatable)")
	fs.StringVar(&c.ConsoleOutput, "console-output", "", "write the script's console.log and friends to this `file` instead of stderr")
	fs.StringVar(&c.ModuleCache, "module-cache", "", "the `folder` where remote imports (https://...) are cached (default $LLMBENCH_MODULE_CACHE, else ~/.cache/llmbench/modules)")
	fs.BoolVar(&c.Offline, "offline", false, "never fetch remote imports: use the module cache, then llmbench's built-in k6-utils and k6-summary")
	fs.BoolVar(&c.ReloadModules, "reload-modules", false, "fetch remote imports again even when cached")
	// Requests.
	fs.Var(&o.userAgent, "user-agent", "the User-Agent `string` of k6/http requests (options.userAgent; \"\" sends none)")
	fs.Var(&o.throw, "throw", "a failed request throws (options.throw)")
	fs.Var(&c.HTTPDebug, "http-debug", "log every k6/http request and response on stderr; --http-debug=full adds the bodies")
	fs.Var(&o.insecureSkipTLSVerify, "insecure-skip-tls-verify", "do not verify TLS certificates (options.insecureSkipTLSVerify)")
	fs.Var(&o.discardResponseBodies, "discard-response-bodies", "read and drop response bodies (options.discardResponseBodies)")
	fs.Var(&o.noConnectionReuse, "no-connection-reuse", "a new connection for every request (options.noConnectionReuse)")
	fs.Var(&o.maxRedirects, "max-redirects", "follow at most `n` redirects (options.maxRedirects, default 10)")
	fs.Var(&o.batch, "batch", "at most `n` requests of one http.batch() at once (options.batch, default 10)")
	fs.Var(&o.batchPerHost, "batch-per-host", "at most `n` of them to one host (options.batchPerHost, default 6)")
	// Output.
	fs.Var(&c.Outputs, "out", "send every sample to an `output` as well (repeatable): json=FILE (.gz compresses), csv=FILE")
	fs.Var(&c.Outputs, "o", "short for --out")
	fs.StringVar(&c.SummaryExport, "summary-export", "", "write the end-of-test summary as k6's JSON to this `file`")
	fs.Var(&o.summaryTrendStats, "summary-trend-stats", "the trend `stats` of the summary, e.g. avg,p(95),p(99.9) (options.summaryTrendStats)")
	fs.Var(&o.summaryTimeUnit, "summary-time-unit", "show the summary's times in this `unit`: s, ms or us (options.summaryTimeUnit)")
	fs.BoolVar(&c.NoSummary, "no-summary", false, "do not print the end-of-test summary")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line (it is off anyway when stderr is not a terminal)")
	fs.BoolVar(&c.Quiet, "q", false, "short for --quiet")
	fs.BoolVar(&c.NoColor, "no-color", false, "no colours in the output")
	fs.BoolVar(&c.Dashboard, "dashboard", false, "serve a live dashboard of the run (also -o web-dashboard or K6_WEB_DASHBOARD=true), linking the report at the end")
	fs.StringVar(&c.DashboardAddr, "dashboard-addr", "", "where the dashboard listens, `host:port` (default 127.0.0.1:5665, or K6_WEB_DASHBOARD_HOST/_PORT)")
	fs.BoolVar(&c.Linger, "linger", false, "keep the dashboard up after the run, until Ctrl-C")
	fs.BoolVar(&c.Linger, "l", false, "short for --linger")
	// llmbench.
	fs.StringVar(&c.RunsDir, "runs", "runs", "the `folder` that run folders go into")
	fs.StringVar(&c.Out, "run-dir", "", "the run `folder`, new or without a run in it (default: <runs>/<date>-<time>-<scenario>, then -2, -3, ... if taken)")
	fs.StringVar(&c.Metrics, "metrics-addr", "", "serve the load generator's own Prometheus metrics on this `host:port` (e.g. 127.0.0.1:9465)")
	c.Tracing.RegisterFlags(fs, "llmbench")
	fs.StringVar(&c.JaegerQuery, "jaeger", "", "Jaeger's gRPC query `host:port`, recorded in run.json for llmbench analyze (the spans go to --otlp-endpoint)")
	fs.StringVar(&c.PrometheusURL, "prometheus", "", "the `URL` of the Prometheus that scrapes the target, recorded in run.json for llmbench analyze")
	fs.BoolVar(&c.NoHealth, "no-health", false, "do not ask the target for GET /health and /v1/models at the start")
	fs.StringVar(&c.ServerKind, "server-kind", "", "what the target is, for run.json and the report: refserver, llama.cpp, vllm, tgi, openai or any `name` (default: identified from its headers, /health and /v1/models)")
	fs.Usage = func() { usage(fs) }
}

// flagGroups order `llmbench run -h`, as k6's help groups its flags.
var flagGroups = []struct {
	title string
	names []string
}{
	{"Execution (as k6's)", []string{"vus", "u", "duration", "d", "iterations", "i", "stage", "s", "execution-segment", "execution-segment-sequence", "min-iteration-duration", "no-setup", "no-teardown", "no-thresholds"}},
	{"Script and environment", []string{"env", "e", "include-system-env-vars", "no-system-env", "tag", "console-output", "module-cache", "offline", "reload-modules"}},
	{"Requests (as k6's options)", []string{"user-agent", "throw", "http-debug", "insecure-skip-tls-verify", "discard-response-bodies", "no-connection-reuse", "max-redirects", "batch", "batch-per-host"}},
	{"Output", []string{"out", "o", "summary-export", "summary-trend-stats", "summary-time-unit", "no-summary", "quiet", "q", "no-color", "dashboard", "dashboard-addr", "linger", "l"}},
	{"llmbench", []string{"runs", "run-dir", "metrics-addr", "otlp-endpoint", "otlp-insecure", "trace-sample-ratio", "jaeger", "prometheus", "no-health", "server-kind"}},
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: llmbench run [flags] script.js\n\nRun a k6-style scenario script and write its run folder. Flags may come before or after the script; k6's long and short names work.\n")
	// A one-letter flag whose usage is "short for --long" is listed with
	// its long form, as "-u, --vus".
	short := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, "short for --"); ok && len(f.Name) == 1 {
			short[long] = f.Name
		}
	})
	seen := map[string]bool{}
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, n := range g.names {
			f := fs.Lookup(n)
			if f == nil {
				continue
			}
			seen[n] = true
			if _, isAlias := short[strings.TrimPrefix(f.Usage, "short for --")]; isAlias && len(n) == 1 {
				continue
			}
			printFlag(w, f, short[n])
		}
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			rest = append(rest, f)
		}
	})
	if len(rest) > 0 {
		fmt.Fprintf(w, "\nOther:\n")
		for _, f := range rest {
			printFlag(w, f, "")
		}
	}
}

func printFlag(w io.Writer, f *flag.Flag, short string) {
	name, help := flag.UnquoteUsage(f)
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	line := "  " + dash + f.Name
	if short != "" {
		line = "  -" + short + ", --" + f.Name
	}
	if name != "" {
		line += " " + name
	}
	if def := f.DefValue; def != "" && def != "0" && def != "0s" && def != "false" && def != "[]" {
		help += fmt.Sprintf(" (default %s)", def)
	}
	fmt.Fprintf(w, "%-36s %s\n", line, help)
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
	var outs []string
	for _, o := range c.Outputs {
		if o == "web-dashboard" { // k6's name for the live dashboard
			c.Dashboard = true
			continue
		}
		if _, err := output.ParseSpec(o); err != nil {
			errs = append(errs, err)
		}
		outs = append(outs, o)
	}
	c.Outputs = outs
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

// listFlag is a repeatable string flag.
type listFlag []string

func (f *listFlag) String() string     { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }

// durationFlag is a duration flag read as k6 reads durations
// (executor.ParseDuration): "90s", "1d12h", or a number of milliseconds.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := executor.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*f.d = d
	return nil
}

// stageFlag is -s DURATION:TARGET, repeatable.
type stageFlag []string

func (f *stageFlag) String() string { return strings.Join(*f, ",") }

func (f *stageFlag) Set(s string) error {
	d, target, ok := strings.Cut(s, ":")
	if !ok {
		// k6 takes "30s" alone as a stage that keeps the last target.
		target = ""
	}
	if v, err := executor.ParseDuration(d); err != nil || v < 0 {
		return fmt.Errorf("%q: want DURATION:TARGET, e.g. 30s:10", s)
	}
	if target != "" {
		if n, err := strconv.Atoi(target); err != nil || n < 0 {
			return fmt.Errorf("%q: the target must be a whole number of VUs", s)
		}
	}
	*f = append(*f, s)
	return nil
}

// optString, optBool and optInt are flags that remember whether they were
// given, so that only those set a k6 option.
type optString struct {
	v   string
	set bool
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(s string) error { o.v, o.set = s, true; return nil }

type optBool struct {
	v, set bool
}

func (o *optBool) String() string   { return strconv.FormatBool(o.v) }
func (o *optBool) IsBoolFlag() bool { return true }
func (o *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q: want true or false", s)
	}
	o.v, o.set = v, true
	return nil
}

type optInt struct {
	v   int
	set bool
}

func (o *optInt) String() string { return strconv.Itoa(o.v) }
func (o *optInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want a whole number, 0 or more", s)
	}
	o.v, o.set = v, true
	return nil
}

// httpDebugFlag is --http-debug (headers) or --http-debug=full.
type httpDebugFlag string

func (f *httpDebugFlag) String() string   { return string(*f) }
func (f *httpDebugFlag) IsBoolFlag() bool { return true }
func (f *httpDebugFlag) Set(s string) error {
	switch s {
	case "true", "headers":
		*f = "headers"
	case "full":
		*f = "full"
	case "false", "":
		*f = ""
	default:
		return fmt.Errorf("%q: want --http-debug or --http-debug=full", s)
	}
	return nil
}
