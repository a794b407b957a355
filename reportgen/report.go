package reportgen

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// reportPage is what templates/report.html shows, top to bottom.
type reportPage struct {
	Title    string
	Subtitle string
	Notes    []string

	// 1. The verdict and recommendations (nil when not analyzed).
	Verdict         *runfmt.Verdict
	Recommendations []runfmt.Recommendation
	// 2. Headline numbers against the SLOs (nil without a summary).
	Headline *headline
	// 3. Latency attribution.
	Attribution *attributionView
	// 4. The slowest requests.
	Waterfall *waterfall
	// 5. Distributions and 6. time series.
	Distributions     []*chart
	DistributionNotes []string
	TimeSeries        []*chart
	TimeSeriesNotes   []string
	// 7. Run metadata and coverage.
	Meta     []kv
	Options  string // run.json's options, indented
	Coverage []kv
	Errors   []count
	Tags     []count
	// NotAnalyzed is the hint shown in the sections that need the analysis.
	NotAnalyzed string

	page
}

// page is what every page has at its foot: the charts and the library
// that draws them.
type page struct {
	Generated string
	Charts    template.JS
	Library   template.JS
	all       []*chart
}

// add registers c to be drawn and returns it, for the template.
func (p *page) add(c *chart) *chart {
	p.all = append(p.all, c)
	return c
}

// kv is a row of a two-column table; Diff marks a row whose values
// differ between two runs.
type kv struct {
	Key, Value string
	B          string // the second run's value, in a comparison
	Diff       bool
}

// count is a tally of a text: an error message, a tag.
type count struct {
	Text string
	N    int
}

// cell is one number of a table, marked when it misses its SLO.
type cell struct {
	Text string
	Miss bool
}

// headline is section 2.
type headline struct {
	Latency    []latencyRow
	Rates      []kv
	SLOs       string
	Thresholds []threshold
	Checks     []runfmt.Check
}

type latencyRow struct {
	Name                    string
	Count                   int64
	P50, P90, P95, P99, Max cell
	SLO                     string
}

type threshold struct {
	Metric, Expr string
	OK, Abort    bool
}

// attributionView is section 3.
type attributionView struct {
	Bands     *chart
	Share     *chart
	Parts     []partRow
	BandNames []string
	Notes     []string
}

type partRow struct {
	Name, Text string
	MeanMS     string
	Share      string
	Bands      []string // mean ms in each band, in Aggregate.Bands order
}

// waterfall is section 4.
type waterfall struct {
	Chart    *chart
	Rows     []waterfallRow
	LinkNote string
}

type waterfallRow struct {
	Label             string
	Total, E2E, TTFT  string
	Dominant          string
	Tokens            string
	Batch             string
	Tags              string
	TraceID, TraceURL string
	Failed            bool
	Error             string
}

// buildReport lays out the report of one run.
func buildReport(d *runData, o Options) *reportPage {
	p := &reportPage{
		Title:    fmt.Sprintf("llmbench report: %s", cmp.Or(d.Run.Scenario, d.Run.ID)),
		Subtitle: fmt.Sprintf("%s · %s · %s · %s", d.Run.ID, cmp.Or(d.Run.Target, "no target"), d.device(), d.Run.Status),
		Notes:    d.Notes,
	}
	p.NotAnalyzed = fmt.Sprintf("not analyzed: run llmbench analyze %s", d.Dir)
	if a := d.Analysis; a != nil {
		p.Verdict = &a.Verdict
		p.Recommendations = a.Recommendations
		p.Attribution = buildAttribution(&p.page, a)
		p.Waterfall = buildWaterfall(&p.page, d, o)
	}
	p.Headline = buildHeadline(d)
	p.Distributions, p.DistributionNotes = buildDistributions(&p.page, d)
	p.TimeSeries, p.TimeSeriesNotes = buildTimeSeries(&p.page, d, o)
	p.Meta, p.Options = buildMeta(d)
	p.Coverage = buildCoverage(d)
	p.Errors, p.Tags = d.Reqs.errs.top(20), d.Reqs.tags.top(20)
	return p
}

func ms(v float64) string { return fmt.Sprintf("%.1f", v) }

