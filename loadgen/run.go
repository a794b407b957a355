package loadgen

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/loadgen/executor"
	"github.com/llmbench/llmbench/loadgen/llm"
	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/loadgen/output"
	"github.com/llmbench/llmbench/loadgen/script"
	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// Version is written into run.json.
var Version = "dev"

// Result is what a run ended with.
type Result struct {
	Dir      string // the run folder
	Exit     int    // the process exit code (see the Exit constants)
	Summary  *runfmt.Summary
	Requests int64
}

// runState is one run in progress.
type runState struct {
	cfg      Config
	stdout   io.Writer
	stderr   io.Writer
	prog     *script.Program
	env      *script.Env
	reg      *metrics.Registry
	checks   *metrics.Checks
	rec      *recorder
	log      *runfmt.RequestLog
	run      *runfmt.Run
	dir      string
	setup    string // setup()'s data as JSON
	scen     map[string]executor.Scenario
	live     *liveStats
	errs     errorLog
	abortMsg atomic.Pointer[string]
	// failMsg is the first exec.test.fail() reason: the run goes on and
	// exits ExitMarkedFailed.
	failMsg atomic.Pointer[string]
	// progress is each scenario's exec.scenario.progress.
	progress map[string]*scenarioProgress
	// series gathers the time series, written each second to
	// timeseries.jsonl (and given to Config.OnInterval).
	series    seriesCollector
	seriesLog *runfmt.TimeSeriesLog
	// stopRun, once the scenarios may start, stops them: test.abort()
	// calls it at once, as k6 stops the test when abort() is called.
	stopRun atomic.Pointer[context.CancelCauseFunc]
	// startedAt is r.start for the VUs' goroutines (exec.instance).
	startedAt atomic.Pointer[time.Time]
	thAbort   atomic.Pointer[string]
	start     time.Time
	// writeErr is the first write of the run folder that failed in
	// finish (a full disk): the run then exits ExitGenericFailure.
	writeErr error
}

