package attribution

import (
	"fmt"
	"strings"

	"github.com/llmbench/llmbench/loadgen/runfmt"
)

// Evidence is what the caller measured besides the traces: Prometheus
// series over the run's window, the server's /health and the run's
// summary. A nil pointer or a zero field means "not measured", and a
// recommendation that needs it is not made. The client_queue and network
// shares come from the Aggregate itself.
type Evidence struct {
	// PeakQueueDepth is max(llm_requests_waiting) over the run.
	PeakQueueDepth *float64
	// PeakBatch is max(llm_batch_size) over the run, MaxBatch the server's
	// configured maximum batch size (/health; 0: unknown).
	PeakBatch *float64
	MaxBatch  int
	// CPU is the server process's CPU use as a fraction of its cores,
	// rate(process_cpu_seconds_total) / cores at its peak, e.g. 0.97.
	CPU *float64
	// Device is where the model runs, "cpu" or "cuda" (/health); "" when
	// unknown.
	Device string
	// PrefillFit is prefill time against prompt length (FitPrefill).
	PrefillFit *runfmt.Fit
	// DroppedIterations is the run's dropped_iterations count.
	DroppedIterations int64
	// Concurrency is the peak number of VUs (or requests in flight); 0 when
	// unknown.
	Concurrency float64
}

// Thresholds of the evidence.
const (
	// CPUSaturated is the CPU fraction from which the server counts as
	// CPU-bound.
	CPUSaturated = 0.9
	// MinFitR2 is the least R² of the prefill fit for "shorten prompts":
	// below it, prompt length does not explain prefill time.
	MinFitR2 = 0.5
)

// Verdict names the bottleneck: the part with the largest share of the
// p95 band's latency (the mean shares when there is no p95 band), with the
// measured facts beside it. Bottleneck is "unknown" when there are no
// successful requests or no latency. Each recommendation rests on
// evidence and is made only when it exists:
//
//   - server_queue dominant and the batch at its configured cap (PeakBatch
//     ≥ MaxBatch): raise the max batch size;
//   - server_queue dominant and the CPU saturated: add a replica, and on a
//     CPU device move to a GPU;
//   - prefill dominant and a prefill fit with a positive slope and R² ≥
//     MinFitR2: shorten prompts;
//   - decode_shared dominant (measured from the decode spans' batch sizes
//     or engine steps): batch contention, lower the max batch size or add a
//     replica;
//   - decode_own dominant on a "cpu" device: move to a GPU;
//   - client_queue dominant, or dropped iterations: the load generator
//     could not keep up, raise maxVUs;
//   - network dominant: bring the load generator closer to the server.
func Verdict(a runfmt.Aggregate, ev Evidence) (runfmt.Verdict, []runfmt.Recommendation) {
	v := runfmt.Verdict{Bottleneck: "unknown", Evidence: []string{}}
	recs := []runfmt.Recommendation{}
	if a.Requests == 0 {
		v.Summary = "no successful requests: nothing to attribute"
		return v, recs
	}
	comp, total, where := composition(a)
	if total <= 0 {
		v.Summary = "the successful requests took no measurable time"
		return v, recs
	}
	share := func(p string) float64 { return comp[p] / total }
	best := ""
	for _, p := range runfmt.Parts {
		if comp[p] > 0 && (best == "" || comp[p] > comp[best]) {
			best = p
		}
	}
	if best == "" {
		v.Summary = "no part of the latency was measured"
		return v, recs
	}
	v.Bottleneck = best
	pctOf := func(p string) string {
		return fmt.Sprintf("%s is %.0f %% of %s latency (%.1f ms)", p, 100*share(p), where, comp[p])
	}

	if b, ok := band(a, "p95"); ok {
		v.Evidence = append(v.Evidence, fmt.Sprintf("p95 band: %d requests, mean total %.1f ms", b.Requests, b.TotalMS))
	}
	for _, p := range runfmt.Parts {
		if share(p) >= 0.05 {
			v.Evidence = append(v.Evidence, pctOf(p))
		}
	}
	facts := evidenceFacts(ev)
	v.Evidence = append(v.Evidence, facts.all...)

	compute := share(runfmt.PartPrefill) + share(runfmt.PartDecodeOwn) + share(runfmt.PartDecodeShared)
	switch best {
	case runfmt.PartServerQueue:
		v.Summary = fmt.Sprintf("queue-bound: server_queue is %.0f %% of %s latency", 100*share(best), where)
		var why []string
		if ev.PeakQueueDepth != nil {
			why = append(why, fmt.Sprintf("queue depth peaked at %.0f", *ev.PeakQueueDepth))
		}
		if ev.MaxBatch > 0 {
			why = append(why, fmt.Sprintf("the batch was capped at %d", ev.MaxBatch))
		}
		if len(why) > 0 {
			v.Summary += "; " + strings.Join(why, " while ")
		}
	case runfmt.PartPrefill, runfmt.PartDecodeOwn:
		v.Summary = fmt.Sprintf("compute-bound: prefill and decode are %.0f %% of %s latency, %s alone %.0f %%", 100*compute, where, best, 100*share(best))
	case runfmt.PartDecodeShared:
		v.Summary = fmt.Sprintf("batch-bound: decode_shared (waiting on the other sequences' steps) is %.0f %% of %s latency", 100*share(best), where)
	case runfmt.PartClientQueue:
		v.Summary = fmt.Sprintf("client-bound: client_queue is %.0f %% of %s latency: the load generator started requests late", 100*share(best), where)
	case runfmt.PartNetwork, runfmt.PartConnectSend:
		v.Summary = fmt.Sprintf("network-bound: %s is %.0f %% of %s latency", best, 100*share(best), where)
	default:
		v.Summary = fmt.Sprintf("server-bound: %s is %.0f %% of %s latency", best, 100*share(best), where)
	}

	add := func(action, because string, evidence ...string) {
		recs = append(recs, runfmt.Recommendation{Action: action, Because: because, Evidence: evidence})
	}
	switch best {
	case runfmt.PartServerQueue:
		if facts.batchAtCap != "" {
			e := []string{pctOf(best), facts.batchAtCap}
			if facts.queue != "" {
				e = append(e, facts.queue)
			}
			add("raise the max batch size",
				"requests waited in the server's queue while every batch slot was taken: a larger batch admits them sooner, memory permitting", e...)
		}
		if facts.cpuSaturated != "" {
			add("add a replica",
				"requests queued while the server's CPU was saturated: more batch slots would not run faster on the same cores", pctOf(best), facts.cpuSaturated)
			if ev.Device == "cpu" {
				add("move to a GPU",
					"the model runs on a saturated CPU: a GPU runs each batch step many times faster", pctOf(best), facts.cpuSaturated, facts.device)
			}
		}
	case runfmt.PartPrefill:
		if f := ev.PrefillFit; f != nil && f.Slope > 0 && f.R2 >= MinFitR2 {
			add("shorten prompts",
				fmt.Sprintf("prefill grows by %.3f ms per input token: shorter prompts (or a cached prefix) cut time to first token", f.Slope),
				pctOf(best), facts.fit)
		}
	case runfmt.PartDecodeShared:
		e := []string{pctOf(best)}
		if facts.batch != "" {
			e = append(e, facts.batch)
		}
		add("lower the max batch size, or add a replica",
			"decode spent its time on the other sequences' share of each batch step (batch contention): a smaller batch cuts the time per token, a replica keeps the throughput", e...)
	case runfmt.PartDecodeOwn:
		if ev.Device == "cpu" {
			add("move to a GPU", "decode is this request's own compute, and the model runs on a CPU", pctOf(best), facts.device)
		}
	case runfmt.PartNetwork:
		add("bring the load generator closer to the server (same host or zone), or check the link",
			"requests and tokens spent their time in flight between the client and the server", pctOf(best))
	}
	if best == runfmt.PartClientQueue || ev.DroppedIterations > 0 {
		var e []string
		if comp[runfmt.PartClientQueue] > 0 {
			e = append(e, pctOf(runfmt.PartClientQueue))
		}
		if ev.DroppedIterations > 0 {
			e = append(e, facts.dropped)
		}
		add("the load generator could not keep up: raise maxVUs (or preAllocatedVUs), or split the load with --execution-segment",
			"iterations started late or were dropped, so the server saw less load than the scenario asked for", e...)
	}
	return v, recs
}

