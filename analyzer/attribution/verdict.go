package attribution

import (
	"fmt"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/runfmt"
)

// Evidence is what the caller measured besides the breakdowns: Prometheus
// series over the run's window, the server's /health, the run's summary,
// the step cost and the host's CPU. A nil pointer or a zero field means
// "not measured", and a finding or recommendation that needs it is not
// made.
type Evidence struct {
	// PeakQueueDepth is max(llm_requests_waiting) over the run.
	PeakQueueDepth *float64
	// PeakBatch is max(llm_batch_size) over the run, MaxBatch the server's
	// configured maximum batch size (/health; 0: unknown).
	PeakBatch *float64
	MaxBatch  int
	// CPU is the server process's CPU use over the run's own window, as a
	// share of the cores it may use, e.g. 0.97.
	CPU *float64
	// Device is where the model runs, "cpu" or "cuda" (/health); "" when
	// unknown. DType is the weights' type there ("f32", "bf16", "f16";
	// "" when unknown): the same device streams half the bytes in bf16.
	Device string
	DType  string
	// PrefillFit is prefill time against prompt length (FitPrefill).
	PrefillFit *runfmt.Fit
	// StepCost is what split decode into own and shared, or why it did not.
	StepCost *runfmt.StepCost
	// Host is the CPU the server's busy engine got against what it asked
	// for (HostFromSteps, HostFromCounters).
	Host *runfmt.Host
	// Load is what the load generator delivered (CheckLoad).
	Load *runfmt.Load
	// Concurrency is the peak number of VUs (or requests in flight); 0 when
	// unknown.
	Concurrency float64
	// Failures are the failed requests by error class, the most first:
	// what the verdict says when no request succeeded.
	Failures []Failure
}

// Failure is how many requests failed with one error class
// (runfmt.ErrorConnect, ...), and the first one's error.
type Failure struct {
	Class string
	Count int
	First string
}

// failureAdvice is what to do when no request succeeded, by the class
// of most of the failures, and what those requests had in common.
var failureAdvice = map[string][2]string{
	runfmt.ErrorConnect: {"check that the target is up and listening at the URL the script uses (-e TARGET=...)",
		"got no connection"},
	runfmt.ErrorHTTP: {"read the server's answers in requests.jsonl: a 4xx means the requests do not suit it (the URL's path, the protocol: -e PROTOCOL=..., the model name), a 5xx that it failed",
		"were answered with an error status"},
	runfmt.ErrorTimeout: {"raise the requests' timeout, or lower the load until a request finishes",
		"ran out of time"},
	runfmt.ErrorProtocol: {"check that the protocol the script speaks (-e PROTOCOL=...) is the one the server serves",
		"had answers that could not be read as the protocol expected"},
	runfmt.ErrorStream: {"look at the server's log: it reported an error inside the streams",
		"carried an error event in their streams"},
	runfmt.ErrorTruncated: {"look at the server's log, and at anything between it and the load generator (a proxy's timeout)",
		"had streams that ended before their end marker"},
	runfmt.ErrorCanceled: {"let the run go on longer: it stopped before any request finished",
		"were still in flight when the run stopped"},
}

// failedVerdict is the verdict of a run in which no request succeeded.
func failedVerdict(v runfmt.Verdict, fs []Failure) (runfmt.Verdict, []runfmt.Recommendation) {
	v.Summary = "no successful requests: nothing to attribute"
	if len(fs) == 0 {
		return v, []runfmt.Recommendation{}
	}
	n := 0
	for _, f := range fs {
		n += f.Count
		v.Evidence = append(v.Evidence, fmt.Sprintf("%d failed with %s, the first: %s", f.Count, f.Class, f.First))
	}
	top := fs[0]
	v.Kind, v.Bottleneck = KindFailed, top.Class
	v.Summary = fmt.Sprintf("no successful requests: %d of %d failed with %s (%s)", top.Count, n, top.Class, top.First)
	advice, ok := failureAdvice[top.Class]
	if !ok {
		advice = [2]string{"read the errors in requests.jsonl", "failed"}
	}
	because := fmt.Sprintf("no request succeeded, and %d of the %d %s", top.Count, n, advice[1])
	return v, []runfmt.Recommendation{{Action: advice[0], Because: because, Evidence: v.Evidence[:1]}}
}