// Run runs cfg.Script to its end (or until ctx is cancelled, which stops it
// gracefully) and writes the run folder. The error is for what prevented a
// run folder; what happened in the run is in Result.Exit and on stderr.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	// The exporter's warnings, the script's console, the error log and the
	// progress line all write to stderr, from their own goroutines.
	stderr = &lockedWriter{w: stderr}
	r := &runState{cfg: cfg, stdout: stdout, stderr: stderr, live: newLiveStats()}
	r.errs.w = stderr
	prog, err := script.LoadWith(cfg.Script, script.Imports{Cache: cfg.ModuleCache, Offline: cfg.Offline, Reload: cfg.ReloadModules, Log: stderr})
	if err != nil {
		return &Result{Exit: ExitScriptError}, err
	}
	r.prog = prog
	r.reg, r.checks = metrics.NewRegistry(), &metrics.Checks{}
	r.rec = newRecorder(r.reg, r.checks)
	if err := r.rec.builtin(); err != nil {
		return &Result{Exit: ExitGenericFailure}, err
	}
	tr, err := telemetry.Setup(ctx, cfg.Tracing, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(fctx)
	}()
	tok, err := bpe.New()
	if err != nil {
		return &Result{Exit: ExitGenericFailure}, err
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections() // the run's own; the server sees them end
	r.env = &script.Env{
		Program: prog, Vars: cfg.vars(), Recorder: r.rec, HTTPClient: hc,
		TracerProvider: tr.Provider, Log: stderr, Tags: cfg.Tags, Tokens: tokenCounter{tok},
		OnLLM: r.live.observe, InFlight: &r.live.inflight, HTTPDebug: string(cfg.HTTPDebug),
	}
	if cfg.ConsoleOutput != "" {
		f, err := os.OpenFile(cfg.ConsoleOutput, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("--console-output: %w", err)
		}
		defer f.Close()
		r.env.Console = f
	}
	r.env.Instance = func() script.Instance {
		in := script.Instance{
			IterationsCompleted: r.live.iters.Load(), IterationsInterrupted: r.live.interrupted.Load(),
			VUsActive: r.live.vus.Load(), VUsInitialized: r.live.vusMax.Load(),
		}
		if start := r.startedAt.Load(); start != nil {
			in.Duration = time.Since(*start)
		}
		return in
	}
	r.env.Abort = func(reason string) {
		if reason == "" {
			reason = "test.abort()"
		}
		r.abortMsg.CompareAndSwap(nil, &reason)
		if stop := r.stopRun.Load(); stop != nil {
			(*stop)(errors.New(reason))
		}
	}

	r.env.Fail = func(reason string) {
		if reason == "" {
			reason = "test.fail()"
		}
		r.failMsg.CompareAndSwap(nil, &reason)
	}

	// The init context, once, for the options (as k6 does).
	initVU, err := script.NewVU(ctx, r.env, 0)
	if err != nil {
		return &Result{Exit: ExitScriptError}, err
	}
	opts, err := initVU.Options()
	if err != nil {
		return &Result{Exit: ExitScriptError}, err
	}
	opts, err = cfg.override(opts)
	if err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	var o scriptOptions
	if err := json.Unmarshal(opts, &o); err != nil {
		return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("options: %w", err)
	}
	if err := o.durations(); err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	warnOptions(stderr, opts)
	if err := o.apply(r.env, hc); err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	scenarios, err := executor.ParseOptions(opts)
	if err != nil {
		return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("options: %w", err)
	}
	seg, err := executor.ParseSegment(cfg.Segment, cfg.Sequence)
	if err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	r.scen = map[string]executor.Scenario{}
	for _, s := range scenarios {
		if s.Exec != "default" && s.Exec != "" && !initVU.Has(s.Exec) {
			return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("scenario %s: exec %q: the script exports no such function (it exports %s)", s.Name, s.Exec, strings.Join(initVU.Exports(), ", "))
		}
		if (s.Exec == "" || s.Exec == "default") && !initVU.Has("default") {
			return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("scenario %s: the script has no `export default function` (and no exec for the scenario)", s.Name)
		}
		r.scen[s.Name] = s
	}
	r.progress = map[string]*scenarioProgress{}
	for _, s := range scenarios {
		r.progress[s.Name] = &scenarioProgress{s: s, start: func() time.Time { return r.start.Add(s.StartTime) }}
	}
	if r.env.Options, err = consolidatedOptions(opts, scenarios); err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	ths, err := threshold.Parse(o.Thresholds)
	if err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	for _, t := range ths {
		if err := r.reg.Track(t.Metric); err != nil {
			return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("thresholds: %w", err)
		}
	}
	if err := threshold.Validate(ths, r.reg.TypeOf); err != nil {
		return &Result{Exit: ExitInvalidConfig}, err
	}
	if len(cfg.Outputs) > 0 {
		var specs []output.Spec
		for _, o := range cfg.Outputs {
			spec, _ := output.ParseSpec(o) // Validate checked it
			specs = append(specs, spec)
		}
		byMetric := map[string][]string{}
		for _, t := range ths {
			byMetric[t.Metric] = append(byMetric[t.Metric], t.Expr)
		}
		fan, err := output.NewFanout(specs, byMetric, os.Getenv)
		if err != nil {
			return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("--out: %w", err)
		}
		r.rec.out = fan
		defer r.closeOutputs()
	}

	// The run folder.
	if held := runFiles(cfg.Out); len(held) > 0 {
		return &Result{Exit: ExitInvalidConfig}, fmt.Errorf("--run-dir %s already holds a run (%s): a new run would replace its records; give a new folder, or leave --run-dir out (runs then go to %s/<date>-<time>-<scenario>)",
			cfg.Out, strings.Join(held, ", "), cmp.Or(cfg.RunsDir, "runs"))
	}
	if err := r.createRun(ctx, opts, o); err != nil {
		return &Result{Exit: ExitGenericFailure}, err
	}
	r.env.Requests = r.log
	fmt.Fprintf(stderr, "llmbench: running %s -> %s\n", cfg.Script, r.dir)

	var metricsSrv *http.Server
	if cfg.Metrics != "" {
		metricsSrv, err = r.serveMetrics(cfg.Metrics)
		if err != nil {
			r.finish(ctx, runfmt.StatusError, err.Error(), o, ths)
			return &Result{Dir: r.dir, Exit: ExitInvalidConfig}, err
		}
		defer metricsSrv.Close()
	}

	exit := r.execute(ctx, initVU, scenarios, seg, o, ths)
	res := &Result{Dir: r.dir, Exit: exit, Requests: r.log.Count()}
	res.Summary, _ = runfmt.ReadSummary(r.dir)
	return res, nil
}

