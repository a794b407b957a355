package analyzer

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/loadgen/runfmt"
)

// WriteText prints an analysis for a person: the verdict and its
// evidence, the recommendations, where the time went (mean share and the
// p50/p95/p99 bands), and what could not be seen.
func WriteText(w io.Writer, a *runfmt.Analysis) {
	fmt.Fprintf(w, "\nanalysis of %s: %d requests, %d analyzed", a.Run, a.Coverage.Requests, a.Coverage.Analyzed)
	if a.Coverage.FailedRequests > 0 {
		fmt.Fprintf(w, " (%d failed, left out of the shares)", a.Coverage.FailedRequests)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "\nVERDICT  %s\n", a.Verdict.Summary)
	for _, e := range a.Verdict.Evidence {
		fmt.Fprintf(w, "         - %s\n", e)
	}
	if len(a.Recommendations) > 0 {
		fmt.Fprintln(w, "\nRECOMMENDATIONS")
		for i, r := range a.Recommendations {
			fmt.Fprintf(w, "  %d. %s: %s\n", i+1, r.Action, r.Because)
			for _, e := range r.Evidence {
				fmt.Fprintf(w, "     evidence: %s\n", e)
			}
		}
	}
	ag := a.Aggregate
	if ag.Requests > 0 {
		fmt.Fprintln(w, "\nWHERE THE TIME WENT (mean share of each request's latency, and the mean ms of the requests around each percentile)")
		parts := activeParts(ag)
		fmt.Fprintf(w, "  %-15s %7s", "part", "share")
		for _, b := range ag.Bands {
			fmt.Fprintf(w, " %10s", b.Name+" band")
		}
		fmt.Fprintln(w)
		for _, p := range parts {
			fmt.Fprintf(w, "  %-15s %6.1f%%", p, 100*ag.MeanShare[p])
			for _, b := range ag.Bands {
				fmt.Fprintf(w, " %8.1fms", b.MeanMS[p])
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %-15s %7s", "total", "")
		for _, b := range ag.Bands {
			fmt.Fprintf(w, " %8.1fms", b.TotalMS)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  unexplained remainder: mean %.2f%%, max %.2f%% of a request's latency\n", ag.UnexplainedMeanPct, ag.UnexplainedMaxPct)
		for _, g := range ag.SLOMisses {
			fmt.Fprintf(w, "  %d requests missed an SLO with %s the largest part\n", g.Requests, g.Dominant)
		}
	}
	if f := a.PrefillFit; f != nil {
		fmt.Fprintf(w, "\nprefill: %.2f ms per input token + %.1f ms (R² %.2f, %d requests)\n", f.Slope, f.Intercept, f.R2, f.N)
	}
	if f := a.StepFit; f != nil {
		fmt.Fprintf(w, "decode step: %.1f ms + %.2f ms per sequence in the batch (R² %.2f, %d steps): a sequence's own share of a step is what a batch of one costs\n", f.Intercept, f.Slope, f.R2, f.N)
	}
	if s := a.Saturation; s != nil && len(s.Points) > 0 {
		fmt.Fprintln(w, "\nSATURATION")
		for _, p := range s.Points {
			mark := ""
			if s.Knee != nil && s.Knee.Label == p.Label {
				mark = "  <- knee"
			}
			fmt.Fprintf(w, "  %-12s %7.2f req/s  concurrency %5.1f  TTFT p95 %8.1fms  total p95 %8.1fms%s\n", p.Label, p.Throughput, p.Concurrent, p.TTFTP95MS, p.TotalP95MS, mark)
		}
		if s.CapacityAtSLO > 0 {
			fmt.Fprintf(w, "  capacity at the SLOs: %.2f requests/s\n", s.CapacityAtSLO)
		}
		if s.Note != "" {
			fmt.Fprintf(w, "  %s\n", s.Note)
		}
	}
	c := a.Coverage
	fmt.Fprintf(w, "\ncoverage: %d traces missing, %d partial, %d client-only, %d PromQL queries failed",
		c.MissingTraces, c.PartialTraces, c.ClientOnly, c.SeriesErrors)
	if a.Clock.Violations > 0 || a.Clock.SkewMS != 0 {
		fmt.Fprintf(w, "; clock: %d of %d server spans outside their client span, skew %.1f ms", a.Clock.Violations, a.Clock.Checked, a.Clock.SkewMS)
	}
	fmt.Fprintln(w)
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// activeParts are the parts with any time, in timeline order.
func activeParts(ag runfmt.Aggregate) []string {
	var out []string
	for _, p := range runfmt.Parts {
		if ag.MeanMS[p] > 0 || slices.ContainsFunc(ag.Bands, func(b runfmt.Band) bool { return b.MeanMS[p] > 0 }) {
			out = append(out, p)
		}
	}
	return out
}

// pct formats a 0–1 share.
func pct(x float64) string { return strings.TrimSuffix(fmt.Sprintf("%.0f", 100*x), ".0") + " %" }
