// Package analyzer is `llmbench analyze`: it joins a run's requests
// (requests.jsonl) to their traces in Jaeger and to Prometheus series over
// the run's window, attributes each request's latency to its parts, and
// writes analysis.json with a verdict, recommendations and their evidence.
//
// The parts and the rules live in package attribution (pure functions);
// jaeger and prom fetch the data; this package ties them together.
package analyzer

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/analyzer/attribution"
	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

// Config is `llmbench analyze`'s configuration. The zero value analyzes Run
// with the Jaeger and Prometheus that run.json names, if any.
type Config struct {
	Run         string        // the run folder
	Jaeger      string        // Jaeger's gRPC query address, e.g. 127.0.0.1:16685 (default: run.json's)
	Prometheus  string        // Prometheus' URL, e.g. http://127.0.0.1:9090 (default: run.json's)
	Queries     string        // a PromQL queries file merged over the defaults
	Wait        time.Duration // how long after the run's end to wait for traces still arriving (default 10 s)
	Steps       int           // fetch engine.step spans for the decode split when the run has at most this many requests (default 5,000; 0 uses the default, <0 never)
	PromTimeout time.Duration // the whole Prometheus phase's deadline (default 20 s)
	Quiet       bool          // no text summary
	// Force replaces analysis.json even when this analysis saw fewer
	// traces or series than the one already there. Without it, Analyze
	// keeps that one, and prints and returns it: a run's traces live in
	// the Jaeger that recorded it, and once that has stopped (as after
	// `llmbench demo`) the saved analysis is the only account of them.
	Force bool
}

// RegisterFlags adds analyze's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Jaeger, "jaeger", "", "Jaeger's gRPC query `host:port` (default: the one run.json names; none: client-only attribution)")
	fs.StringVar(&c.Prometheus, "prometheus", "", "Prometheus' `URL` (default: the one run.json names; none: no series)")
	fs.StringVar(&c.Queries, "queries", "", "a `file` of PromQL queries merged over the built-in ones ({\"queries\": [{name, query, unit, description}]})")
	fs.DurationVar(&c.Wait, "wait", 10*time.Second, "how long after the run's end to wait for traces still being exported")
	fs.DurationVar(&c.PromTimeout, "prom-timeout", 20*time.Second, "how long all the PromQL queries together may take; past it the series are missing and the analysis says why")
	fs.IntVar(&c.Steps, "steps", 5000, "fetch engine.step spans (decode own vs shared, exactly) for runs of at most this many requests; above, the decode span's mean batch size is used")
	fs.BoolVar(&c.Quiet, "quiet", false, "write analysis.json only, print nothing")
	fs.BoolVar(&c.Force, "force", false, "replace analysis.json even when this analysis saw fewer traces or series than the one there (say, Jaeger and Prometheus were stopped since)")
}

// sawLess says what old saw that a did not, and why: more requests
// attributed from their traces, or more Prometheus series; "" when a saw
// as much.
func sawLess(a, old *runfmt.Analysis) string {
	count := func(x *runfmt.Analysis) (traced, series int) {
		for _, b := range x.Requests {
			if b.Source == runfmt.SourceTrace {
				traced++
			}
		}
		for _, s := range x.Series {
			if s.Error == "" {
				series++
			}
		}
		return traced, series
	}
	oldT, oldS := count(old)
	newT, newS := count(a)
	var less []string
	if newT < oldT {
		less = append(less, fmt.Sprintf("it attributes %d requests from their traces, an analysis now %d", oldT, newT))
	}
	if newS < oldS {
		less = append(less, fmt.Sprintf("it holds %d Prometheus series, an analysis now %d", oldS, newS))
	}
	if len(less) == 0 {
		return ""
	}
	why := fmt.Sprintf("written %s: %s", old.Created.Local().Format("2006-01-02 15:04:05"), strings.Join(less, ", and "))
	var causes []string
	for _, n := range a.Coverage.Notes {
		for _, p := range []string{"Jaeger at ", "Prometheus at ", "--jaeger none", "--prometheus none", "no Jaeger given", "no Prometheus given"} {
			if strings.HasPrefix(n, p) {
				causes = append(causes, n)
				break
			}
		}
	}
	if len(causes) > 0 {
		why += " (" + strings.Join(causes, "; ") + ")"
	}
	return why
}

