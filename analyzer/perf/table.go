package perf

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// rows builds the table: each figure with its target and whether it was
// met.
func rows(r *Report) []Row {
	a := &r.Analysis
	met := func(ok bool) *bool { return &ok }
	found := a.Requests - a.MissingTraces - a.PartialTraces - a.ClientOnly
	steps := "engine.step spans left out (-no-steps)"
	if r.StepSpans > 0 {
		steps = fmt.Sprintf("%d engine.step spans", r.StepSpans)
		if r.Requests > 5000 {
			steps += " (held by Jaeger, not fetched: the analyzer reads them only for runs of at most 5,000 requests)"
		}
	}
	memory := func(v float64) string { return fmt.Sprintf("%.0f MiB (%.2f GiB)", v, v/1024) }
	where := "child process, VmHWM"
	if a.InProcess {
		where = "this process, simulation included"
	}
	if !a.PeakExact {
		where += ", not reset: since the process began"
	}
	goal := float64(TargetMemory) / (1 << 20)
	both := a.PeakRSSMiB + r.JaegerRSSMaxMiB
	return []Row{
		{"run analyzed", fmt.Sprintf("%d requests of %d users, batch of %d, %.0f s simulated", a.Requests, r.Users, r.MaxBatch, r.SimulatedS), fmt.Sprintf(">= %d requests", TargetRequests), met(a.Requests >= TargetRequests)},
		{"spans in Jaeger", fmt.Sprintf("%d of the requests (%.1f per request) + %s; %d failed to export", r.RequestSpans, float64(r.RequestSpans)/float64(max(r.Requests, 1)), steps, r.FailedSpans), "~100,000 request spans", nil},
		{"generation (simulate + export; Jaeger storing the rest)", fmt.Sprintf("%.1f s + %.1f s", r.ExportS, r.IngestS), "", nil},
		{"traces found / partial / missing / client-only", fmt.Sprintf("%d / %d / %d / %d", found, a.PartialTraces, a.MissingTraces, a.ClientOnly), "all found", met(found == a.Requests && a.Analyzed == a.Requests)},
		{"analysis wall time (llmbench analyze, every trace fetched from Jaeger over gRPC)", fmt.Sprintf("%.2f s (%.2f ms per request)", a.WallS, 1000*a.WallS/float64(max(a.Requests, 1))), fmt.Sprintf("<= %.0f s", TargetWall.Seconds()), met(a.WallS <= TargetWall.Seconds())},
		{"CPU during the analysis: analyzer / Jaeger", fmt.Sprintf("%.2f s / %.2f s", a.CPUS, r.JaegerCPUS), "", nil},
		{"analysis peak RSS (" + where + ")", memory(a.PeakRSSMiB), "<= 1 GiB", met(a.PeakRSSMiB <= goal)},
		{"analysis Go heap allocated / GCs", fmt.Sprintf("%.0f MiB (%.1f KiB per request) / %d", a.AllocMiB, 1024*a.AllocMiB/float64(max(a.Requests, 1)), a.GCs), "", nil},
		{"Jaeger RSS: holding the spans / max during analysis / VmHWM", fmt.Sprintf("%.0f / %.0f / %.0f MiB", r.JaegerRSSBeforeMiB, r.JaegerRSSMaxMiB, r.JaegerHWMMiB), "", nil},
		{"analysis peak + Jaeger's max RSS during it", memory(both), "<= 1 GiB", met(both <= goal)},
		{"verdict (sanity)", a.Bottleneck, "", nil},
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
	fmt.Fprintln(w, "The issue's memory target is read two ways: the analyzer's own peak, and the analyzer's with Jaeger's (the traces it serves held in memory); the time includes every round trip to Jaeger on loopback.")
}
