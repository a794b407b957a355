package web

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/runfmt/index"
)

// metricLabels name the key metrics on the trends page.
var metricLabels = map[string]string{
	"ttft_p50_ms":             "TTFT p50 (ms)",
	"ttft_p95_ms":             "TTFT p95 (ms)",
	"tpot_p50_ms":             "TPOT p50 (ms)",
	"tpot_p95_ms":             "TPOT p95 (ms)",
	"e2e_p95_ms":              "e2e p95 (ms)",
	"itl_p99_ms":              "ITL p99 (ms)",
	index.MetricRequestsPerS:  "requests/s",
	index.MetricOutputTokPerS: "output tokens/s",
	index.MetricGoodputPerS:   "goodput (requests/s meeting the SLOs)",
	index.MetricErrorRate:     "error rate",
}

// palette colours the series of a chart, in order.
var palette = []string{"#2f6fb0", "#d9822b", "#3a9b5c", "#8e5bb5", "#c2454d", "#2a9d9f", "#8c6d3f", "#6b7280"}

// trendsPage is the data of trends.html.
type trendsPage struct {
	Title       string
	Suites      []string
	Suite       string
	Targets     []string
	Target      string
	Limit       int
	Series      []legend
	Charts      []chart
	Regressions []index.Run
}

// legend is one series' name and colour.
type legend struct{ Name, Color string }

// trendSeries is one scenario's (and target's) history of a metric.
type trendSeries struct {
	Name   string
	Points []index.Point
}

// trends serves /trends: one chart per key metric over the nights of a
// nightly suite, one line per scenario, flagged regressions marked.
func (s *server) trends(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := trendsPage{Title: "nightly trends", Suite: q.Get("suite"), Target: q.Get("target"), Limit: 60}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, http.StatusBadRequest, "limit %q: want a number of nights from 1 to 1000", v)
			return
		}
		p.Limit = n
	}
	if err := s.ix.Sync(ctx); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	// Newest first: the default suite is the one that ran last.
	all, err := s.ix.Runs(ctx, index.Filter{Desc: true})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	p.Suites = distinct(all, func(r index.Run) string { return r.Suite })
	if p.Suite == "" {
		for _, run := range all {
			if run.Suite != "" {
				p.Suite = run.Suite
				break
			}
		}
	}
	if p.Suite == "" {
		s.page(w, r, http.StatusOK, "trends.html", p) // no nightly runs yet
		return
	}
	if !slices.Contains(p.Suites, p.Suite) {
		s.fail(w, r, http.StatusNotFound, "no nightly suite %q in this runs folder", p.Suite)
		return
	}

	type key struct{ scenario, target string }
	var keys []key
	for _, run := range all {
		if run.Suite == p.Suite && run.Scenario != "" {
			p.Targets = append(p.Targets, run.Target)
			if p.Target == "" || run.Target == p.Target {
				keys = append(keys, key{run.Scenario, run.Target})
			}
		}
		if run.Suite == p.Suite && run.Regression != "" && (p.Target == "" || run.Target == p.Target) {
			p.Regressions = append(p.Regressions, run)
		}
	}
	slices.Sort(p.Targets)
	p.Targets = slices.Compact(p.Targets)
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.scenario+"\x00"+a.target, b.scenario+"\x00"+b.target) })
	keys = slices.Compact(keys)
	name := func(k key) string {
		if len(p.Targets) > 1 && p.Target == "" {
			return k.scenario + " @ " + k.target
		}
		return k.scenario
	}
	for i, k := range keys {
		p.Series = append(p.Series, legend{Name: name(k), Color: palette[i%len(palette)]})
	}
	for _, metric := range index.KeyMetrics {
		var series []trendSeries
		for _, k := range keys {
			pts, err := s.ix.History(ctx, p.Suite, k.scenario, k.target, metric, p.Limit)
			if err != nil {
				s.fail(w, r, http.StatusInternalServerError, "%v", err)
				return
			}
			series = append(series, trendSeries{Name: name(k), Points: pts})
		}
		p.Charts = append(p.Charts, buildChart(metric, metricLabels[metric], series))
	}
	s.page(w, r, http.StatusOK, "trends.html", p)
}

// chart is one metric's line chart, laid out for inline SVG: coordinates
// in the SVG's user units, (0, 0) at the top left.
type chart struct {
	ID, Metric, Label        string
	W, H                     float64
	Left, Right, Top, Bottom float64 // the plot area
	YLabelX, XLabelY         float64 // where the axes' labels go
	YTicks, XTicks           []tick
	Lines                    []line
	Empty                    bool // no run has the metric
}

type tick struct {
	Pos   float64
	Label string
}

// line is one series: its polyline and its points.
type line struct {
	Name, Color, Path string
	Points            []dot
}

// dot is one run's value, linked to its report.
type dot struct {
	X, Y       float64
	Title      string // the tooltip: night, series, value, and the regression's why
	Href       string
	Regression bool
}

// buildChart lays out series (each oldest first) on a shared axis of
// nights. It is a pure function of its arguments.
func buildChart(metric, label string, series []trendSeries) chart {
	c := chart{ID: "trend-" + metric, Metric: metric, Label: label, W: 560, H: 240, Left: 56, Right: 548, Top: 14, Bottom: 206, YLabelX: 50, XLabelY: 224}
	if c.Label == "" {
		c.Label = metric
	}
	var nights []string
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			nights = append(nights, nightOf(p))
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
		}
	}
	if len(nights) == 0 {
		c.Empty = true
		return c
	}
	slices.Sort(nights)
	nights = slices.Compact(nights)

	// The y axis starts at 0 for positive metrics (latencies, rates),
	// and ends on a round step above the largest value.
	lo = math.Min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 4)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	y := func(v float64) float64 { return c.Bottom - (v-lo)/(hi-lo)*(c.Bottom-c.Top) }
	for v := lo; v <= hi+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: formatTick(v)})
	}
	slot := (c.Right - c.Left) / float64(len(nights))
	x := func(night string) float64 {
		i, _ := slices.BinarySearch(nights, night)
		return c.Left + (float64(i)+0.5)*slot
	}
	every := (len(nights) + 7) / 8 // at most 8 labels
	for i, n := range nights {
		if i%every == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: x(n), Label: n})
		}
	}
	for i, s := range series {
		l := line{Name: s.Name, Color: palette[i%len(palette)]}
		var d strings.Builder
		for j, p := range s.Points {
			px, py := x(nightOf(p)), y(p.Value)
			if j == 0 {
				fmt.Fprintf(&d, "M%.1f %.1f", px, py)
			} else {
				fmt.Fprintf(&d, " L%.1f %.1f", px, py)
			}
			title := fmt.Sprintf("%s %s: %s", nightOf(p), s.Name, formatTick(p.Value))
			if p.Regression != "" {
				title += " — regression: " + p.Regression
			}
			l.Points = append(l.Points, dot{X: px, Y: py, Title: title, Href: runPath(p.RunID), Regression: p.Regression != ""})
		}
		l.Path = d.String()
		c.Lines = append(c.Lines, l)
	}
	return c
}

// nightOf is the point's night, or its start's date when the run did not
// record one.
func nightOf(p index.Point) string {
	if p.Night != "" {
		return p.Night
	}
	return p.Start.UTC().Format(time.DateOnly)
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// formatTick formats an axis label or a tooltip's value: whole numbers
// from 1000, else 4 significant digits.
func formatTick(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