// Thresholds of the evidence.
const (
	// CPUSaturated is the share of its cores from which the server counts
	// as CPU-saturated.
	CPUSaturated = 0.9
	// MinFitR2 is the least R² of the prefill fit for "shorten prompts":
	// below it, prompt length does not explain prefill time.
	MinFitR2 = 0.5
)

// The kinds of runfmt.Verdict.Kind.
const (
	KindLoadGenerator = "load-generator"
	KindHostContended = "host-contended"
	KindQueue         = "queue"
	KindCompute       = "compute"
	KindBatch         = "batch"
	KindEngine        = "engine-loop"
	KindNetwork       = "network"
	KindServer        = "server"
	KindUndetermined  = "undetermined"
	KindUnknown       = "unknown"
	KindFailed        = "failed" // no request succeeded: the bottleneck is the error class
)

// Verdict names what limited the run, with the measured facts beside it,
// and the recommendations that rest on them. Its rules, in order:
//
//  1. The shares come from one source of breakdowns (Primary): never a mix
//     of requests split by spans and requests that were not.
//  2. The classes' shares of the p95 band (Classes) are bootstrapped over
//     the requests (BootstrapShares). When the largest class is the
//     largest in fewer than MinAgreement of the resamples, no single class
//     is named: the verdict is undetermined, with the top classes and their
//     intervals. When the largest is unsplit (neither spans nor timings
//     from the server), it is undetermined too.
//  3. A load generator that fell short (CheckLoad: dropped iterations,
//     requests started late) is the headline; what the server did at the
//     load it got is a qualification, and only the load generator's
//     recommendation is made.
//  4. A contended host (Contended: the busy engine got too little of the
//     CPU it asked for) is the headline when the server's own work (queue,
//     compute, batch, engine loop) dominates: the model is not slow, it is
//     starved, and no GPU is recommended.
//  5. Otherwise the class names the finding: queue-bound, compute-bound,
//     batch-bound, engine-loop-bound, network-bound, server-bound.
func Verdict(bs []runfmt.Breakdown, ev Evidence) (runfmt.Verdict, []runfmt.Recommendation) {
	v := runfmt.Verdict{Kind: KindUnknown, Bottleneck: "unknown", Evidence: []string{}}
	recs := []runfmt.Recommendation{}
	prim := Primary(bs)
	if prim == "" {
		return failedVerdict(v, ev.Failures)
	}
	basis := Only(bs, prim)
	sh := BootstrapShares(basis)
	if sh.Top == "" || sh.Band.TotalMS <= 0 {
		v.Summary = "the successful requests took no measurable time"
		return v, recs
	}
	v.Agreement, v.Shares = sh.Agreement, sh.Sorted()
	okAll := 0
	for _, b := range bs {
		if b.OK {
			okAll++
		}
	}
	v.Basis = basisText(prim, sh.Requests, okAll)

	f := findings{sh: sh, comp: sh.Band.MeanMS, total: sh.Band.TotalMS, ev: ev, facts: evidenceFacts(ev)}
	srv := f.server()

	// The evidence: the band, the classes with their intervals, the parts,
	// the measured facts.
	v.Evidence = append(v.Evidence, fmt.Sprintf("p95 band: %d of %s, mean total %.1f ms", sh.Band.Requests, v.Basis, sh.Band.TotalMS))
	for _, s := range v.Shares {
		if s.Share >= 0.05 {
			v.Evidence = append(v.Evidence, fmt.Sprintf("%s (%s) is %s of p95 latency", s.Class, strings.Join(s.Parts, ", "), shareText(s)))
		}
	}
	v.Evidence = append(v.Evidence, fmt.Sprintf("the largest class, %s, stayed the largest in %.0f %% of %d bootstrap resamples of the requests", sh.Top, 100*sh.Agreement, BootstrapResamples))
	for _, p := range runfmt.Parts {
		if f.share(p) >= 0.05 {
			v.Evidence = append(v.Evidence, f.pctOf(p))
		}
	}
	v.Evidence = append(v.Evidence, f.facts.all...)
	v.Qualifications = append(v.Qualifications, basisQualifications(bs, prim, sh.Top)...)

	contended := Contended(ev.Host)
	short := ev.Load != nil && ev.Load.Short || srv.kind == KindLoadGenerator
	switch {
	case short:
		v.Kind, v.Bottleneck = KindLoadGenerator, "load_generator"
		if srv.kind == KindLoadGenerator {
			v.Bottleneck = runfmt.PartClientQueue
		}
		v.Summary = "load-generator-bound: it could not deliver the load the script asked for"
		if lf := loadFacts(ev.Load); len(lf) > 0 {
			v.Summary += ": " + lf[0]
		} else {
			v.Summary += ": " + srv.summary
		}
		if srv.kind != KindLoadGenerator {
			v.Qualifications = append(v.Qualifications, "at the load it did deliver, the server was "+srv.summary)
		}
		if contended {
			v.Qualifications = append(v.Qualifications, "the host was contended: "+hostFacts(ev.Host)[0])
		}
		recs = append(recs, f.raiseVUs())
		if contended {
			recs = append(recs, f.ownCores())
		}
		return v, recs
	case contended && slices.Contains([]string{KindQueue, KindCompute, KindBatch, KindEngine, KindUndetermined}, srv.kind):
		h := ev.Host
		v.Kind, v.Bottleneck = KindHostContended, "host_cpu"
		v.Summary = fmt.Sprintf("host-contended: while its engine was busy, the server got %.2f of the %s it asked for (%.0f %% short), so its steps waited for CPU",
			h.GotCores, plural(h.AskedCores, "core"), 100*h.Starved)
		if h.StepSlowdown > 0 {
			v.Summary += fmt.Sprintf("; its decode steps took %.2f× their calibrated time", h.StepSlowdown)
		}
		v.Qualifications = append(v.Qualifications, "the latency's composition: "+srv.summary+"; that time is spent on a CPU shared with other work, not on a slow model")
		recs = append(recs, f.ownCores())
		for _, r := range srv.recs {
			if r.Action == actionRaiseBatch {
				recs = append(recs, r)
			}
		}
		return v, recs
	}
	v.Kind, v.Bottleneck, v.Summary = srv.kind, srv.bottleneck, srv.summary
	if contended {
		v.Qualifications = append(v.Qualifications, "the host was contended: "+hostFacts(ev.Host)[0])
		recs = append(recs, f.ownCores())
	}
	recs = append(recs, srv.recs...)
	return v, recs
}

