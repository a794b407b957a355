// Package nightly is `llmbench nightly`: it runs a suite of scenario
// scripts against one or more targets, analyzes each run and writes its
// report, records the key metrics in the run history, and flags the
// metrics that regressed against the recent nights, knowing their noise.
// With a cron schedule it runs as a long-lived scheduler instead of once.
//
// The parts are pure where they can be: the suite file (LoadSuite), the
// detector (Detector.Detect, Judge) and the cron expressions (ParseCron,
// Cron.Next) do no I/O; Schedule takes its clock and its run function as
// arguments. Run ties them to the load generator, the analyzer, the report
// generator and the run index.
//
// Each night writes, per scenario × target, a run folder
// RUNS/<night>-<suite>-<scenario>-<target>/ with the usual run files, and
// nightly.json (Record) with the verdict, which the web UI reads to mark
// regressions.
package nightly

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// Exit codes of `llmbench nightly`. When several apply, the lowest
// non-zero one wins: a regression outranks a failed run, which outranks a
// missed SLO.
const (
	ExitOK         = 0
	ExitError      = 1 // the night could not run at all (runs folder unwritable, interrupted)
	ExitConfig     = 2 // bad flags or suite file
	ExitRegression = 3 // at least one metric of one run regressed
	ExitFailed     = 4 // a run failed (script error, target down): no numbers, no verdict
	ExitSLO        = 5 // a run missed one of its SLOs
)

// nightLayout is the format of a night: YYYY-MM-DD.
const nightLayout = "2006-01-02"

// Config is `llmbench nightly`'s configuration. Its zero value, with
// Suite set, runs the suite once, for today's date, into runs/, with
// client-only analysis.
type Config struct {
	Suite string // the suite file, e.g. scenarios/nightly.json
	Runs  string // the runs folder; default "runs"
	// Night is the night's date, YYYY-MM-DD; default today (local time).
	// A night that ran already is run again, replacing its run folders.
	Night string
	// Schedule, a 5-field cron expression such as "0 2 * * *", makes Run a
	// scheduler: it runs the suite at each matching time until its context
	// is done, and a failed night does not stop it.
	Schedule string
	// Jaeger (gRPC query host:port) and Prometheus (URL) are given to the
	// analyzer and recorded in run.json; without them the analysis uses
	// the client's records only.
	Jaeger     string
	Prometheus string
	// Tracing says where the load generator's client spans go (OTLP).
	Tracing telemetry.Config
	// Report tunes the reports (e.g. the Jaeger UI's URL for trace links).
	Report reportgen.Options

	// reports and clock replace the report generator and the system
	// clock in tests.
	reports reporter
	clock   Clock
}

// RegisterFlags adds the flags of `llmbench nightly` to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Suite, "suite", "scenarios/nightly.json", "the suite `file`: scenarios, targets, SLOs and detector settings")
	fs.StringVar(&c.Runs, "runs", "runs", "the folder run folders go into; it holds the history too")
	fs.StringVar(&c.Night, "night", "", "the night's date `YYYY-MM-DD` (default today); a night already run is replaced")
	fs.StringVar(&c.Schedule, "schedule", "", "run as a scheduler at the times of this 5-field `cron` expression, e.g. \"0 2 * * *\", until stopped")
	fs.StringVar(&c.Jaeger, "jaeger", "", "Jaeger's gRPC query `host:port` for the analysis (none: client-only attribution)")
	fs.StringVar(&c.Prometheus, "prometheus", "", "Prometheus' `URL` for the analysis's series")
	c.Tracing.RegisterFlags(fs, "llmbench")
	c.Report.RegisterFlags(fs)
}