// sloFor finds the SLO of a headline latency: its key in the options'
// slo object (ttft, tpot, itl, e2e, with or without an _ms suffix).
func sloFor(slos map[string]float64, name string) float64 {
	for _, k := range []string{name, name + "_ms", "llm_" + name} {
		if v, ok := slos[k]; ok {
			return v
		}
	}
	return 0
}

func buildHeadline(d *runData) *headline {
	s := d.Summary
	if s == nil || s.LLM == nil {
		return nil
	}
	l := s.LLM
	h := &headline{}
	row := func(name, key string, p runfmt.Percentiles) {
		slo := sloFor(l.SLOs, key)
		c := func(v float64) cell { return cell{Text: ms(v), Miss: slo > 0 && v > slo} }
		r := latencyRow{Name: name, Count: p.Count, P50: c(p.P50), P90: c(p.P90), P95: c(p.P95), P99: c(p.P99), Max: c(p.Max)}
		if slo > 0 {
			r.SLO = ms(slo)
		}
		h.Latency = append(h.Latency, r)
	}
	// The server's own numbers, when it reported any, next to the
	// client's: from requests.jsonl (server_*), not the summary.
	serverRow := func(name string, r *reservoir) {
		if d.Reqs == nil || r.seen == 0 {
			return
		}
		v := r.sorted()
		q := func(x float64) cell { return cell{Text: ms(stats.Quantile(v, x))} }
		h.Latency = append(h.Latency, latencyRow{Name: name, Count: int64(r.seen), P50: q(.5), P90: q(.9), P95: q(.95), P99: q(.99), Max: q(1)})
	}
	var rq requestStats
	if d.Reqs != nil {
		rq = *d.Reqs
	}
	row("TTFT", "ttft", l.TTFT)
	serverRow("server TTFT", &rq.sttft)
	serverRow("TTFT − server TTFT", &rq.over)
	row("TPOT", "tpot", l.TPOT)
	serverRow("server TPOT", &rq.stpot)
	row("ITL", "itl", l.ITL)
	row("e2e", "e2e", l.E2E)
	if l.ClientQueue != nil {
		row("client queue", "client_queue", *l.ClientQueue)
	}
	good := "no SLOs given: every successful request counts"
	if len(l.SLOs) > 0 && l.Requests > 0 {
		good = fmt.Sprintf("%d of %d requests met every SLO (%.1f %%)", l.GoodRequests, l.Requests, 100*float64(l.GoodRequests)/float64(l.Requests))
	}
	h.Rates = []kv{
		{Key: "requests", Value: fmt.Sprintf("%d in %.1f s", l.Requests, s.Duration)},
		{Key: "throughput", Value: fmt.Sprintf("%.2f requests/s, %.1f output tokens/s", l.RequestsPerS, l.OutputTokPerS)},
		{Key: "goodput", Value: fmt.Sprintf("%.2f requests/s: %s", l.Goodput, good)},
		{Key: "error rate", Value: fmt.Sprintf("%.2f %% (%d errors)", 100*l.ErrorRate, l.Errors)},
		{Key: "dropped iterations", Value: fmt.Sprint(l.DroppedIterations)},
		{Key: "token counts", Value: l.TokenCountNote()},
	}
	if d.Reqs != nil {
		if src := d.Reqs.sources.top(3); len(src) > 0 {
			var parts []string
			for _, c := range src {
				parts = append(parts, fmt.Sprintf("%s (%d requests)", c.Text, c.N))
			}
			h.Rates = append(h.Rates, kv{Key: "server timings from", Value: strings.Join(parts, ", ")})
		}
		if n := d.Reqs.retried; n > 0 {
			h.Rates = append(h.Rates, kv{Key: "retried", Value: fmt.Sprintf("%d requests met a kept-alive connection the server had closed, and were sent again", n)})
		}
		if n := d.Reqs.multi; n > 0 {
			h.Rates = append(h.Rates, kv{Key: "multi-token first events", Value: fmt.Sprintf("%d requests: their first event carried several tokens, so TTFT includes decode steps", n)})
		}
	}
	var slos []string
	for _, k := range slices.Sorted(maps.Keys(l.SLOs)) {
		slos = append(slos, fmt.Sprintf("%s ≤ %s ms", k, ms(l.SLOs[k])))
	}
	h.SLOs = strings.Join(slos, ", ")
	for _, name := range slices.Sorted(maps.Keys(s.Metrics)) {
		m := s.Metrics[name]
		for _, expr := range slices.Sorted(maps.Keys(m.Thresholds)) {
			t := m.Thresholds[expr]
			h.Thresholds = append(h.Thresholds, threshold{Metric: name, Expr: expr, OK: t.OK, Abort: t.AbortOnFail})
		}
	}
	var walk func(g runfmt.Group)
	walk = func(g runfmt.Group) {
		h.Checks = append(h.Checks, g.Checks...)
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(s.Root)
	return h
}

// usedParts are the parts that are not zero in any of the maps, in
// timeline order.
func usedParts(means ...map[string]float64) []string {
	var out []string
	for _, p := range runfmt.Parts {
		for _, m := range means {
			if m[p] > 0.0005 {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func buildAttribution(pg *page, a *runfmt.Analysis) *attributionView {
	agg := a.Aggregate
	at := &attributionView{}
	var cats []string
	var means []map[string]float64
	for _, b := range agg.Bands {
		cats = append(cats, fmt.Sprintf("%s (%d req, %s ms)", b.Name, b.Requests, ms(b.TotalMS)))
		means = append(means, b.MeanMS)
	}
	for _, g := range agg.SLOMisses {
		cats = append(cats, fmt.Sprintf("missed SLO, %s-bound (%d req)", g.Dominant, g.Requests))
		means = append(means, g.MeanMS)
	}
	parts := usedParts(append([]map[string]float64{agg.MeanMS}, means...)...)
	if len(cats) > 0 {
		var rows []series
		for _, p := range parts {
			r := series{Name: p}
			for _, m := range means {
				r.Values = append(r.Values, m[p])
			}
			rows = append(rows, r)
		}
		at.Bands = pg.add(newChart("chart-attribution-bands", "Where the time went, by percentile band of the total (mean ms of each part)",
			stackedBars("chart-attribution-bands", cats, rows, "ms", false)))
	}
	if len(agg.MeanShare) > 0 {
		at.Share = pg.add(newChart("chart-attribution-share", fmt.Sprintf("Mean share of the total per part (bottleneck: %s)", a.Verdict.Bottleneck),
			sharePie("chart-attribution-share", agg.MeanShare)))
	}
	for _, b := range agg.Bands {
		at.BandNames = append(at.BandNames, b.Name)
	}
	for _, p := range parts {
		r := partRow{Name: p, Text: partText[p], MeanMS: ms(agg.MeanMS[p]), Share: fmt.Sprintf("%.1f %%", 100*agg.MeanShare[p])}
		for _, b := range agg.Bands {
			r.Bands = append(r.Bands, ms(b.MeanMS[p]))
		}
		at.Parts = append(at.Parts, r)
	}
	src := map[string]string{runfmt.SourceTrace: " traced", runfmt.SourceServer: " untraced (split by the server's timings)", runfmt.SourceClient: " client-only"}[agg.Source]
	at.Notes = append(at.Notes, fmt.Sprintf("%d successful%s requests; the parts add up to the total up to %.2f %% on average (%.2f %% at most)",
		agg.Requests, src, agg.UnexplainedMeanPct, agg.UnexplainedMaxPct))
	for _, o := range a.Others {
		at.Notes = append(at.Notes, fmt.Sprintf("%d other%s requests are kept out of these shares: a request split by spans and one that was not do not add up",
			o.Requests, map[string]string{runfmt.SourceTrace: " traced", runfmt.SourceServer: " untraced", runfmt.SourceClient: " client-only"}[o.Source]))
	}
	if sc := a.StepCost; sc != nil {
		if sc.Identified {
			at.Notes = append(at.Notes, "decode split into own and shared ("+sc.Source+"): "+sc.Reason)
		} else {
			at.Notes = append(at.Notes, "decode not split into own and shared ("+sc.Source+"): "+sc.Reason)
		}
	}
	if h := a.Host; h != nil {
		n := fmt.Sprintf("host: while its engine was busy (%.0f %% of the run), the server's process got %.2f of the %.0f cores it asked for (%d threads, cores allowed %s; from %s)",
			100*h.BusyShare, h.GotCores, h.AskedCores, h.Threads, h.CoresAllowed, h.Source)
		if h.StepSlowdown > 0 {
			n += fmt.Sprintf("; its decode steps took %.2f× their calibrated time", h.StepSlowdown)
		}
		at.Notes = append(at.Notes, n)
	}
	if a.Clock.Note != "" {
		at.Notes = append(at.Notes, "clocks: "+a.Clock.Note)
	}
	if f := a.PrefillFit; f != nil {
		at.Notes = append(at.Notes, fmt.Sprintf("%s = %.2f + %.3f × %s (R² %.2f, %d requests)", f.Y, f.Intercept, f.Slope, f.X, f.R2, f.N))
	}
	if f := a.StepFit; f != nil {
		se := ""
		if f.SlopeSE > 0 {
			se = fmt.Sprintf(" ± %.3f", f.SlopeSE)
		}
		at.Notes = append(at.Notes, fmt.Sprintf("this run's decode steps: %s = %.2f + %.3f%s × %s (R² %.2f, %d steps)", f.Y, f.Intercept, f.Slope, se, f.X, f.R2, f.N))
	}
	if s := a.Saturation; s != nil {
		n := fmt.Sprintf("capacity at the SLOs: %.2f requests/s", s.CapacityAtSLO)
		if s.Knee != nil {
			n += fmt.Sprintf("; the knee: %s (%.2f requests/s)", s.Knee.Label, s.Knee.Throughput)
		}
		if s.Note != "" {
			n += "; " + s.Note
		}
		at.Notes = append(at.Notes, n)
	}
	return at
}

var traceIDRe = regexp.MustCompile(`^[0-9a-fA-F]{1,32}$`)

func buildWaterfall(pg *page, d *runData, o Options) *waterfall {
	bs := slowest(d.Analysis, o.slowest())
	if len(bs) == 0 {
		return nil
	}
	var partMaps []map[string]float64
	for _, b := range bs {
		partMaps = append(partMaps, b.Parts)
	}
	parts := usedParts(partMaps...)
	unexplained := false
	for _, b := range bs {
		if b.UnexplainedMS > 0.05 {
			unexplained = true
		}
	}
	w := &waterfall{}
	links := map[string]string{}
	var cats []string
	for _, b := range bs {
		label := fmt.Sprintf("#%d", b.Seq)
		cats = append(cats, label)
		row := waterfallRow{
			Label: label, Total: ms(b.TotalMS), E2E: ms(b.E2EMS), TTFT: ms(b.TTFTMS),
			Dominant: b.Dominant, Tokens: fmt.Sprintf("%d → %d", b.InputTokens, b.OutputTokens),
			TraceID: b.TraceID, Failed: !b.OK,
		}
		if b.MeanBatch > 0 {
			row.Batch = fmt.Sprintf("%.1f", b.MeanBatch)
		}
		if r, ok := d.Reqs.shown[b.Seq]; ok {
			row.Tags = formatTags(r.Tags)
			row.Error = r.Error
		}
		if o.JaegerUI != "" && traceIDRe.MatchString(b.TraceID) {
			row.TraceURL = strings.TrimRight(o.JaegerUI, "/") + "/trace/" + b.TraceID
			links[label] = row.TraceURL
		}
		w.Rows = append(w.Rows, row)
	}
	var rows []series
	for _, p := range parts {
		r := series{Name: p}
		for _, b := range bs {
			r.Values = append(r.Values, b.Parts[p])
		}
		rows = append(rows, r)
	}
	if unexplained {
		r := series{Name: partUnexplained}
		for _, b := range bs {
			r.Values = append(r.Values, max(b.UnexplainedMS, 0))
		}
		rows = append(rows, r)
	}
	c := newChart("chart-waterfall", fmt.Sprintf("The %d slowest requests: client and server parts on one time axis, in timeline order (ms from the scheduled start)", len(bs)),
		stackedBars("chart-waterfall", cats, rows, "ms", true))
	c.Tall = len(bs) > 8
	if len(links) > 0 {
		c.Links = links
	}
	w.Chart = pg.add(c)
	if o.JaegerUI == "" {
		w.LinkNote = "Jaeger UI address unknown: pass -jaeger-ui URL (e.g. http://127.0.0.1:16686) to link each trace"
	} else {
		w.LinkNote = "click a bar or a trace id to open the trace in the Jaeger UI"
	}
	return w
}

// slowest is the analysis's n slowest requests, slowest first.
func slowest(a *runfmt.Analysis, n int) []runfmt.Breakdown {
	bs := slices.Clone(a.Requests)
	slices.SortStableFunc(bs, func(x, y runfmt.Breakdown) int { return cmp.Compare(y.TotalMS, x.TotalMS) })
	return bs[:min(len(bs), n)]
}

func formatTags(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, " ")
}

// values is the successful requests' TTFT, TPOT, ITL gaps and e2e, each a
// sample of at most maxValues, sorted.
func values(s *requestStats) (ttft, tpot, itl, e2e *reservoir) {
	return &s.ttft, &s.tpot, &s.itl, &s.e2e
}

func buildDistributions(pg *page, d *runData) ([]*chart, []string) {
	ttft, tpot, itl, e2e := values(d.Reqs)
	var slos map[string]float64
	if l := d.llm(); l != nil {
		slos = l.SLOs
	}
	var cs []*chart
	var notes []string
	for _, m := range []struct {
		key, name, unit string
		r               *reservoir
	}{
		{"ttft", "TTFT", "requests", ttft},
		{"tpot", "TPOT", "requests", tpot},
		{"itl", "ITL (inter-chunk gaps)", "gaps", itl},
		{"e2e", "e2e", "requests", e2e},
	} {
		v := m.r.sorted()
		if len(v) == 0 {
			notes = append(notes, fmt.Sprintf("no %s values: no successful request measured it", m.name))
			continue
		}
		id := "chart-dist-" + m.key
		of := fmt.Sprintf("%d values", len(v))
		if m.r.sampled() {
			of = fmt.Sprintf("a uniform sample of %d of the %d values", len(v), m.r.seen)
		}
		caption := fmt.Sprintf("%s: histogram and CDF of %s, p50 %s ms, p95 %s ms, p99 %s ms",
			m.name, of, ms(stats.Quantile(v, .5)), ms(stats.Quantile(v, .95)), ms(stats.Quantile(v, .99)))
		cs = append(cs, pg.add(newChart(id, caption, distribution(id, m.unit, v, sloFor(slos, m.key)))))
	}
	return cs, notes
}

func buildTimeSeries(pg *page, d *runData, o Options) ([]*chart, []string) {
	var cs []*chart
	var notes []string
	width := d.Reqs.ivs.width // wider than asked when the run had more than maxIntervals
	start := d.start()
	if ivs := d.Reqs.ivs.intervals(); len(ivs) > 0 {
		var rate, errs, ttft50, ttft95, tpot50, tpot95 []xy
		for _, iv := range ivs {
			t := iv.Start + width.Seconds()/2
			rate = append(rate, xy{t, float64(iv.Completed) / width.Seconds()})
			errs = append(errs, xy{t, float64(iv.Errors) / width.Seconds()})
			if len(iv.TTFT) > 0 {
				ttft50 = append(ttft50, xy{t, stats.Quantile(iv.TTFT, .5)})
				ttft95 = append(ttft95, xy{t, stats.Quantile(iv.TTFT, .95)})
			}
			if len(iv.TPOT) > 0 {
				tpot50 = append(tpot50, xy{t, stats.Quantile(iv.TPOT, .5)})
				tpot95 = append(tpot95, xy{t, stats.Quantile(iv.TPOT, .95)})
			}
		}
		cs = append(cs, pg.add(newChart("chart-ts-rate", fmt.Sprintf("Requests completed per second, per %s interval", width),
			lines("chart-ts-rate", "s", "req/s", "", []line{{Name: "completed", Points: rate}, {Name: "errors", Points: errs}}))))
		cs = append(cs, pg.add(newChart("chart-ts-latency", fmt.Sprintf("TTFT (left) and TPOT (right) percentiles per %s interval", width),
			lines("chart-ts-latency", "s", "TTFT ms", "TPOT ms", []line{
				{Name: "TTFT p50", Points: ttft50}, {Name: "TTFT p95", Points: ttft95},
				{Name: "TPOT p50", Points: tpot50, Right: true}, {Name: "TPOT p95", Points: tpot95, Right: true},
			}))))
	} else {
		notes = append(notes, "no requests to plot over time")
	}
	var vus bool
	if len(d.Series) > 0 {
		// The load generator's own time series (timeseries.jsonl), the one
		// the live dashboard showed.
		var vu, inflight, tokens []xy
		for _, iv := range d.Series {
			t := iv.Time.Sub(start).Seconds()
			vu = append(vu, xy{t, float64(iv.VUs)})
			inflight = append(inflight, xy{t, float64(iv.InFlight)})
			tokens = append(tokens, xy{t, iv.TokensPerS})
		}
		cs = append(cs, pg.add(newChart("chart-ts-load", "VUs and LLM requests in flight (left), output tokens per second (right), each second of the run",
			lines("chart-ts-load", "s", "count", "tokens/s", []line{
				{Name: "VUs", Points: vu, Step: true}, {Name: "in flight", Points: inflight, Step: true},
				{Name: "output tokens/s", Points: tokens, Right: true},
			}))))
		vus = true
	}
	var ls []line
	if a := d.Analysis; a != nil {
		t0 := float64(start.UnixNano()) / 1e9
		for _, name := range []string{"vus", "loadgen_in_flight", "queue_depth", "running", "batch_size"} {
			for _, s := range a.Series {
				if s.Name != name || len(s.Points) == 0 {
					continue
				}
				l := line{Name: s.Name, Step: true}
				if s.Unit != "" {
					l.Name += " (" + s.Unit + ")"
				}
				for _, pt := range s.Points {
					l.Points = append(l.Points, xy{pt[0] - t0, pt[1]})
				}
				ls = append(ls, l)
				vus = vus || name == "vus"
			}
		}
		for _, s := range a.Series {
			if s.Error != "" {
				notes = append(notes, fmt.Sprintf("PromQL series %s failed: %s", s.Name, s.Error))
			}
		}
	}
	if len(ls) > 0 {
		cs = append(cs, pg.add(newChart("chart-ts-server", "Client requests in flight, server queue depth, running sequences and batch size over the run (PromQL)",
			lines("chart-ts-server", "s", "count", "", ls))))
	} else if d.Analysis != nil {
		notes = append(notes, "no queue depth or batch size series: Prometheus was not reachable when the run was analyzed")
	} else {
		notes = append(notes, "queue depth and batch size come from PromQL: not analyzed")
	}
	if !vus {
		n := "VUs over time are not recorded in the run folder"
		if s := d.Summary; s != nil {
			if m, ok := s.Metrics["vus_max"]; ok {
				n += fmt.Sprintf("; the run allowed up to %.0f VUs", m.Values["value"])
			}
			if m, ok := s.Metrics["vus"]; ok {
				n += fmt.Sprintf(" and ran up to %.0f at once", m.Values["max"])
			}
		}
		notes = append(notes, n)
	}
	return cs, notes
}

func buildMeta(d *runData) ([]kv, string) {
	r := d.Run
	meta := []kv{
		{Key: "run", Value: r.ID},
		{Key: "scenario", Value: r.Scenario},
		{Key: "script", Value: r.Script},
		{Key: "target", Value: r.Target},
		{Key: "protocol", Value: r.Protocol},
	}
	if s := r.Server; s != nil {
		model := s.Model
		if s.Synthetic {
			model += " (synthetic weights)"
		}
		unknown := func(v string) string {
			if v == "" {
				return "unknown"
			}
			return v
		}
		gpu := "unknown"
		if s.GPUAvailable != nil {
			gpu = fmt.Sprint(*s.GPUAvailable)
		}
		kind := unknown(s.Kind)
		if s.KindFrom != "" {
			kind += " (from " + s.KindFrom + ")"
		}
		meta = append(meta,
			kv{Key: "server", Value: kind},
			kv{Key: "model", Value: unknown(model)},
			kv{Key: "backend", Value: unknown(s.Backend)},
			kv{Key: "device", Value: fmt.Sprintf("%s (GPU available: %s)", unknown(s.Device), gpu)},
			kv{Key: "weights", Value: unknown(s.DType)},
		)
		if s.KVDType != "" {
			meta = append(meta, kv{Key: "KV cache", Value: s.KVDType})
		}
		if s.Threads > 0 {
			meta = append(meta, kv{Key: "threads", Value: fmt.Sprint(s.Threads)})
		}
	} else {
		meta = append(meta, kv{Key: "model", Value: "the target was not asked (--no-health): unknown"})
	}
	meta = append(meta,
		kv{Key: "commit", Value: r.Commit},
		kv{Key: "host", Value: r.Host},
		kv{Key: "llmbench", Value: r.Version},
		kv{Key: "start", Value: timeText(r.Start)},
		kv{Key: "end", Value: timeText(r.End)},
		kv{Key: "status", Value: r.Status},
	)
	if !r.Start.IsZero() && !r.End.IsZero() {
		meta = append(meta, kv{Key: "duration", Value: r.End.Sub(r.Start).Round(time.Millisecond).String()})
	}
	if r.Error != "" {
		meta = append(meta, kv{Key: "error", Value: r.Error})
	}
	if r.Segment != "" && r.Segment != "0:1" {
		meta = append(meta, kv{Key: "execution segment", Value: r.Segment})
	}
	if len(r.Parts) > 0 {
		meta = append(meta, kv{Key: "merged from", Value: strings.Join(r.Parts, ", ")})
	}
	if r.Suite != "" {
		meta = append(meta, kv{Key: "nightly", Value: r.Suite + " " + r.Night})
	}
	if len(r.Env) > 0 {
		meta = append(meta, kv{Key: "env", Value: formatTags(r.Env)})
	}
	var opts string
	if len(r.Options) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, r.Options, "", "  ") == nil {
			opts = buf.String()
		} else {
			opts = string(r.Options)
		}
	}
	return meta, opts
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func buildCoverage(d *runData) []kv {
	cov := []kv{{Key: "requests.jsonl", Value: fmt.Sprintf("%d requests, %d successful, %d unreadable lines", d.Reqs.N, d.Reqs.OK, d.BadLines)}}
	a := d.Analysis
	if a == nil {
		return append(cov, kv{Key: "analysis", Value: fmt.Sprintf("not analyzed: run llmbench analyze %s", d.Dir)})
	}
	c := a.Coverage
	cov = append(cov,
		kv{Key: "analysis", Value: fmt.Sprintf("%s, from Jaeger %s and Prometheus %s", timeText(a.Created), cmp.Or(a.Jaeger, "(none)"), cmp.Or(a.Prometheus, "(none)"))},
		kv{Key: "analyzed", Value: fmt.Sprintf("%d of %d requests", c.Analyzed, c.Requests)},
		kv{Key: "missing traces", Value: fmt.Sprint(c.MissingTraces)},
		kv{Key: "partial traces", Value: fmt.Sprint(c.PartialTraces)},
		kv{Key: "client record only", Value: fmt.Sprint(c.ClientOnly)},
		kv{Key: "failed requests", Value: fmt.Sprint(c.FailedRequests)},
		kv{Key: "PromQL queries failed", Value: fmt.Sprint(c.SeriesErrors)},
		kv{Key: "clocks", Value: fmt.Sprintf("%d checked, %d violations, skew %.2f ms", a.Clock.Checked, a.Clock.Violations, a.Clock.SkewMS)},
	)
	for _, n := range c.Notes {
		cov = append(cov, kv{Key: "note", Value: n})
	}
	return cov
}

// top is the n most frequent texts of m, most frequent first.
func top(m map[string]int, n int) []count {
	var out []count
	for k, v := range m {
		out = append(out, count{Text: k, N: v})
	}
	slices.SortFunc(out, func(a, b count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Text, b.Text))
	})
	return out[:min(len(out), n)]
}