// Analyze analyzes the run folder cfg.Run, writes its analysis.json and,
// unless Quiet, prints the summary to w. A dead Jaeger or Prometheus is not
// an error: the analysis says what it could not see. Where the folder's
// analysis.json saw traces or series that this one could not reach, it is
// kept, printed and returned instead, unless cfg.Force (see Config.Force).
func Analyze(ctx context.Context, cfg Config, w io.Writer) (*runfmt.Analysis, error) {
	run, err := runfmt.ReadRun(cfg.Run)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	a := &runfmt.Analysis{Run: run.ID, Created: time.Now().UTC()}
	var reqs []*runfmt.Request
	firstImplausible, firstBad := "", ""
	for r, err := range runfmt.Requests(cfg.Run) {
		if err != nil {
			a.Coverage.BadLines++
			if firstBad == "" {
				firstBad = err.Error()
			}
			continue
		}
		if why := r.Implausible(); why != "" {
			a.Coverage.Implausible++
			if firstImplausible == "" {
				firstImplausible = why
			}
			continue
		}
		reqs = append(reqs, r)
	}
	a.Coverage.Requests = len(reqs)
	if a.Coverage.BadLines > 0 {
		a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("%d unreadable lines in requests.jsonl were skipped, the first: %s", a.Coverage.BadLines, firstBad))
	}
	if a.Coverage.Implausible > 0 {
		a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("%d requests with implausible timings were left out, the first with %s", a.Coverage.Implausible, firstImplausible))
	}
	if len(reqs) == 0 {
		if firstBad != "" {
			return nil, fmt.Errorf("analyze %s: requests.jsonl holds no readable request (%d unreadable lines, the first: %s)", cfg.Run, a.Coverage.BadLines, firstBad)
		}
		return nil, fmt.Errorf("analyze %s: requests.jsonl holds no request", cfg.Run)
	}
	slo := sloOf(run)
	start, end := window(run, reqs)

	// Traces, and the engine's steps over the run's window.
	jaegerAddr, noJaeger := source(cfg.Jaeger, run.Jaeger)
	a.Jaeger = jaegerAddr
	traces := map[string]*span.Trace{}
	var allSteps []*span.Span
	switch {
	case noJaeger:
		a.Coverage.Notes = append(a.Coverage.Notes, "--jaeger none: attributed from the client's records and the server's timings only")
	case jaegerAddr == "":
		a.Coverage.Notes = append(a.Coverage.Notes, "no Jaeger given (--jaeger): attributed from the client's records and the server's timings only")
	default:
		traces, allSteps, err = fetchTraces(ctx, cfg, jaegerAddr, reqs, start, end, &a.Coverage)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("Jaeger at %s: %v; the requests without a trace are attributed from the client's records and the server's timings", jaegerAddr, err))
		}
	}
	steps := span.ByLinkedTrace(allSteps)
	health := healthOf(run)

	// Attribution, in two passes. The first lays each request's spans on
	// its client's times (estimating a clock offset per request where they
	// do not nest) with decode whole; from it come the run's clock offset
	// and mean decode batch, and so the step cost that splits decode. The
	// second applies both.
	attribute := func(opts attribution.Options) ([]runfmt.Breakdown, []attribution.Info) {
		bs := make([]runfmt.Breakdown, len(reqs))
		infos := make([]attribution.Info, len(reqs))
		for i, r := range reqs {
			o := opts
			o.Steps = steps[r.TraceID]
			bs[i], infos[i] = attribution.Attribute(r, traces[r.TraceID], o)
		}
		return bs, infos
	}
	bs, infos := attribute(attribution.Options{SLO: slo})
	a.Clock = attribution.Clock(infos)
	a.StepFit = attribution.FitStepCost(allSteps)
	meanBatch := attribution.MeanDecodeBatch(allSteps, bs)
	if len(health.Engine.StepCost) > 0 {
		a.StepCost = attribution.StepCostFromCalibration(health.Engine.StepCost, meanBatch)
	} else if len(allSteps) > 0 || meanBatch > 0 {
		a.StepCost = attribution.StepCostFromFit(a.StepFit, allSteps, meanBatch)
	}
	opts := attribution.Options{SLO: slo, StepCost: attribution.NewCost(a.StepCost)}
	if a.Clock.Violations > 0 && a.Clock.SkewMS != 0 {
		skew := time.Duration(a.Clock.SkewMS * float64(time.Millisecond))
		opts.Skew = &skew
		a.Clock.Note = fmt.Sprintf("%d of %d server spans did not nest in their client spans: the server's clock is taken to be %+.1f ms off, and corrected", a.Clock.Violations, a.Clock.Checked, a.Clock.SkewMS)
	}
	bs, infos = attribute(opts)
	notes := map[string]int{}
	for i, info := range infos {
		if !bs[i].OK {
			a.Coverage.FailedRequests++
		}
		if info.ClientOnly {
			a.Coverage.ClientOnly++
		}
		if info.Timings {
			a.Coverage.ServerTimings++
		}
		for _, n := range info.Notes {
			notes[n]++
		}
	}
	for _, n := range sortedKeys(notes) {
		a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("%s (%d requests)", n, notes[n]))
	}
	if sc := a.StepCost; sc != nil && !sc.Identified {
		a.Coverage.Notes = append(a.Coverage.Notes, "decode is not split into own and shared: "+sc.Reason)
	}
	a.Coverage.Analyzed = len(bs)
	a.Requests = bs
	a.Aggregate, a.Others = attribution.BySource(bs)
	a.PrefillFit = attribution.FitPrefill(bs)

	// Series and the verdict's evidence.
	promURL, noProm := source(cfg.Prometheus, run.Prometheus)
	a.Prometheus = promURL
	if promURL != "" {
		a.Series, err = fetchSeries(ctx, cfg, promURL, start, end)
		if err != nil {
			a.Coverage.Notes = append(a.Coverage.Notes, err.Error())
		}
		firstErr := ""
		for _, s := range a.Series {
			if s.Error != "" {
				a.Coverage.SeriesErrors++
				if firstErr == "" {
					firstErr = s.Error
				}
			}
		}
		if a.Coverage.SeriesErrors > 0 {
			a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("Prometheus at %s: %d of %d queries failed, the first: %s",
				promURL, a.Coverage.SeriesErrors, len(a.Series), firstErr))
		}
	} else {
		why := "no Prometheus given (--prometheus)"
		if noProm {
			why = "--prometheus none"
		}
		a.Coverage.Notes = append(a.Coverage.Notes, why+": no queue depth, batch size or CPU series")
	}
	ev := evidence(cfg.Run, run, health, a, allSteps, start, end)
	ev.Failures = failures(reqs)
	a.Host, a.Load = ev.Host, ev.Load
	a.Verdict, a.Recommendations = attribution.Verdict(bs, ev)
	a.Saturation = saturation(bs, reqs, slo)

	path := filepath.Join(cfg.Run, runfmt.AnalysisFile)
	if !cfg.Force {
		if old, err := runfmt.ReadAnalysis(cfg.Run); err == nil {
			if why := sawLess(a, old); why != "" {
				if !cfg.Quiet && w != nil {
					fmt.Fprintf(w, "note: showing the analysis saved in %s, %s. Nothing was written: start the run's Jaeger and Prometheus again (if they still hold its traces and series) and re-run, or pass --force to replace it with an analysis from what can be reached now.\n", path, why)
					WriteText(w, old)
					fmt.Fprintf(w, "\nkept %s (see the note at the top; --force replaces it)\n", path)
				}
				return old, nil
			}
		}
	}
	if err := runfmt.WriteAnalysis(cfg.Run, a); err != nil {
		return a, fmt.Errorf("analyze: %w", err)
	}
	if !cfg.Quiet && w != nil {
		WriteText(w, a)
		fmt.Fprintf(w, "\nwrote %s\n", path)
	}
	return a, nil
}