// Actions of the recommendations that other code looks for.
const (
	actionRaiseBatch = "raise the max batch size"
	actionRaiseVUs   = "the load generator could not keep up: raise maxVUs (or preAllocatedVUs), or split the load with --execution-segment"
	actionOwnCores   = "give the server cores of its own"
	actionGPU        = "move to a GPU"
)

// findings holds what the rules look at.
type findings struct {
	sh    Shares
	comp  map[string]float64 // the p95 band's mean ms of each part
	total float64
	ev    Evidence
	facts facts
}

// finding is what the server's side of the latency says.
type finding struct {
	kind, bottleneck, summary string
	recs                      []runfmt.Recommendation
}

func (f findings) share(p string) float64 { return f.comp[p] / f.total }

func (f findings) pctOf(p string) string {
	return fmt.Sprintf("%s is %.0f %% of p95 latency (%.1f ms)", p, 100*f.share(p), f.comp[p])
}

// best is the largest part of a class in the p95 band.
func (f findings) best(class string) string {
	top := ""
	for _, c := range Classes {
		if c.Name != class {
			continue
		}
		for _, p := range c.Parts {
			if top == "" || f.comp[p] > f.comp[top] {
				top = p
			}
		}
	}
	return top
}

func (f findings) classShare(class string) runfmt.Share {
	for _, s := range f.sh.Sorted() {
		if s.Class == class {
			return s
		}
	}
	return runfmt.Share{Class: class}
}

func (f findings) rec(action, because string, evidence ...string) runfmt.Recommendation {
	var e []string
	for _, s := range evidence {
		if s != "" {
			e = append(e, s)
		}
	}
	return runfmt.Recommendation{Action: action, Because: because, Evidence: e}
}