// execute runs setup, the scenarios and teardown, then the summary. It
// returns the exit code.
func (r *runState) execute(ctx context.Context, initVU *script.VU, scenarios []executor.Scenario, seg executor.Segment, o scriptOptions, ths []threshold.Threshold) int {
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	r.stopRun.Store(&stopRun)

	// As in k6: the VUs are initialized first, then setup() runs, then the
	// scenarios start with the VUs ready.
	pool := r.newVUPool()
	prep, err := executor.Prepare(runCtx, scenarios, pool, seg)
	if err != nil {
		status, exit := runfmt.StatusError, ExitScriptError
		if ctx.Err() != nil {
			status, exit = runfmt.StatusInterrupted, ExitInterrupted
		}
		fmt.Fprintf(r.stderr, "llmbench: %v\n", err)
		r.finish(ctx, status, err.Error(), o, ths)
		return exit
	}

	setupCtx, cancel := context.WithTimeout(runCtx, o.setupTimeout())
	var data string
	if !r.cfg.NoSetup {
		data, err = initVU.Setup(setupCtx)
	}
	cancel()
	if err != nil && r.abortMsg.Load() != nil {
		// test.abort() in setup(): aborted (108), not a script error.
		msg := *r.abortMsg.Load()
		fmt.Fprintf(r.stderr, "llmbench: %s (test.abort() in setup())\n", msg)
		r.finish(ctx, runfmt.StatusAborted, msg, o, ths)
		return ExitScriptAborted
	}
	if err != nil {
		fmt.Fprintf(r.stderr, "setup() failed: %v\n", err)
		r.finish(ctx, runfmt.StatusError, "setup(): "+err.Error(), o, ths)
		return ExitScriptError
	}
	r.setup = data

	obs := &observer{r: r}
	r.start = time.Now()
	start := r.start
	r.startedAt.Store(&start)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { r.watch(runCtx, stopRun, done, ths, o) })
	execErr := prep.Run(runCtx, obs)
	close(done)
	wg.Wait()
	r.writeInterval() // the last, partial one

	status, msg, exit := runfmt.StatusFinished, "", ExitOK
	switch {
	case r.thAbort.Load() != nil:
		status, msg, exit = runfmt.StatusAborted, "threshold "+*r.thAbort.Load()+" failed with abortOnFail", ExitThresholds
	case r.abortMsg.Load() != nil:
		status, msg, exit = runfmt.StatusAborted, *r.abortMsg.Load(), ExitScriptAborted
	case ctx.Err() != nil:
		status, msg, exit = runfmt.StatusInterrupted, "interrupted: "+context.Cause(ctx).Error(), ExitInterrupted
	case execErr != nil:
		status, msg, exit = runfmt.StatusError, execErr.Error(), ExitGenericFailure
	}
	// teardown() runs after an aborted test too: "Aborting the test will
	// not prevent the teardown() execution"
	// (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/).
	if (exit == ExitOK || exit == ExitThresholds || exit == ExitScriptAborted) && !r.cfg.NoTeardown {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.teardownTimeout())
		if err := initVU.Teardown(tctx, r.setup); err != nil {
			fmt.Fprintf(r.stderr, "teardown() failed: %v\n", err)
		}
		cancel()
	}
	sum := r.finish(ctx, status, msg, o, ths)
	if r.cfg.SummaryExport != "" && sum != nil {
		if err := writeSummaryExport(r.cfg.SummaryExport, sum); err != nil {
			fmt.Fprintf(r.stderr, "llmbench: --summary-export: %v\n", err)
		}
	}
	if msg != "" {
		fmt.Fprintf(r.stderr, "llmbench: %s\n", msg)
	}
	if r.errs.total.Load() > 0 {
		fmt.Fprintf(r.stderr, "llmbench: %d iterations ended with an error (first ones above)\n", r.errs.total.Load())
	}
	r.printSummary(ctx, initVU, sum, metrics.TextOptions{
		Color: isTerminal(r.stdout) && !r.cfg.NoColor, TrendStats: o.SummaryTrendStats, TimeUnit: o.SummaryTimeUnit,
	})
	if exit == ExitOK && !sum.ThresholdsOK {
		exit = ExitThresholds
	}
	if exit == ExitOK && r.writeErr != nil {
		exit = ExitGenericFailure
	}
	if exit == ExitOK && r.failMsg.Load() != nil {
		// https://grafana.com/docs/k6/latest/javascript-api/k6-execution/#test:
		// test.fail() marks the test as failed, exit code 110.
		fmt.Fprintf(r.stderr, "llmbench: the script marked the test as failed: %s\n", *r.failMsg.Load())
		exit = ExitMarkedFailed
	}
	fmt.Fprintf(r.stderr, "llmbench: run folder %s (%d requests)\n", r.dir, r.log.Count())
	return exit
}