// fetchTraces gets every request's trace and, for runs of at most
// cfg.Steps requests, the engine.step spans of the run's window.
func fetchTraces(ctx context.Context, cfg Config, addr string, reqs []*runfmt.Request, start, end time.Time, cov *runfmt.Coverage) (map[string]*span.Trace, []*span.Span, error) {
	c, err := jaeger.Dial(ctx, addr)
	if err != nil {
		cov.MissingTraces = countTraced(reqs)
		return nil, nil, err
	}
	defer c.Close()
	var ids []string
	for _, r := range reqs {
		if r.TraceID != "" {
			ids = append(ids, r.TraceID)
		}
	}
	wait := cfg.Wait
	if wait == 0 {
		wait = jaeger.DefaultWait
	}
	fetched, ferr := c.Fetch(ctx, ids, jaeger.FetchOptions{
		Expect: []jaeger.Match{{Name: "llm.request"}, {Kind: "server"}},
		From:   end, Wait: wait,
	})
	traces := map[string]*span.Trace{}
	if fetched != nil {
		for _, res := range fetched.Traces {
			if res.Trace != nil {
				traces[res.ID] = res.Trace
			}
		}
		cov.MissingTraces = fetched.Missing + fetched.Failed
		cov.PartialTraces = fetched.Partial
	}
	if ferr != nil {
		if fetched == nil {
			cov.MissingTraces = len(ids)
		}
		return traces, nil, ferr
	}
	limit := cfg.Steps
	if limit == 0 {
		limit = 5000
	}
	var steps []*span.Span
	if limit > 0 && len(reqs) <= limit {
		// One engine.step per batched forward pass; a run of n requests of
		// t tokens has at most n·t of them.
		found, err := c.FindTraces(ctx, "refserver", "engine.step", start.Add(-time.Second), end.Add(time.Second), 100000)
		if err == nil {
			for _, t := range found {
				steps = append(steps, t.Spans...)
			}
			steps = dedupe(steps)
		} else if ctx.Err() == nil {
			cov.Notes = append(cov.Notes, fmt.Sprintf("engine.step spans: %v (decode split by the mean batch size instead, when the step cost is known)", err))
		}
	}
	return traces, steps, nil
}