// Validate checks the flags that can be checked without the suite file.
func (c *Config) Validate() error {
	var errs []error
	if c.Suite == "" {
		errs = append(errs, errors.New("no suite: llmbench nightly -suite FILE"))
	}
	if c.Night != "" {
		if _, err := time.Parse(nightLayout, c.Night); err != nil {
			errs = append(errs, fmt.Errorf("-night %q: want a date YYYY-MM-DD", c.Night))
		}
		if c.Schedule != "" {
			errs = append(errs, errors.New("-night and -schedule exclude each other: a scheduled night is the day it runs"))
		}
	}
	if c.Schedule != "" {
		if _, err := ParseCron(c.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("-schedule: %w", err))
		}
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Report.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Result is what a night ended with.
type Result struct {
	Night   string
	Records []Record // one per scenario × target, in the suite's order
	Exit    int      // see the Exit constants
}

// Run runs the suite once (or, with cfg.Schedule, at each scheduled time
// until ctx is done) and prints a short text per run to w. The error is
// for what kept a night from running at all; regressions and failed runs
// are in Result.Exit and the records.
func Run(ctx context.Context, cfg Config, w io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return &Result{Exit: ExitConfig}, err
	}
	suite, err := LoadSuite(cfg.Suite)
	if err != nil {
		return &Result{Exit: ExitConfig}, err
	}
	if cfg.Runs == "" {
		cfg.Runs = "runs"
	}
	if cfg.Schedule != "" {
		return &Result{}, runScheduled(ctx, cfg, w)
	}
	night := cmp.Or(cfg.Night, time.Now().Format(nightLayout))
	return runNight(ctx, cfg, suite, night, w)
}