// watch shows progress and evaluates abortOnFail thresholds while the
// executors run.
func (r *runState) watch(ctx context.Context, stop context.CancelCauseFunc, done <-chan struct{}, ths []threshold.Threshold, o scriptOptions) {
	prog := newProgress(r.stderr, r.cfg.Quiet)
	defer prog.clear()
	eval := threshold.NewEvaluator(ths)
	hasAbort := false
	for _, t := range ths {
		hasAbort = hasAbort || t.AbortOnFail
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		prog.show(r.progressLine())
		r.writeInterval()
		if r.abortMsg.Load() != nil {
			stop(errors.New(*r.abortMsg.Load()))
			return
		}
		if hasAbort && n%2 == 0 {
			now := time.Now()
			res := eval.Evaluate(r.reg.Summary(r.start, now, o.trendStats(ths)), now.Sub(r.start))
			if res.Abort != nil {
				key := res.Abort.String()
				r.thAbort.Store(&key)
				stop(fmt.Errorf("threshold %s failed (abortOnFail)", key))
				return
			}
		}
	}
}

// writeInterval closes one interval of the time series: it goes to
// timeseries.jsonl and to Config.OnInterval.
func (r *runState) writeInterval() {
	iv := r.series.interval(time.Now(), r.start, r.live)
	if r.seriesLog != nil {
		if err := r.seriesLog.Append(iv); err != nil && r.writeErr == nil {
			r.writeErr = err
			fmt.Fprintf(r.stderr, "llmbench: write %s: %v\n", runfmt.TimeSeriesFile, err)
		}
	}
	if f := r.cfg.OnInterval; f != nil {
		f(iv)
	}
}

// closeOutputs flushes the --out outputs and says what they got.
func (r *runState) closeOutputs() {
	written, dropped, err := r.rec.out.Close()
	fmt.Fprintf(r.stderr, "llmbench: outputs %s: %d samples", strings.Join(r.cfg.Outputs, ", "), written)
	if dropped > 0 {
		fmt.Fprintf(r.stderr, ", %d dropped (the outputs could not keep up; the run's own results are complete)", dropped)
	}
	fmt.Fprintln(r.stderr)
	if err != nil {
		fmt.Fprintf(r.stderr, "llmbench: %v\n", err)
	}
}

// runFiles lists the run-folder files that dir already holds when it holds
// a run (its run.json, which a run writes first and a merge last): a run
// recorded there, which --run-dir and merge must not overwrite. Other
// files (the logs that llmbench demo and nightly put there first, what a
// merge that failed left) do not count.
func runFiles(dir string) []string {
	if dir == "" {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(dir, runfmt.RunFile)); err != nil {
		return nil
	}
	var held []string
	for _, f := range []string{runfmt.RunFile, runfmt.RequestsFile, runfmt.SummaryFile, runfmt.TimeSeriesFile, runfmt.AnalysisFile, runfmt.ReportFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			held = append(held, f)
		}
	}
	return held
}