// dedupe drops repeated spans (a step linked to several requests is
// indexed under each).
func dedupe(ss []*span.Span) []*span.Span {
	seen := map[string]bool{}
	var out []*span.Span
	for _, s := range ss {
		if !seen[s.SpanID] {
			seen[s.SpanID] = true
			out = append(out, s)
		}
	}
	return out
}

func countTraced(reqs []*runfmt.Request) int {
	n := 0
	for _, r := range reqs {
		if r.TraceID != "" {
			n++
		}
	}
	return n
}

// fetchSeries runs the PromQL queries over the run's window.
func fetchSeries(ctx context.Context, cfg Config, url string, start, end time.Time) ([]runfmt.Series, error) {
	qs, err := prom.LoadQueries(cfg.Queries)
	if err != nil {
		return nil, err
	}
	c, err := prom.New(url)
	if err != nil {
		return nil, err
	}
	// Prometheus scrapes every few seconds: widen a short run's window so
	// that it holds samples.
	from, to := start.Add(-5*time.Second), end.Add(5*time.Second)
	timeout := cfg.PromTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %v (--prom-timeout)", timeout))
	defer cancel()
	series := c.All(ctx, qs, from, to, prom.Step(from, to))
	if cause := context.Cause(ctx); cause != nil && ctx.Err() == context.DeadlineExceeded {
		for i := range series {
			if series[i].Error != "" {
				series[i].Error = fmt.Sprintf("%s: %v", series[i].Name, cause)
			}
		}
	}
	return series, nil
}