// runScheduled runs the suite at each time of cfg.Schedule until ctx is
// done, when it returns nil. The suite file is read again each night, so
// that edits take effect without a restart.
func runScheduled(ctx context.Context, cfg Config, w io.Writer) error {
	cron, err := ParseCron(cfg.Schedule)
	if err != nil {
		return err
	}
	clock := cfg.clock
	if clock == nil {
		clock = SystemClock{}
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	err = Schedule(ctx, cron, clock, log, func(ctx context.Context, at time.Time) error {
		suite, err := LoadSuite(cfg.Suite)
		if err != nil {
			return err
		}
		res, err := runNight(ctx, cfg, suite, at.Format(nightLayout), w)
		if err != nil {
			return err
		}
		if res.Exit != ExitOK {
			log.Warn("nightly: night done with findings", "night", res.Night, "exit", res.Exit)
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil // stopped: a scheduler's normal end
	}
	return err
}

// night is one run of a suite.
type night struct {
	cfg     Config
	suite   *Suite
	date    string
	hist    historySource
	reports reporter
}

// runNight runs every entry of the suite for one night.
func runNight(ctx context.Context, cfg Config, suite *Suite, date string, w io.Writer) (*Result, error) {
	res := &Result{Night: date}
	if err := os.MkdirAll(cfg.Runs, 0o755); err != nil {
		return &Result{Night: date, Exit: ExitError}, fmt.Errorf("create runs folder: %w", err)
	}
	n := &night{cfg: cfg, suite: suite, date: date, reports: cfg.reports}
	if n.reports == nil {
		n.reports = reportgenReporter{opts: cfg.Report}
	}
	var notes []string
	ix, err := openIndex(ctx, cfg.Runs)
	if err != nil {
		notes = append(notes, fmt.Sprintf("history from the run folders: the run index could not be opened: %v", err))
		n.hist = &folderHistory{dir: cfg.Runs}
	} else {
		defer ix.Close()
		n.hist = ix
	}
	entries := suite.Entries()
	fmt.Fprintf(w, "nightly: suite %s, night %s: %d runs\n", suite.Name, date, len(entries))
	for _, note := range notes {
		fmt.Fprintf(w, "  note: %s\n", note)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			res.Exit = ExitError
			return res, fmt.Errorf("nightly %s: interrupted before %s × %s: %w", date, e.Scenario.Name, e.Target.Name, err)
		}
		rec := n.runEntry(ctx, e)
		res.Records = append(res.Records, rec)
		printRecord(w, cfg.Runs, &rec)
	}
	if ix != nil {
		// Tonight's verdicts into the index, for the web UI's trends.
		if err := ix.sync(ctx); err != nil {
			fmt.Fprintf(w, "  note: the run index was not updated: %v\n", err)
		}
	}
	res.Exit = exitOf(res.Records)
	printTotals(w, res)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("nightly %s: interrupted: %w", date, err)
	}
	return res, nil
}

// runEntry runs one scenario against one target and judges it. It never
// fails: what went wrong is in the record.
func (n *night) runEntry(ctx context.Context, e Entry) Record {
	id := runID(n.date, n.suite.Name, e)
	dir := filepath.Join(n.cfg.Runs, id)
	rec := Record{
		Suite: n.suite.Name, Night: n.date, Scenario: e.Scenario.Name, Target: e.Target.Name,
		URL: e.Target.URL, Run: id, Metrics: []string{},
	}
	fail := func(why string) Record {
		rec.Status, rec.Why = StatusFailed, why
		rec.Created = time.Now().UTC()
		if err := WriteRecord(dir, &rec); err != nil {
			rec.Notes = append(rec.Notes, err.Error())
		}
		return rec
	}
	if err := prepareDir(dir, n.suite.Name, n.date); err != nil {
		rec.Status, rec.Why = StatusFailed, err.Error()
		return rec // the folder is not ours to write into
	}
	logf, err := os.Create(filepath.Join(dir, LogFile))
	if err != nil {
		rec.Status, rec.Why = StatusFailed, fmt.Sprintf("create %s: %v", LogFile, err)
		return rec
	}
	defer logf.Close()

	// The run.
	started := time.Now()
	lcfg := loadgen.Config{
		Script: n.suite.ScriptPath(e.Scenario), Env: entryEnv(e), NoSysEnv: true, Out: dir,
		Quiet: true, NoSummary: true, Tracing: n.cfg.Tracing,
		JaegerQuery: n.cfg.Jaeger, PrometheusURL: n.cfg.Prometheus,
	}
	lres, runErr := loadgen.Run(ctx, lcfg, logf, logf)
	if runErr != nil {
		fmt.Fprintf(logf, "llmbench: %v\n", runErr)
	}
	why, notes := runFailure(dir, lres, runErr)
	rec.Notes = append(rec.Notes, notes...)
	if err := markRun(dir, n.suite.Name, n.date, e, lcfg.Script, started, why); err != nil {
		rec.Notes = append(rec.Notes, err.Error())
	}
	if why != "" {
		return fail(why)
	}
	sum, err := runfmt.ReadSummary(dir)
	if err != nil || sum.LLM == nil {
		return fail(fmt.Sprintf("no summary.json with LLM numbers: %v", err))
	}

	// Analysis and report: useful, not needed for the verdict.
	acfg := analyzer.Config{Run: dir, Jaeger: n.cfg.Jaeger, Prometheus: n.cfg.Prometheus, Quiet: true}
	if _, err := analyzer.Analyze(ctx, acfg, logf); err != nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("analysis: %v", err))
	}
	if path, err := n.reports.Write(ctx, dir); err != nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("report: %v", err))
	} else {
		rec.Report = filepath.Base(path)
	}

	// The verdict.
	det := n.suite.Detector.withDefaults()
	b, err := loadBaseline(ctx, n.hist, n.cfg.Runs, n.suite.Name, n.date, e, det.Metrics)
	if err != nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("history: %v", err))
		b = &baseline{values: map[string][]float64{}}
	}
	tonight, _ := readRequests(dir)
	var lastGood []*runfmt.Request
	if b.lastGood != "" {
		rec.BaselineRun, rec.BaselineNight = b.lastGoodRun, b.lastGoodNight
		lastGood, _ = readRequests(b.lastGood)
	}
	for _, name := range det.Metrics {
		m, _ := lookupMetric(name) // the suite was validated
		v, ok := m.value(sum.LLM)
		if !ok {
			v = math.NaN()
		}
		rec.Verdicts = append(rec.Verdicts, det.Detect(Observation{
			Metric: name, Tonight: v, Sample: m.sample(tonight), History: b.values[name],
			LastGood: m.sample(lastGood), LastGoodNight: b.lastGoodNight,
		}))
	}
	rec.Regression, rec.Why = Judge(rec.Verdicts)
	switch {
	case rec.Regression:
		rec.Status = StatusRegression
		for _, v := range rec.Verdicts {
			if v.Regression {
				rec.Metrics = append(rec.Metrics, v.Metric)
			}
		}
	case !slices.ContainsFunc(rec.Verdicts, func(v Verdict) bool { return v.Status != VerdictNoBaseline && v.Status != VerdictNoData }):
		rec.Status = StatusNoBaseline // not one metric could be judged
	default:
		rec.Status = StatusOK
	}
	rec.SLOs, rec.SLOMissed = checkSLOs(e.SLOs, sum.LLM)
	if rec.Regression && b.lastGood != "" {
		if err := n.reports.WriteCompare(ctx, b.lastGood, dir, filepath.Join(dir, CompareFile)); err != nil {
			rec.Notes = append(rec.Notes, fmt.Sprintf("compare report: %v", err))
		} else {
			rec.Compare = CompareFile
		}
	}
	rec.Created = time.Now().UTC()
	if err := WriteRecord(dir, &rec); err != nil {
		rec.Notes = append(rec.Notes, err.Error())
	}
	return rec
}