// server reads the largest class of the p95 band.
func (f findings) server() finding {
	top := f.sh.Top
	cs := f.classShare(top)
	best := f.best(top)
	if f.sh.Agreement < MinAgreement {
		var parts []string
		for _, s := range f.sh.Sorted()[:min(3, len(f.sh.Sorted()))] {
			parts = append(parts, s.Class+" "+shareText(s))
		}
		sum := fmt.Sprintf("no single bottleneck: %s of p95 latency; the largest class changed in %.0f %% of the resamples of the requests",
			strings.Join(parts, ", "), 100*(1-f.sh.Agreement))
		return finding{kind: KindUndetermined, bottleneck: "none", summary: sum, recs: []runfmt.Recommendation{
			f.rec("measure more requests (a longer run) before changing anything",
				"the classes' shares overlap within their intervals: this run cannot tell which one limits it",
				fmt.Sprintf("the largest class, %s, was the largest in %.0f %% of %d resamples", top, 100*f.sh.Agreement, BootstrapResamples))}}
	}
	fin := finding{bottleneck: best}
	switch top {
	case ClassUnsplit:
		fin.kind, fin.bottleneck = KindUndetermined, "none"
		fin.summary = fmt.Sprintf("cannot tell where the server's time went: the requests carry neither server spans nor server timings, and unsplit (server and network together) is %s of p95 latency", shareText(cs))
		fin.recs = append(fin.recs, f.rec("send the server's spans to Jaeger (refserver --otlp-endpoint), or measure a server that reports its timings in its stream",
			"without them the time after the request was written cannot be split into network, queue and model", f.pctOf(runfmt.PartUnsplit)))
	case ClassQueue:
		fin.kind = KindQueue
		fin.summary = fmt.Sprintf("queue-bound: server_queue is %s of p95 latency", shareText(cs))
		var why []string
		if f.ev.PeakQueueDepth != nil {
			why = append(why, fmt.Sprintf("queue depth peaked at %.0f", *f.ev.PeakQueueDepth))
		}
		if f.ev.MaxBatch > 0 {
			why = append(why, fmt.Sprintf("the batch was capped at %d", f.ev.MaxBatch))
		}
		if len(why) > 0 {
			fin.summary += "; " + strings.Join(why, " while ")
		}
		if f.facts.batchAtCap != "" {
			fin.recs = append(fin.recs, f.rec(actionRaiseBatch,
				"requests waited in the server's queue while every batch slot was taken: a larger batch admits them sooner, memory permitting",
				f.pctOf(best), f.facts.batchAtCap, f.facts.queue))
		}
		if f.facts.cpuSaturated != "" && !Contended(f.ev.Host) {
			fin.recs = append(fin.recs, f.rec("add a replica",
				"requests queued while the server's CPU was saturated: more batch slots would not run faster on the same cores", f.pctOf(best), f.facts.cpuSaturated))
			if f.ev.Device == "cpu" {
				fin.recs = append(fin.recs, f.rec(actionGPU,
					"the model runs on a saturated CPU: a GPU runs each batch step many times faster", f.pctOf(best), f.facts.cpuSaturated, f.facts.device))
				fin.recs = append(fin.recs, f.narrowerWeights(best)...)
			}
		}
	case ClassCompute:
		fin.kind = KindCompute
		name := best
		if best == runfmt.PartDecode {
			name = "decode (own and shared not told apart)"
		}
		fin.summary = fmt.Sprintf("compute-bound: prefill and decode are %s of p95 latency, %s alone %.0f %%", shareText(cs), name, 100*f.share(best))
		switch {
		case best == runfmt.PartPrefill:
			if fit := f.ev.PrefillFit; fit != nil && fit.Slope > 0 && fit.R2 >= MinFitR2 {
				fin.recs = append(fin.recs, f.rec("shorten prompts",
					fmt.Sprintf("prefill grows by %.3f ms per input token: shorter prompts (or a cached prefix) cut time to first token", fit.Slope),
					f.pctOf(best), f.facts.fit))
			}
		case f.ev.Device == "cpu" && !Contended(f.ev.Host):
			fin.recs = append(fin.recs, f.rec(actionGPU, "decode is the model's own compute, the model runs on a CPU, and the CPU was not contended",
				f.pctOf(best), f.facts.device, f.facts.host))
			fin.recs = append(fin.recs, f.narrowerWeights(best)...)
		}
	case ClassBatch:
		fin.kind = KindBatch
		fin.summary = fmt.Sprintf("batch-bound: decode_shared (what the batch's other sequences added to each step) is %s of p95 latency", shareText(cs))
		fin.recs = append(fin.recs, f.rec("lower the max batch size, or add a replica",
			"each decode step took longer for the other sequences in the batch than this one's token alone would: a smaller batch cuts the time per token, a replica keeps the throughput",
			f.pctOf(best), f.facts.batch, f.facts.stepCost))
	case ClassEngine:
		fin.kind = KindEngine
		fin.summary = fmt.Sprintf("engine-loop-bound: between_steps (the engine's own work between its batched steps, not other sequences) is %s of p95 latency", shareText(cs))
		fin.recs = append(fin.recs, f.rec("look at what the engine does between steps: for refserver, a shorter --admit-wait holds the next step less for arriving requests",
			"the decode window went to the gaps between the engine's steps, not to the steps", f.pctOf(best)))
	case ClassClient:
		fin.kind = KindLoadGenerator
		fin.summary = fmt.Sprintf("client_queue is %s of p95 latency: the load generator started requests late", shareText(cs))
	case ClassNetwork:
		fin.kind = KindNetwork
		fin.summary = fmt.Sprintf("network-bound: %s is %.0f %% of p95 latency (connecting, sending and in flight: %s)", best, 100*f.share(best), shareText(cs))
		fin.recs = append(fin.recs, f.rec("bring the load generator closer to the server (same host or zone), or check the link",
			"requests and tokens spent their time in flight between the client and the server", f.pctOf(best)))
	default: // ClassServer
		fin.kind = KindServer
		fin.summary = fmt.Sprintf("server-bound: %s is %.0f %% of p95 latency (the server's handling outside the model: %s)", best, 100*f.share(best), shareText(cs))
		fin.recs = append(fin.recs, f.rec("look at the server's request handling outside the model (HTTP, tokenizer, stream writes)",
			"the server spent the time in its handler, not in the queue or the model", f.pctOf(best)))
	}
	return fin
}

