package perf

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// stepLimit is the run size up to which `llmbench analyze` fetches the
// engine.step spans by default (analyzer.Config.Steps).
const stepLimit = 5000

// rows builds the table: each figure with its target and whether it was
// met.
func rows(r *Report) []Row {
	a := &r.Analysis
	met := func(ok bool) *bool { return &ok }
	found := a.Requests - a.MissingTraces - a.PartialTraces - a.ClientOnly
	steps := "not fetched"
	if a.FetchSteps || a.Requests <= stepLimit {
		steps = "fetched"
	}
	where := "child process"
	if a.InProcess {
		where = "this process, simulation included"
	}
	if !a.PeakExact {
		where += ", VmHWM not reset"
	}
	goal := float64(TargetMemory) / (1 << 20)
	both := a.PeakRSSMiB + r.JaegerRSSMaxMiB
	per := func(v float64) float64 { return v / float64(max(a.Requests, 1)) }
	return []Row{
		{"requests analyzed", fmt.Sprintf("%d (%d users, batch of %d, %.0f s simulated)", a.Requests, r.Users, r.MaxBatch, r.SimulatedS), fmt.Sprintf(">= %d", TargetRequests), met(a.Requests >= TargetRequests)},
		{"request spans in Jaeger", fmt.Sprintf("%d (%.1f per request; %d failed to export)", r.RequestSpans, per(float64(r.RequestSpans)), r.FailedSpans), "about 100,000", nil},
		{"engine.step spans in Jaeger", fmt.Sprintf("%d (%s by the analysis)", r.StepSpans, steps), "", nil},
		{"simulate + export / Jaeger storing the rest", fmt.Sprintf("%.1f s / %.1f s", r.ExportS, r.IngestS), "", nil},
		{"traces found / partial / missing / client-only", fmt.Sprintf("%d / %d / %d / %d", found, a.PartialTraces, a.MissingTraces, a.ClientOnly), "all found", met(found == a.Requests && a.Analyzed == a.Requests)},
		{"analysis wall time, Jaeger round trips included", fmt.Sprintf("%.2f s (%.2f ms per request)", a.WallS, 1000*per(a.WallS)), fmt.Sprintf("<= %.0f s", TargetWall.Seconds()), met(a.WallS <= TargetWall.Seconds())},
		{"CPU during the analysis: analyzer / Jaeger", fmt.Sprintf("%.2f s / %.2f s", a.CPUS, r.JaegerCPUS), "", nil},
		{"analysis peak RSS (VmHWM, " + where + ")", fmt.Sprintf("%.0f MiB", a.PeakRSSMiB), "<= 1024 MiB", met(a.PeakRSSMiB <= goal)},
		{"analysis Go heap allocated / GCs", fmt.Sprintf("%.0f MiB (%.1f KiB per request) / %d", a.AllocMiB, 1024*per(a.AllocMiB), a.GCs), "", nil},
		{"Jaeger RSS: before / max during the analysis / VmHWM", fmt.Sprintf("%.0f / %.0f / %.0f MiB", r.JaegerRSSBeforeMiB, r.JaegerRSSMaxMiB, r.JaegerHWMMiB), "", nil},
		{"analysis peak + Jaeger's max during it", fmt.Sprintf("%.0f MiB", both), "<= 1024 MiB", met(both <= goal)},
		{"verdict (a sanity check)", a.Bottleneck, "", nil},
	}
}

// printTable writes the rows, aligned.
func printTable(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPARED\tMEASURED\tTARGET\tRESULT")
	for _, row := range r.Rows {
		res := "info"
		if row.Met != nil {
			res = "met"
			if !*row.Met {
				res = "MISSED"
			}
		}
		t := row.Target
		if t == "" {
			t = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.What, row.Measured, t, res)
	}
	tw.Flush()
	fmt.Fprintf(w, "The time includes every round trip to Jaeger on loopback. The memory target is checked twice: the analysis alone, and with Jaeger's memory while it served the traces. "+
		"By default the analyzer fetches engine.step spans only for runs of at most %d requests (-fetch-steps: always).\n", stepLimit)
}