// prepareDir makes the run folder. A folder left by an earlier run of the
// same suite and night is emptied; any other existing folder is refused.
func prepareDir(dir, suite, night string) error {
	_, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("run folder: %w", err)
	default:
		ours := false
		if run, err := runfmt.ReadRun(dir); err == nil && run.Suite == suite && run.Night == night {
			ours = true
		} else if _, err := os.Stat(filepath.Join(dir, LogFile)); err == nil {
			ours = true // a run of ours cut short before its run.json was marked
		} else if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
			ours = true
		}
		if !ours {
			return fmt.Errorf("run folder %s exists and is not suite %s's run of %s: not touching it", dir, suite, night)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("replace run folder: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create run folder: %w", err)
	}
	return nil
}

// entryEnv is the run's __ENV: the scenario's values, the target's, then
// TARGET and PROTOCOL.
func entryEnv(e Entry) map[string]string {
	env := map[string]string{}
	for k, v := range e.Scenario.Env {
		env[k] = v
	}
	for k, v := range e.Target.Env {
		env[k] = v
	}
	env["TARGET"] = e.Target.URL
	env["PROTOCOL"] = cmp.Or(e.Target.Protocol, "generate")
	return env
}

// runFailure says why a run gave no numbers to judge ("" when it did),
// with notes on what went wrong without spoiling the numbers.
func runFailure(dir string, res *loadgen.Result, err error) (why string, notes []string) {
	if err != nil {
		return "the run could not start: " + err.Error(), nil
	}
	switch res.Exit {
	case loadgen.ExitOK:
	case loadgen.ExitThresholds:
		notes = append(notes, "a threshold of the script failed (see summary.json)")
	default:
		msg := fmt.Sprintf("the run ended with exit code %d", res.Exit)
		if run, err := runfmt.ReadRun(dir); err == nil && run.Error != "" {
			msg += ": " + run.Error
		}
		return msg, notes
	}
	var n, failed int
	var first string
	for r, err := range runfmt.Requests(dir) {
		if err != nil {
			continue
		}
		n++
		if !r.OK {
			failed++
			if first == "" {
				first = cmp.Or(r.ErrorClass, "error") + ": " + r.Error
			}
		}
	}
	switch {
	case n == 0:
		return "no LLM request was made", notes
	case failed == n:
		return fmt.Sprintf("all %d requests failed (target down?); the first: %s", n, first), notes
	}
	return "", notes
}