// newRunDir creates a new folder under runs named base, or base-2,
// base-3, ... when that exists: two runs started in the same second (a CI
// loop) each get their own. Mkdir is atomic, so two processes cannot take
// the same name.
func newRunDir(runs, base string) (string, error) {
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return "", fmt.Errorf("create runs folder: %w", err)
	}
	for i := 1; i <= 1000; i++ {
		dir := filepath.Join(runs, base)
		if i > 1 {
			dir = filepath.Join(runs, fmt.Sprintf("%s-%d", base, i))
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create run folder: %w", err)
		}
	}
	return "", fmt.Errorf("create run folder: %s and its 999 successors exist already", filepath.Join(runs, base))
}

// createRun makes the run folder and writes run.json and an empty
// requests.jsonl.
func (r *runState) createRun(ctx context.Context, opts json.RawMessage, o scriptOptions) error {
	name := strings.TrimSuffix(filepath.Base(r.cfg.Script), filepath.Ext(r.cfg.Script))
	dir := r.cfg.Out
	if dir == "" {
		var err error
		if dir, err = newRunDir(r.cfg.RunsDir, time.Now().Format("20060102-150405")+"-"+name); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create run folder: %w", err)
	}
	host, _ := os.Hostname()
	r.dir = dir
	r.run = &runfmt.Run{
		ID: filepath.Base(dir), Scenario: name, Script: r.cfg.Script, Options: opts, Env: r.cfg.Env,
		Segment: r.cfg.Segment, Sequence: r.cfg.Sequence, Commit: gitCommit(filepath.Dir(r.prog.Path)),
		Host: host, Version: Version, Start: time.Now(), Status: runfmt.StatusRunning,
		Target: r.env.Vars["TARGET"], Protocol: r.env.Vars["PROTOCOL"],
		Jaeger: r.cfg.JaegerQuery, Prometheus: r.cfg.PrometheusURL,
	}
	if t, p := r.env.Target(); t != "" {
		r.run.Target, r.run.Protocol = t, p
	}
	if r.run.Target != "" && !r.cfg.NoHealth {
		kind := r.cfg.ServerKind
		if kind == "" {
			kind = r.env.ServerKind()
		}
		r.run.Server = identify(ctx, r.run.Target, kind)
	}
	if err := runfmt.WriteRun(dir, r.run); err != nil {
		return err
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		return err
	}
	r.log = log
	if r.seriesLog, err = runfmt.CreateTimeSeries(dir); err != nil {
		return err
	}
	r.live.observers = append(r.live.observers, r.series.observe)
	return nil
}