// composition returns the mean composition the verdict rests on: the p95
// band's, or the mean of all requests when there is none; its total and a
// name for it.
func composition(a runfmt.Aggregate) (map[string]float64, float64, string) {
	if b, ok := band(a, "p95"); ok && b.TotalMS > 0 {
		return b.MeanMS, b.TotalMS, "p95"
	}
	total := 0.0
	for _, p := range runfmt.Parts {
		total += a.MeanMS[p]
	}
	return a.MeanMS, total, "mean"
}

func band(a runfmt.Aggregate, name string) (runfmt.Band, bool) {
	for _, b := range a.Bands {
		if b.Name == name {
			return b, true
		}
	}
	return runfmt.Band{}, false
}

// facts are the Evidence as sentences; "" where not measured.
type facts struct {
	queue, batch, batchAtCap, cpu, cpuSaturated, device, fit, dropped, concurrency string
	all                                                                            []string
}

func evidenceFacts(ev Evidence) facts {
	var f facts
	if ev.PeakQueueDepth != nil {
		f.queue = fmt.Sprintf("llm_requests_waiting peaked at %.0f", *ev.PeakQueueDepth)
	}
	if ev.PeakBatch != nil {
		f.batch = fmt.Sprintf("llm_batch_size peaked at %.0f", *ev.PeakBatch)
		if ev.MaxBatch > 0 {
			f.batch += fmt.Sprintf(", the configured maximum is %d", ev.MaxBatch)
			if *ev.PeakBatch >= float64(ev.MaxBatch) {
				f.batchAtCap = f.batch
			}
		}
	} else if ev.MaxBatch > 0 {
		f.batch = fmt.Sprintf("the configured maximum batch size is %d", ev.MaxBatch)
	}
	if ev.CPU != nil {
		f.cpu = fmt.Sprintf("the server used %.0f %% of its CPU cores", 100**ev.CPU)
		if *ev.CPU >= CPUSaturated {
			f.cpuSaturated = f.cpu
		}
	}
	if ev.Device != "" {
		f.device = "device: " + ev.Device
	}
	if fit := ev.PrefillFit; fit != nil {
		f.fit = fmt.Sprintf("%s = %.2f + %.3f × %s (R² %.2f, %d requests)", fit.Y, fit.Intercept, fit.Slope, fit.X, fit.R2, fit.N)
	}
	if ev.DroppedIterations > 0 {
		f.dropped = fmt.Sprintf("%d iterations dropped", ev.DroppedIterations)
	}
	if ev.Concurrency > 0 {
		f.concurrency = fmt.Sprintf("concurrency peaked at %.0f", ev.Concurrency)
	}
	for _, s := range []string{f.queue, f.batch, f.cpu, f.device, f.fit, f.dropped, f.concurrency} {
		if s != "" {
			f.all = append(f.all, s)
		}
	}
	return f
}