// markRun records the suite and the night in run.json, so that the
// history can be rebuilt from the run folders. A run that failed before
// it wrote run.json gets a minimal one with its error, so that the folder
// is a run the index lists, not a broken folder.
func markRun(dir, suite, date string, e Entry, script string, started time.Time, why string) error {
	run, err := runfmt.ReadRun(dir)
	if err != nil {
		run = &runfmt.Run{
			ID: filepath.Base(dir), Scenario: strings.TrimSuffix(filepath.Base(script), filepath.Ext(script)), Script: script,
			Target: e.Target.URL, Protocol: cmp.Or(e.Target.Protocol, "generate"),
			Start: started, End: time.Now(), Status: runfmt.StatusError, Error: why,
		}
	}
	run.Suite, run.Night = suite, date
	return runfmt.WriteRun(dir, run)
}

// readRequests reads a run's requests.jsonl, skipping unreadable lines.
func readRequests(dir string) ([]*runfmt.Request, error) {
	var rs []*runfmt.Request
	var firstErr error
	for r, err := range runfmt.Requests(dir) {
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		rs = append(rs, r)
	}
	return rs, firstErr
}

// checkSLOs checks a run's headline numbers against the SLOs.
func checkSLOs(slos map[string]float64, s *runfmt.LLMSummary) ([]SLOResult, []string) {
	var res []SLOResult
	var missed []string
	for _, name := range sortedKeys(slos) {
		m, err := lookupMetric(name)
		if err != nil {
			continue
		}
		v, ok := m.value(s)
		r := SLOResult{Metric: name, Limit: slos[name], Value: v, OK: ok && m.metSLO(v, slos[name])}
		res = append(res, r)
		if !r.OK {
			missed = append(missed, fmt.Sprintf("%s %s (limit %s)", name, m.format(v), m.format(slos[name])))
		}
	}
	return res, missed
}

// exitOf is the night's exit code (see the Exit constants).
func exitOf(recs []Record) int {
	exit := ExitOK
	lower := func(c int) {
		if exit == ExitOK || c < exit {
			exit = c
		}
	}
	for _, r := range recs {
		switch {
		case r.Regression:
			lower(ExitRegression)
		case r.Status == StatusFailed:
			lower(ExitFailed)
		case len(r.SLOMissed) > 0:
			lower(ExitSLO)
		}
	}
	return exit
}

// printRecord prints a run's verdict in a few lines: the regressed
// metrics' reasons, or why it failed; the rest is in nightly.json.
func printRecord(w io.Writer, runs string, r *Record) {
	const indent = "              "
	dir := filepath.Join(runs, r.Run)
	switch {
	case r.Regression:
		fmt.Fprintf(w, "  %-11s %s × %s\n", "REGRESSION", r.Scenario, r.Target)
		for _, v := range r.Verdicts {
			if v.Regression {
				fmt.Fprintf(w, "%s%s\n", indent, v.Why)
			}
		}
	case r.Status == StatusFailed:
		fmt.Fprintf(w, "  %-11s %s × %s: %s\n", "FAILED", r.Scenario, r.Target, firstLine(r.Why))
	default:
		fmt.Fprintf(w, "  %-11s %s × %s: %s\n", r.Status, r.Scenario, r.Target, r.Why)
	}
	if len(r.SLOMissed) > 0 {
		fmt.Fprintf(w, "%sSLO missed: %s\n", indent, strings.Join(r.SLOMissed, ", "))
	}
	if r.Compare != "" {
		fmt.Fprintf(w, "%scompare report: %s\n", indent, filepath.Join(dir, r.Compare))
	}
	if r.Regression || r.Status == StatusFailed || len(r.SLOMissed) > 0 {
		fmt.Fprintf(w, "%srun folder: %s\n", indent, dir)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func printTotals(w io.Writer, res *Result) {
	var reg, failed, slo int
	for _, r := range res.Records {
		switch {
		case r.Regression:
			reg++
		case r.Status == StatusFailed:
			failed++
		}
		if len(r.SLOMissed) > 0 {
			slo++
		}
	}
	fmt.Fprintf(w, "nightly %s: %d runs, %d regressed, %d failed, %d missed an SLO (exit %d)\n",
		res.Night, len(res.Records), reg, failed, slo, res.Exit)
}