// finish computes the summary, writes summary.json and the final run.json,
// and closes the request log. It returns the summary.
func (r *runState) finish(ctx context.Context, status, msg string, o scriptOptions, ths []threshold.Threshold) *runfmt.Summary {
	end := time.Now()
	start := r.start
	if start.IsZero() {
		start = r.run.Start
	}
	if r.log != nil {
		if r.seriesLog != nil {
			if err := r.seriesLog.Close(); err != nil && r.writeErr == nil {
				r.writeErr = err
			}
		}
		if err := r.log.Close(); err != nil {
			r.writeFailed(err)
		}
		if n, err := r.log.Failed(); n > 0 {
			if cause := errors.Unwrap(err); cause != nil {
				err = cause // each failed append was on stderr already
			}
			r.writeFailed(fmt.Errorf("%d requests could not be recorded in %s: %w", n, runfmt.RequestsFile, err))
		}
	}
	sum := &runfmt.Summary{Start: start, End: end, Duration: end.Sub(start).Seconds()}
	sum.Metrics = r.reg.Summary(start, end, o.trendStats(ths))
	sum.Root = r.checks.Root()
	var failed []threshold.Outcome
	sum.ThresholdsOK, failed = applyThresholds(sum.Metrics, ths, end.Sub(start))
	for _, f := range failed {
		fmt.Fprintf(r.stderr, "llmbench: threshold %s failed", f.Threshold)
		if f.Err != nil {
			fmt.Fprintf(r.stderr, " (%v)", f.Err)
		}
		fmt.Fprintln(r.stderr)
	}
	if k := r.thAbort.Load(); k != nil {
		sum.Aborted = *k
	}
	llm, err := LLMSummary(r.dir, start, end, o.SLO, droppedOf(sum.Metrics))
	if err != nil {
		fmt.Fprintf(r.stderr, "llmbench: summary: %v\n", err)
	}
	sum.LLM = llm
	if err := runfmt.WriteSummary(r.dir, sum); err != nil {
		r.writeFailed(err)
	}
	r.run.End, r.run.Status, r.run.Error = end, status, msg
	if r.writeErr != nil {
		// A full disk: say so where a report or the web UI will look.
		incomplete := "the run folder is incomplete: " + r.writeErr.Error()
		if r.run.Error != "" {
			incomplete = r.run.Error + "; " + incomplete
		}
		r.run.Error = incomplete
	}
	if t, p := r.env.Target(); t != "" && r.run.Target == "" {
		r.run.Target, r.run.Protocol = t, p
	}
	if err := runfmt.WriteRun(r.dir, r.run); err != nil {
		r.writeFailed(err)
	}
	return sum
}

// writeFailed reports a failed write of the run folder and keeps the first.
func (r *runState) writeFailed(err error) {
	fmt.Fprintf(r.stderr, "llmbench: %v\n", err)
	if r.writeErr == nil {
		r.writeErr = err
	}
}

// printSummary prints the end-of-test summary, or runs handleSummary.
func (r *runState) printSummary(ctx context.Context, vu *script.VU, sum *runfmt.Summary, text metrics.TextOptions) {
	data, err := handleSummaryData(sum, r.run)
	if err != nil {
		fmt.Fprintf(r.stderr, "llmbench: summary data: %v\n", err)
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	outs, has, err := vu.HandleSummary(hctx, data)
	if err != nil {
		fmt.Fprintf(r.stderr, "handleSummary() failed, printing the default summary: %v\n", err)
		has = false
	}
	if !has {
		if !r.cfg.NoSummary {
			if err := metrics.WriteText(r.stdout, sum, text); err != nil {
				fmt.Fprintf(r.stderr, "llmbench: summary: %v\n", err)
			}
			metrics.WriteLLMText(r.stdout, sum.LLM)
		}
		return
	}
	for name, content := range outs {
		switch name {
		case "stdout":
			io.WriteString(r.stdout, content)
		case "stderr":
			io.WriteString(r.stderr, content)
		default:
			// As in k6, a relative path is relative to the working
			// directory, not to the run folder, whose files stay ours.
			err := os.MkdirAll(filepath.Dir(name), 0o755)
			if err == nil {
				err = runfmt.WriteFile(name, []byte(content))
			}
			if err != nil {
				fmt.Fprintf(r.stderr, "handleSummary(): write %s: %v\n", name, err)
			}
		}
	}
}

func gitCommit(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = llm.NewDialer().DialContext // the kernel's receive stamps time the streamed events
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 100000
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1, as load tests of one connection per VU expect
	return &http.Client{Transport: tr}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tokenCounter counts GPT-2 tokens client-side.
type tokenCounter struct{ t *bpe.Tokenizer }

func (c tokenCounter) Count(s string) int { return len(c.t.Encode(s)) }

// vars is __ENV: the process environment (unless NoSysEnv), then -env.
func (c *Config) vars() map[string]string {
	v := map[string]string{}
	if !c.NoSysEnv && (!c.opts.includeSystemEnv.set || c.opts.includeSystemEnv.v) {
		for _, kv := range os.Environ() {
			if k, val, ok := strings.Cut(kv, "="); ok {
				v[k] = val
			}
		}
	}
	for k, val := range c.Env {
		v[k] = val
	}
	return v
}
