package analyzer

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/runfmt"
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
	for _, q := range a.Verdict.Qualifications {
		fmt.Fprintf(w, "         but: %s\n", q)
	}
	if a.Verdict.Basis != "" {
		fmt.Fprintf(w, "         (shares from %s)\n", a.Verdict.Basis)
	}
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
		fmt.Fprintf(w, "\nWHERE THE TIME WENT (%s requests: mean share of each request's latency, and the mean ms of the requests around each percentile)\n", sourceName(ag.Source))
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
	if sc := a.StepCost; sc != nil {
		if sc.Identified {
			fmt.Fprintf(w, "decode split into own and shared (%s): %s\n", sc.Source, sc.Reason)
		} else {
			fmt.Fprintf(w, "decode not split into own and shared (%s): %s\n", sc.Source, sc.Reason)
		}
	}
	if f := a.StepFit; f != nil && (a.StepCost == nil || a.StepCost.Source != "fit") {
		fmt.Fprintf(w, "this run's decode steps: %.2f + %.3f ± %.3f ms per sequence in the batch (R² %.2f, %d steps of %d batch sizes)\n", f.Intercept, f.Slope, f.SlopeSE, f.R2, f.N, f.Distinct)
	}
	for _, o := range a.Others {
		var top []string
		for _, p := range activeParts(o) {
			top = append(top, fmt.Sprintf("%s %.0f %%", p, 100*o.MeanShare[p]))
		}
		fmt.Fprintf(w, "%d %s requests, kept apart: mean shares %s\n", o.Requests, sourceName(o.Source), strings.Join(top, ", "))
	}
	if h := a.Host; h != nil {
		fmt.Fprintf(w, "host: while its engine was busy (%.0f %% of the run) the server's process got %.2f of the %.0f cores it asked for (compute threads %d, cores allowed %q, GOMAXPROCS %d; from %s)",
			100*h.BusyShare, h.GotCores, h.AskedCores, h.Threads, h.CoresAllowed, h.GOMAXPROCS, h.Source)
		if h.StepSlowdown > 0 {
			fmt.Fprintf(w, "; decode steps at %.2f× their calibrated time", h.StepSlowdown)
		}
		fmt.Fprintln(w)
	}
	if l := a.Load; l != nil && (l.Dropped > 0 || l.Short) {
		fmt.Fprintf(w, "load: %d iterations run, %d dropped (%.0f %%), client_queue %.0f %% of p95 latency\n", l.Iterations, l.Dropped, 100*l.DroppedShare, 100*l.ClientQueueShare)
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
	fmt.Fprintf(w, "\ncoverage: %d traces missing, %d partial, %d split by server timings, %d client-only, %d PromQL queries failed",
		c.MissingTraces, c.PartialTraces, c.ServerTimings, c.ClientOnly, c.SeriesErrors)
	if a.Clock.Violations > 0 || a.Clock.SkewMS != 0 {
		fmt.Fprintf(w, "; clock: %d of %d server spans outside their client span, skew %.1f ms", a.Clock.Violations, a.Clock.Checked, a.Clock.SkewMS)
	}
	fmt.Fprintln(w)
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// sourceName says what a source's requests are, for a heading.
func sourceName(src string) string {
	switch src {
	case runfmt.SourceTrace:
		return "traced"
	case runfmt.SourceServer:
		return "untraced, split by the server's timings"
	case runfmt.SourceClient:
		return "client-only"
	}
	return "all"
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
