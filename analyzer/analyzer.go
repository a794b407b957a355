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
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/analyzer/attribution"
	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/loadgen/runfmt"
)

// Config is `llmbench analyze`'s configuration. The zero value analyzes Run
// with the Jaeger and Prometheus that run.json names, if any.
type Config struct {
	Run        string        // the run folder
	Jaeger     string        // Jaeger's gRPC query address, e.g. 127.0.0.1:16685 (default: run.json's)
	Prometheus string        // Prometheus' URL, e.g. http://127.0.0.1:9090 (default: run.json's)
	Queries    string        // a PromQL queries file merged over the defaults
	Wait       time.Duration // how long after the run's end to wait for traces still arriving (default 10 s)
	Steps      int           // fetch engine.step spans for the decode split when the run has at most this many requests (default 5,000; 0 uses the default, <0 never)
	Quiet      bool          // no text summary
}

// RegisterFlags adds analyze's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Jaeger, "jaeger", "", "Jaeger's gRPC query `host:port` (default: the one run.json names; none: client-only attribution)")
	fs.StringVar(&c.Prometheus, "prometheus", "", "Prometheus' `URL` (default: the one run.json names; none: no series)")
	fs.StringVar(&c.Queries, "queries", "", "a `file` of PromQL queries merged over the built-in ones ({\"queries\": [{name, query, unit, description}]})")
	fs.DurationVar(&c.Wait, "wait", 10*time.Second, "how long after the run's end to wait for traces still being exported")
	fs.IntVar(&c.Steps, "steps", 5000, "fetch engine.step spans (decode own vs shared, exactly) for runs of at most this many requests; above, the decode span's mean batch size is used")
	fs.BoolVar(&c.Quiet, "quiet", false, "write analysis.json only, print nothing")
}

// Analyze analyzes the run folder cfg.Run, writes its analysis.json and,
// unless Quiet, prints the summary to w. A dead Jaeger or Prometheus is not
// an error: the analysis says what it could not see.
func Analyze(ctx context.Context, cfg Config, w io.Writer) (*runfmt.Analysis, error) {
	run, err := runfmt.ReadRun(cfg.Run)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	a := &runfmt.Analysis{Run: run.ID, Created: time.Now().UTC()}
	var reqs []*runfmt.Request
	for r, err := range runfmt.Requests(cfg.Run) {
		if err != nil {
			a.Coverage.BadLines++
			continue
		}
		reqs = append(reqs, r)
	}
	a.Coverage.Requests = len(reqs)
	if a.Coverage.BadLines > 0 {
		a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("%d unreadable lines in requests.jsonl were skipped", a.Coverage.BadLines))
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("analyze %s: requests.jsonl holds no request", cfg.Run)
	}
	slo := sloOf(run)
	start, end := window(run, reqs)

	// Traces.
	jaegerAddr := first(cfg.Jaeger, run.Jaeger)
	a.Jaeger = jaegerAddr
	traces := map[string]*span.Trace{}
	var steps map[string][]*span.Span
	if jaegerAddr == "" {
		a.Coverage.Notes = append(a.Coverage.Notes, "no Jaeger given (--jaeger): attributed from the client's records only")
	} else {
		traces, steps, err = fetchTraces(ctx, cfg, jaegerAddr, reqs, start, end, &a.Coverage)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("Jaeger at %s: %v; the requests without a trace are attributed from the client's records", jaegerAddr, err))
		}
	}

	// Attribution: a first pass finds the clock offset, a second applies
	// one offset to every request when the spans showed one.
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
	var allSteps []*span.Span
	for _, ss := range steps {
		allSteps = append(allSteps, ss...)
	}
	a.StepFit = attribution.FitStepCost(dedupe(allSteps))
	bs, infos := attribute(attribution.Options{SLO: slo, StepCost: a.StepFit})
	a.Clock = attribution.Clock(infos)
	if a.Clock.Violations > 0 && a.Clock.SkewMS != 0 {
		skew := time.Duration(a.Clock.SkewMS * float64(time.Millisecond))
		bs, infos = attribute(attribution.Options{SLO: slo, Skew: &skew, StepCost: a.StepFit})
		a.Clock.Note = fmt.Sprintf("%d of %d server spans did not nest in their client spans: the server's clock is taken to be %+.1f ms off, and corrected", a.Clock.Violations, a.Clock.Checked, a.Clock.SkewMS)
	}
	notes := map[string]int{}
	for i, info := range infos {
		if !bs[i].OK {
			a.Coverage.FailedRequests++
		}
		if info.ClientOnly {
			a.Coverage.ClientOnly++
		}
		for _, n := range info.Notes {
			notes[n]++
		}
	}
	for _, n := range sortedKeys(notes) {
		a.Coverage.Notes = append(a.Coverage.Notes, fmt.Sprintf("%s (%d requests)", n, notes[n]))
	}
	a.Coverage.Analyzed = len(bs)
	a.Requests = bs
	a.Aggregate = attribution.Aggregate(bs)
	a.PrefillFit = attribution.FitPrefill(bs)

	// Series and the verdict's evidence.
	promURL := first(cfg.Prometheus, run.Prometheus)
	a.Prometheus = promURL
	if promURL != "" {
		a.Series, err = fetchSeries(ctx, cfg, promURL, start, end)
		if err != nil {
			a.Coverage.Notes = append(a.Coverage.Notes, err.Error())
		}
		for _, s := range a.Series {
			if s.Error != "" {
				a.Coverage.SeriesErrors++
			}
		}
	} else {
		a.Coverage.Notes = append(a.Coverage.Notes, "no Prometheus given (--prometheus): no queue depth, batch size or CPU series")
	}
	ev := evidence(cfg.Run, run, a)
	a.Verdict, a.Recommendations = attribution.Verdict(a.Aggregate, ev)
	a.Saturation = saturation(bs, reqs, slo)

	if err := runfmt.WriteAnalysis(cfg.Run, a); err != nil {
		return a, fmt.Errorf("analyze: %w", err)
	}
	if !cfg.Quiet && w != nil {
		WriteText(w, a)
		fmt.Fprintf(w, "\nwrote %s/%s\n", strings.TrimSuffix(cfg.Run, "/"), runfmt.AnalysisFile)
	}
	return a, nil
}

