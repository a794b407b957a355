package nightly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// DefaultMetrics are the metrics a suite compares when its detector names
// none.
var DefaultMetrics = []string{"ttft_p95_ms", "tpot_p50_ms", "e2e_p95_ms", "requests_per_s", "error_rate"}

// kind says which way a metric gets worse and how its change is measured.
type kind int

const (
	kindLatency    kind = iota // higher is worse; change in % of the baseline
	kindThroughput             // lower is worse; change in % of the baseline
	kindRate                   // a fraction, higher is worse; change in percentage points
)

// metricDef is a metric the detector and the SLOs understand.
type metricDef struct {
	name   string
	kind   kind
	source string // ttft, tpot, itl, e2e (per-request ms); requests, output_tokens (per second); errors (a fraction)
	stat   string // p50, p95 or p99, for the latencies
}

var (
	latencySources = []string{"ttft", "tpot", "itl", "e2e"}
	latencyStats   = []string{"p50", "p95", "p99"} // those the run index (web/index) keeps
)

// MetricNames lists every metric name a suite may use: <ttft|tpot|itl|e2e>_
// <p50|p95|p99>_ms, requests_per_s, output_tokens_per_s and error_rate.
// They are headline numbers of summary.json, under the names the run index
// (web/index) gives them.
func MetricNames() []string {
	var ns []string
	for _, src := range latencySources {
		for _, st := range latencyStats {
			ns = append(ns, src+"_"+st+"_ms")
		}
	}
	return append(ns, "requests_per_s", "output_tokens_per_s", "error_rate")
}

func lookupMetric(name string) (metricDef, error) {
	switch name {
	case "requests_per_s":
		return metricDef{name: name, kind: kindThroughput, source: "requests"}, nil
	case "output_tokens_per_s":
		return metricDef{name: name, kind: kindThroughput, source: "output_tokens"}, nil
	case "error_rate":
		return metricDef{name: name, kind: kindRate, source: "errors"}, nil
	}
	if src, rest, ok := strings.Cut(name, "_"); ok && slices.Contains(latencySources, src) {
		if st, ok := strings.CutSuffix(rest, "_ms"); ok && slices.Contains(latencyStats, st) {
			return metricDef{name: name, kind: kindLatency, source: src, stat: st}, nil
		}
	}
	return metricDef{}, fmt.Errorf("unknown metric %q (known: {ttft,tpot,itl,e2e}_{p50,p95,p99}_ms, requests_per_s, output_tokens_per_s, error_rate)", name)
}

// value reads the metric from a run's headline numbers; false when the
// run has none (no latency sample).
func (m metricDef) value(s *runfmt.LLMSummary) (float64, bool) {
	switch m.source {
	case "requests":
		return s.RequestsPerS, true
	case "output_tokens":
		return s.OutputTokPerS, true
	case "errors":
		return s.ErrorRate, s.Requests > 0
	}
	var p runfmt.Percentiles
	switch m.source {
	case "ttft":
		p = s.TTFT
	case "tpot":
		p = s.TPOT
	case "itl":
		p = s.ITL
	case "e2e":
		p = s.E2E
	}
	switch m.stat {
	case "p50":
		return p.P50, p.Count > 0
	case "p95":
		return p.P95, p.Count > 0
	}
	return p.P99, p.Count > 0
}

// sample is the metric's per-request distribution, which the
// Mann-Whitney test compares between two nights: each request's latency
// for the latencies (every inter-chunk gap for itl), 1 or 0 for whether
// each request failed for the error rate, and for the throughputs the rate
// in each of up to 30 equal windows of the run.
func (m metricDef) sample(reqs []*runfmt.Request) []float64 {
	var out []float64
	switch m.source {
	case "requests", "output_tokens":
		return m.windowRates(reqs)
	case "errors":
		for _, r := range reqs {
			out = append(out, b2f(!r.OK))
		}
		return out
	}
	for _, r := range reqs {
		var v *float64
		switch m.source {
		case "ttft":
			v = r.TTFTMS
		case "tpot":
			v = r.TPOTMS
		case "e2e":
			v = r.E2EMS
		case "itl":
			out = append(out, r.GapsMS...)
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	return out
}

// windowRates splits the span from the first request's start to the last
// one's end into equal windows and returns each window's rate per second
// of completed requests (or of output tokens).
func (m metricDef) windowRates(reqs []*runfmt.Request) []float64 {
	if len(reqs) == 0 {
		return nil
	}
	end := func(r *runfmt.Request) time.Time {
		return r.Sent.Add(time.Duration(r.CloseMS * float64(time.Millisecond)))
	}
	first, last := reqs[0].Started, end(reqs[0])
	for _, r := range reqs {
		if r.Started.Before(first) {
			first = r.Started
		}
		if e := end(r); e.After(last) {
			last = e
		}
	}
	span := last.Sub(first)
	n := min(30, max(1, int(span/time.Second)))
	width := span / time.Duration(n)
	if width <= 0 {
		return nil
	}
	sums := make([]float64, n)
	for _, r := range reqs {
		i := min(n-1, int(end(r).Sub(first)/width))
		if m.source == "requests" {
			sums[i]++
		} else if r.OK {
			sums[i] += float64(r.OutputTokens)
		}
	}
	for i := range sums {
		sums[i] /= width.Seconds()
	}
	return sums
}

// valueOfSample computes the metric from a sample when no summary.json is
// at hand (the synthetic nights of the tests).
func (m metricDef) valueOfSample(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	if m.kind != kindLatency {
		return mean(xs)
	}
	s := slices.Sorted(slices.Values(xs))
	p := map[string]float64{"p50": 50, "p95": 95, "p99": 99}[m.stat]
	return stats.Percentile(s, p)
}

// format prints a value of the metric with its unit.
func (m metricDef) format(v float64) string {
	switch m.kind {
	case kindRate:
		return fmt.Sprintf("%.2f %%", 100*v)
	case kindThroughput:
		return fmt.Sprintf("%.3g/s", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// effectUnit is how the metric's change is given: "%" of the baseline, or
// percentage points for a rate.
func (m metricDef) effectUnit() string {
	if m.kind == kindRate {
		return " pp"
	}
	return " %"
}

// metSLO reports whether value meets the limit: at most the limit for
// latencies and the error rate, at least it for throughputs.
func (m metricDef) metSLO(value, limit float64) bool {
	if m.kind == kindThroughput {
		return value >= limit
	}
	return value <= limit
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