// narrowerWeights recommends weights of fewer bytes to a model on a CPU
// whose run says which type its weights are: a decode step reads every
// weight once, and refserver's bf16 and int8 decode steps take 0.5–0.6
// and about 0.3 of f32's (docs/BENCHMARKS.md, "Weight types on the CPU").
// Nothing when the type is unknown (a server other than refserver) or
// already int8, nor on a GPU, where no such measurement was made.
func (f findings) narrowerWeights(best string) []runfmt.Recommendation {
	var action, because string
	switch dev, dt := f.ev.Device, f.ev.DType; {
	case dev == "cpu" && dt == "f32":
		action = "serve narrower weights: refserver --dtype bf16 (half the bytes) or int8 (a quarter)"
		because = "each decode step reads every weight once, so its time follows the weights' bytes; what each type changes in the logits is measured in docs/BENCHMARKS.md (\"Accuracy of the weight types\")"
	case dev == "cpu" && (dt == "bf16" || dt == "f16"):
		action = "serve narrower weights: refserver --dtype int8 (half the bytes of " + dt + ")"
		because = "each decode step reads every weight once, so its time follows the weights' bytes; int8 costs more accuracy than " + dt + " (docs/BENCHMARKS.md, \"Accuracy of the weight types\")"
	default:
		return nil
	}
	return []runfmt.Recommendation{f.rec(action, because, f.pctOf(best), f.facts.device)}
}

func (f findings) raiseVUs() runfmt.Recommendation {
	e := loadFacts(f.ev.Load)
	if f.comp[runfmt.PartClientQueue] > 0 {
		e = append(e, f.pctOf(runfmt.PartClientQueue))
	}
	return f.rec(actionRaiseVUs,
		"iterations started late or were dropped, so the server saw less load than the scenario asked for: fix the load first, then measure the server again", e...)
}

func (f findings) ownCores() runfmt.Recommendation {
	h := f.ev.Host
	return f.rec(actionOwnCores,
		fmt.Sprintf("other work on the server's cores took %.0f %% of the CPU its busy engine asked for: pin the server to cores nothing else uses (the load generator included), or give it fewer compute threads than free cores", 100*h.Starved),
		hostFacts(h)...)
}