// fetchTraces gets every request's trace and, for small runs, the
// engine.step spans of the run's window indexed by the request trace they
// link to.
func fetchTraces(ctx context.Context, cfg Config, addr string, reqs []*runfmt.Request, start, end time.Time, cov *runfmt.Coverage) (map[string]*span.Trace, map[string][]*span.Span, error) {
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
	var steps map[string][]*span.Span
	if limit > 0 && len(reqs) <= limit {
		// One engine.step per batched forward pass; a run of n requests of
		// t tokens has at most n·t of them.
		found, err := c.FindTraces(ctx, "refserver", "engine.step", start.Add(-time.Second), end.Add(time.Second), 100000)
		if err == nil {
			var all []*span.Span
			for _, t := range found {
				all = append(all, t.Spans...)
			}
			steps = attribution.StepsByTrace(all)
		} else if ctx.Err() == nil {
			cov.Notes = append(cov.Notes, fmt.Sprintf("engine.step spans: %v (decode split by the mean batch size instead)", err))
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
	return c.All(ctx, qs, from, to, prom.Step(from, to)), nil
}

// evidence gathers the measured facts the verdict may rest on.
func evidence(dir string, run *runfmt.Run, a *runfmt.Analysis) attribution.Evidence {
	var ev attribution.Evidence
	ev.PrefillFit = a.PrefillFit
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
		ev.Device = run.Server.Device
		var h struct {
			Threads int `json:"threads"`
			Engine  struct {
				MaxBatch int `json:"max_batch"`
			} `json:"engine"`
		}
		if json.Unmarshal(run.Server.Health, &h) == nil {
			ev.MaxBatch = h.Engine.MaxBatch
			if v, _, ok := prom.Max(byName[prom.RefserverCPU]); ok && h.Threads > 0 {
				cpu := v / float64(h.Threads)
				ev.CPU = &cpu
			}
		}
	}
	if sum, err := runfmt.ReadSummary(dir); err == nil && sum.LLM != nil {
		ev.DroppedIterations = sum.LLM.DroppedIterations
	}
	if v, _, ok := prom.Max(byName[prom.LoadgenInFlight]); ok {
		ev.Concurrency = v
	}
	return ev
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