// health is what the analysis reads of refserver's /health (run.json's
// server.health); zero where the server did not say.
type health struct {
	Threads      int    `json:"threads"`
	CoresAllowed string `json:"cores_allowed"`
	NumAllowed   int    `json:"num_allowed"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
	Engine       struct {
		MaxBatch int                    `json:"max_batch"`
		Threads  int                    `json:"threads"`
		StepCost []runfmt.StepCostPoint `json:"step_cost"`
	} `json:"engine"`
}

func healthOf(run *runfmt.Run) health {
	var h health
	if run.Server != nil && len(run.Server.Health) > 0 {
		_ = json.Unmarshal(run.Server.Health, &h)
	}
	if h.Engine.Threads == 0 {
		h.Engine.Threads = h.Threads
	}
	return h
}

// evidence gathers the measured facts the verdict may rest on: each
// measured over the run's own window [start, end].
func evidence(dir string, run *runfmt.Run, h health, a *runfmt.Analysis, steps []*span.Span, start, end time.Time) attribution.Evidence {
	ev := attribution.Evidence{PrefillFit: a.PrefillFit, StepCost: a.StepCost, MaxBatch: h.Engine.MaxBatch}
	byName := map[string]runfmt.Series{}
	for _, s := range a.Series {
		byName[s.Name] = s
	}
	if v, _, ok := prom.Max(byName[prom.QueueDepth]); ok {
		ev.PeakQueueDepth = &v
	}
	if v, _, ok := prom.Max(byName[prom.BatchSize]); ok {
		ev.PeakBatch = &v
	}
	if run.Server != nil {
		ev.Device, ev.DType = run.Server.Device, run.Server.DType
	}
	hi := attribution.HostInfo{Threads: h.Engine.Threads, CoresAllowed: h.CoresAllowed, NumAllowed: h.NumAllowed, GOMAXPROCS: h.GOMAXPROCS}
	ev.Host = attribution.HostFromSteps(steps, start, end, hi, h.Engine.StepCost)
	if ev.Host == nil {
		busy, _, okB := prom.Increase(byName[prom.EngineBusySeconds], start, end)
		cpu, _, okC := prom.Increase(byName[prom.EngineCPUSeconds], start, end)
		if okB && okC {
			ev.Host = attribution.HostFromCounters(busy, cpu, end.Sub(start), hi)
		}
	}
	if cpu, span, ok := prom.Increase(byName[prom.RefserverCPUSeconds], start, end); ok && span > 0 {
		cores := float64(h.NumAllowed)
		if cores <= 0 {
			cores = float64(h.Threads)
		}
		if cores > 0 {
			share := cpu / span.Seconds() / cores
			ev.CPU = &share
			if ev.Host != nil {
				ev.Host.CPUShare = share
			}
		}
	}
	if sum, err := runfmt.ReadSummary(dir); err == nil {
		ev.Load = loadOf(sum)
	}
	if ev.Load != nil {
		clientShare := 0.0
		for _, b := range a.Aggregate.Bands {
			if b.Name == "p95" && b.TotalMS > 0 {
				clientShare = b.MeanMS[runfmt.PartClientQueue] / b.TotalMS
			}
		}
		attribution.CheckLoad(ev.Load, clientShare)
	}
	if v, _, ok := prom.Max(byName[prom.LoadgenInFlight]); ok {
		ev.Concurrency = v
	}
	return ev
}

// loadOf reads what the load generator delivered from the run's summary.
func loadOf(sum *runfmt.Summary) *runfmt.Load {
	l := &runfmt.Load{
		Iterations: int64(sum.Metrics["iterations"].Values["count"]),
		Dropped:    int64(sum.Metrics["dropped_iterations"].Values["count"]),
		MaxVUs:     int64(max(sum.Metrics["vus_max"].Values["max"], sum.Metrics["vus_max"].Values["value"])),
	}
	if sum.LLM != nil {
		l.DeliveredPerS = sum.LLM.RequestsPerS
		if sum.LLM.ClientQueue != nil {
			l.ClientQueueP95MS = sum.LLM.ClientQueue.P95
		}
		if l.Dropped == 0 {
			l.Dropped = sum.LLM.DroppedIterations
		}
	}
	return l
}

// saturation builds load points when the run had several levels of load:
// one per scenario when there are at least three.
func saturation(bs []runfmt.Breakdown, reqs []*runfmt.Request, slo map[string]float64) *runfmt.Saturation {
	scen := map[string]bool{}
	for _, r := range reqs {
		scen[r.Scenario] = true
	}
	if len(scen) < 3 {
		return nil
	}
	points := attribution.LoadPoints(bs, reqs, func(r *runfmt.Request) (string, float64) {
		var n float64
		fmt.Sscanf(strings.TrimLeft(r.Scenario, "abcdefghijklmnopqrstuvwxyz_-"), "%g", &n)
		return r.Scenario, n
	})
	slices.SortFunc(points, func(x, y runfmt.LoadPoint) int {
		switch {
		case x.Offered < y.Offered:
			return -1
		case x.Offered > y.Offered:
			return 1
		}
		return strings.Compare(x.Label, y.Label)
	})
	return attribution.Saturation(points, slo)
}

// sloOf reads options.slo from run.json.
func sloOf(run *runfmt.Run) map[string]float64 {
	var o struct {
		SLO map[string]float64 `json:"slo"`
	}
	if len(run.Options) > 0 {
		_ = json.Unmarshal(run.Options, &o)
	}
	return o.SLO
}

// window is the run's start and end: run.json's, or the requests' own when
// the run did not finish.
func window(run *runfmt.Run, reqs []*runfmt.Request) (time.Time, time.Time) {
	start, end := run.Start, run.End
	for _, r := range reqs {
		if start.IsZero() || (!r.Started.IsZero() && r.Started.Before(start)) {
			start = r.Started
		}
		if t := r.Sent.Add(time.Duration(r.CloseMS * float64(time.Millisecond))); t.After(end) {
			end = t
		}
	}
	return start, end
}

// failures counts the failed requests by error class, the most first (by
// class name on a tie), each with its first request's error.
func failures(reqs []*runfmt.Request) []attribution.Failure {
	byClass := map[string]*attribution.Failure{}
	var out []*attribution.Failure
	for _, r := range reqs {
		if r.OK {
			continue
		}
		class := r.ErrorClass
		if class == "" {
			class = "unclassified"
		}
		f := byClass[class]
		if f == nil {
			f = &attribution.Failure{Class: class, First: r.Error}
			byClass[class] = f
			out = append(out, f)
		}
		f.Count++
	}
	slices.SortStableFunc(out, func(a, b *attribution.Failure) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Class, b.Class)
	})
	fs := make([]attribution.Failure, len(out))
	for i, f := range out {
		fs[i] = *f
	}
	return fs
}

// none, as --jaeger or --prometheus, asks for no traces or no series,
// whatever run.json names.
const none = "none"

// source is the address to read from: the flag's, else run.json's (which
// records the one given to llmbench run or nightly); "" and off when that
// is none.
func source(flag, fromRun string) (addr string, off bool) {
	if v := first(flag, fromRun); v != none {
		return v, false
	}
	return "", true
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