// shareText writes a share and its interval, e.g. "61 % [55–66 %]".
func shareText(s runfmt.Share) string {
	if s.Hi <= 0 || s.Lo == s.Hi {
		return fmt.Sprintf("%.0f %%", 100*s.Share)
	}
	return fmt.Sprintf("%.0f %% [%.0f–%.0f %%]", 100*s.Share, 100*s.Lo, 100*s.Hi)
}

// basisText says which requests the shares come from.
func basisText(src string, n, all int) string {
	what := map[string]string{SourceTrace: "traced", SourceServer: "untraced", SourceClient: "client-only"}[src]
	of := ""
	if n != all {
		of = fmt.Sprintf(" of %d", all)
	}
	how := map[string]string{SourceServer: " (split by the server's timings)"}[src]
	return fmt.Sprintf("%d %s requests%s%s", n, what, of, how)
}

// basisQualifications say what the shares leave out: the requests of the
// other sources, and whether they point the same way.
func basisQualifications(bs []runfmt.Breakdown, prim, top string) []string {
	var out []string
	switch prim {
	case SourceServer:
		out = append(out, "no server spans for these requests: split by the timings the server sent in its stream; tokenize is counted in prefill, and decode is not split into own and shared")
	case SourceClient:
		out = append(out, "neither server spans nor server timings: the time after the request was written is one part")
	}
	for _, src := range sources {
		if src == prim {
			continue
		}
		other := Only(bs, src)
		n := 0
		for _, b := range other {
			if b.OK {
				n++
			}
		}
		if n == 0 {
			continue
		}
		what := map[string]string{SourceTrace: "with server spans", SourceServer: "without server spans (split by the server's timings)", SourceClient: "with neither spans nor server timings"}[src]
		s := fmt.Sprintf("%d other requests %s are left out of these shares", n, what)
		if o := BootstrapShares(other); o.Top != "" && n >= 3 {
			if o.Top == top {
				s += fmt.Sprintf("; their largest class is also %s (%.0f %%)", top, 100*o.Class[top])
			} else {
				s += fmt.Sprintf("; their largest class is %s (%.0f %%), not %s", o.Top, 100*o.Class[o.Top], top)
			}
		}
		out = append(out, s)
	}
	return out
}

// facts are the Evidence as sentences; "" where not measured.
type facts struct {
	queue, batch, batchAtCap, cpu, cpuSaturated, device, fit, stepCost, host, concurrency string
	all                                                                                   []string
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
		f.cpu = fmt.Sprintf("over the run, the server's process used %.0f %% of the cores it may use", 100**ev.CPU)
		if *ev.CPU >= CPUSaturated {
			f.cpuSaturated = f.cpu
		}
	}
	if ev.Device != "" {
		f.device = "device: " + ev.Device
		if ev.DType != "" {
			f.device += ", " + ev.DType + " weights"
		}
	}
	if fit := ev.PrefillFit; fit != nil {
		f.fit = fmt.Sprintf("%s = %.2f + %.3f × %s (R² %.2f, %d requests)", fit.Y, fit.Intercept, fit.Slope, fit.X, fit.R2, fit.N)
	}
	if sc := ev.StepCost; sc != nil {
		if sc.Identified {
			f.stepCost = "decode split into own and shared: " + sc.Reason
		} else {
			f.stepCost = "decode not split into own and shared: " + sc.Reason
		}
	}
	if hf := hostFacts(ev.Host); len(hf) > 0 {
		f.host = strings.Join(hf, "; ")
	}
	if ev.Concurrency > 0 {
		f.concurrency = fmt.Sprintf("concurrency peaked at %.0f", ev.Concurrency)
	}
	for _, s := range []string{f.queue, f.batch, f.cpu, f.device, f.fit, f.stepCost} {
		if s != "" {
			f.all = append(f.all, s)
		}
	}
	f.all = append(f.all, hostFacts(ev.Host)...)
	f.all = append(f.all, loadFacts(ev.Load)...)
	if f.concurrency != "" {
		f.all = append(f.all, f.concurrency)
	}
	return f
}
