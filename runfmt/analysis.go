package runfmt

import (
	"path/filepath"
	"time"
)

// The parts a request's latency is split into (DESIGN.md, Attribution), in
// timeline order. They are disjoint, and with the unexplained remainder
// they add up to the request's total latency (Breakdown.TotalMS). A
// breakdown uses the parts its source can measure: the split ones
// (decode_own, decode_shared) only where the split was identified, the
// whole ones (decode, unsplit) where it was not.
const (
	PartClientQueue = "client_queue" // scheduled → the client call began (arrival-rate executors)
	PartConnectSend = "connect_send" // call began → request written: connection wait, connect, TLS, send
	PartNetwork     = "network"      // request in flight to the server, and the last token's way back to the client
	// PartUnsplit is request written → last token when nothing from the
	// server (no spans, no timings in the stream) could split it: server
	// and network together.
	PartUnsplit      = "unsplit"
	PartServerOther  = "server_other"  // server time inside its span that no child span covers (HTTP parsing, handler)
	PartTokenize     = "tokenize"      // tokenize_input
	PartServerQueue  = "server_queue"  // queue_wait: admitted → scheduled into the running batch
	PartPrefill      = "prefill"       // prompt forward pass, up to the first token
	PartDecode       = "decode"        // decode steps, whole: own and shared not told apart (not identified, or not measured)
	PartDecodeOwn    = "decode_own"    // decode steps, what this request's token would cost in a batch of its own
	PartDecodeShared = "decode_shared" // decode steps, the rest: what the batch's other sequences added to each step
	PartBetweenSteps = "between_steps" // decode window time between this request's engine steps: the engine loop's own work
	PartDetokenize   = "detokenize"    // decode_output: token ids → text (summed)
	PartStreamWrite  = "stream_write"  // writing and flushing SSE events (summed)
)

// Parts lists the parts in timeline order.
var Parts = []string{
	PartClientQueue, PartConnectSend, PartNetwork, PartUnsplit, PartServerOther, PartTokenize, PartServerQueue, PartPrefill,
	PartDecode, PartDecodeOwn, PartDecodeShared, PartBetweenSteps, PartDetokenize, PartStreamWrite,
}

// Sources of Breakdown.Source and Aggregate.Source: what a request's
// breakdown was built from.
const (
	SourceTrace  = "trace"  // the client's record and the server's spans
	SourceServer = "server" // the client's record and the timings the server sent in its stream (no spans)
	SourceClient = "client" // the client's record alone: the server's time is one part, unsplit
)

// Analysis is analysis.json: where a run's latency went, and why.
type Analysis struct {
	Format  int       `json:"format"`
	Run     string    `json:"run"` // the run's ID
	Created time.Time `json:"created"`
	// Jaeger and Prometheus are the endpoints the data came from.
	Jaeger     string   `json:"jaeger,omitempty"`
	Prometheus string   `json:"prometheus,omitempty"`
	Coverage   Coverage `json:"coverage"`
	// Requests has one breakdown per request of requests.jsonl, in its
	// order.
	Requests []Breakdown `json:"requests"`
	// Aggregate summarizes the requests the verdict rests on: those of one
	// source (Aggregate.Source), never a mix. Others holds the aggregate
	// of each other source that some requests had, e.g. the requests
	// whose trace was missing.
	Aggregate Aggregate   `json:"aggregate"`
	Others    []Aggregate `json:"other_sources,omitempty"`
	Verdict   Verdict     `json:"verdict"`
	// Recommendations rest each on a measured fact (Evidence); none is
	// made without one.
	Recommendations []Recommendation `json:"recommendations"`
	Saturation      *Saturation      `json:"saturation,omitempty"`
	Clock           Clock            `json:"clock"`
	// PrefillFit is prefill time against prompt length, when the run's
	// prompts vary enough to fit it.
	PrefillFit *Fit `json:"prefill_fit,omitempty"`
	// StepFit is a decode step's duration against its batch size, fitted
	// to this run's engine.step spans, when it has two batch sizes or more.
	StepFit *Fit `json:"step_fit,omitempty"`
	// StepCost is what decided the split of decode into own and shared:
	// the server's start-up calibration, or StepFit, and whether it
	// identifies the split.
	StepCost *StepCost `json:"step_cost,omitempty"`
	// Host is the CPU the server got while its engine was busy, against
	// what it asked for; nil when the server did not say.
	Host *Host `json:"host,omitempty"`
	// Load is whether the load generator delivered the load the script
	// asked for.
	Load   *Load    `json:"load,omitempty"`
	Series []Series `json:"series,omitempty"`
}

// StepCost is a decode step's cost against its batch size, which splits
// a step into one sequence's own share (what a batch of one costs) and the
// rest. Identified says whether it is known well enough to split; when it
// is not, decode stays whole (PartDecode) and Reason says why.
type StepCost struct {
	// Source is "calibration" (the server timed decode steps of each batch
	// size when it started, /health's engine.step_cost) or "fit" (a line
	// fitted to this run's engine.step spans, StepFit).
	Source     string          `json:"source"`
	Identified bool            `json:"identified"`
	Reason     string          `json:"reason"`
	Points     []StepCostPoint `json:"points,omitempty"` // the calibration
	Fit        *Fit            `json:"fit,omitempty"`    // the fit
	// OwnShare is a sequence's own share of a step at the run's mean
	// decode batch size (MeanBatch), with its 95 % interval.
	MeanBatch float64 `json:"mean_batch,omitempty"`
	OwnShare  float64 `json:"own_share,omitempty"`
	OwnLo     float64 `json:"own_share_lo,omitempty"`
	OwnHi     float64 `json:"own_share_hi,omitempty"`
}

// StepCostPoint is the calibrated cost of a decode step of Batch
// sequences: the median of the N timed steps and their spread (half the
// interquartile range), in milliseconds.
type StepCostPoint struct {
	Batch    int     `json:"batch"`
	N        int     `json:"n,omitempty"`
	MS       float64 `json:"ms"`
	SpreadMS float64 `json:"spread_ms"`
	CPUMS    float64 `json:"cpu_ms,omitempty"` // the process's CPU time per step
}

// Host is what the server's process got of the machine while its engine
// was busy. A server whose busy engine gets much less CPU than it asked for
// is contended: something else on the host took the rest.
type Host struct {
	// Source is where the figures come from: "engine.step spans" or
	// "prometheus" (the engine's busy and CPU counters).
	Source string `json:"source"`
	// Threads are the engine's compute threads, CoresAllowed the cores the
	// process may run on (its affinity, e.g. "0-1"), NumAllowed their
	// count and GOMAXPROCS the Go runtime's limit.
	Threads      int    `json:"threads"`
	CoresAllowed string `json:"cores_allowed,omitempty"`
	NumAllowed   int    `json:"num_allowed,omitempty"`
	GOMAXPROCS   int    `json:"gomaxprocs,omitempty"`
	// AskedCores is what the busy engine asks for: one core per compute
	// thread, up to NumAllowed and GOMAXPROCS. GotCores is the process's
	// CPU time over the engine's busy time.
	AskedCores float64 `json:"asked_cores"`
	GotCores   float64 `json:"got_cores"`
	// Starved is 1 − GotCores/AskedCores (0 when it got all of it).
	Starved float64 `json:"starved"`
	// BusyShare is the engine's busy time over the run's duration.
	BusyShare float64 `json:"busy_share"`
	// StepSlowdown is the median of each decode step's duration over its
	// calibrated cost; 0 when unknown.
	StepSlowdown float64 `json:"step_slowdown,omitempty"`
	// CPUShare is the process's CPU over the run's own window, as a share
	// of the cores it may use; -1 when unknown.
	CPUShare float64 `json:"cpu_share"`
}

// Load is what the load generator delivered against what was asked.
type Load struct {
	Iterations       int64   `json:"iterations"`         // iterations started
	Dropped          int64   `json:"dropped_iterations"` // arrivals with no free VU (arrival-rate executors)
	DroppedShare     float64 `json:"dropped_share"`      // Dropped / (Iterations + Dropped)
	MaxVUs           int64   `json:"max_vus,omitempty"`
	ClientQueueP95MS float64 `json:"client_queue_p95_ms,omitempty"`
	ClientQueueShare float64 `json:"client_queue_share"`        // client_queue's share of the verdict's p95 band
	Short            bool    `json:"short"`                     // it could not deliver the asked load
	DeliveredPerS    float64 `json:"delivered_per_s,omitempty"` // requests completed per second
}

// Coverage counts what the analysis could and could not see.
type Coverage struct {
	Requests      int `json:"requests"`       // lines in requests.jsonl
	Analyzed      int `json:"analyzed"`       // requests with a breakdown
	MissingTraces int `json:"missing_traces"` // no trace in Jaeger within the wait
	// PartialTraces had a trace but not every span the server's
	// conventions promise (e.g. no decode span).
	PartialTraces int `json:"partial_traces"`
	// ServerTimings requests had no server spans but were split with the
	// timings the server sent in its stream (Source "server").
	ServerTimings int `json:"server_timings"`
	// ClientOnly requests were attributed from the client's record alone:
	// their server time is one part, unsplit.
	ClientOnly     int      `json:"client_only"`
	FailedRequests int      `json:"failed_requests"` // errors: not in the aggregates
	BadLines       int      `json:"bad_lines"`       // unreadable lines of requests.jsonl
	Implausible    int      `json:"implausible"`     // requests left out for a duration beyond runfmt.MaxPlausibleMS, negative or not finite
	SeriesErrors   int      `json:"series_errors"`   // PromQL queries that failed
	Notes          []string `json:"notes,omitempty"` // what could not be split, and why
}

// Breakdown is one request's latency split into parts, in milliseconds.
type Breakdown struct {
	Seq      int64              `json:"seq"`
	TraceID  string             `json:"trace_id,omitempty"`
	Scenario string             `json:"scenario,omitempty"`
	OK       bool               `json:"ok"`
	TotalMS  float64            `json:"total_ms"` // scheduled (or call start) → last token, as the user waited
	E2EMS    float64            `json:"e2e_ms"`   // request written → last token (the llm_e2e metric)
	TTFTMS   float64            `json:"ttft_ms"`
	Parts    map[string]float64 `json:"parts"`
	// UnexplainedMS is TotalMS minus the sum of Parts: time no measurement
	// covers. It may be negative when measurements overlap.
	UnexplainedMS float64  `json:"unexplained_ms"`
	Dominant      string   `json:"dominant"` // the largest part
	InputTokens   int      `json:"input_tokens"`
	OutputTokens  int      `json:"output_tokens"`
	MeanBatch     float64  `json:"mean_batch,omitempty"` // the decode's mean batch size, when known
	Source        string   `json:"source"`               // SourceTrace, SourceServer or SourceClient
	SLOMissed     []string `json:"slo_missed,omitempty"`
}

// Aggregate summarizes the breakdowns of the successful requests of one
// source.
type Aggregate struct {
	Source   string `json:"source,omitempty"` // SourceTrace, SourceServer or SourceClient; "" for a mix (older files)
	Requests int    `json:"requests"`
	// MeanShare is each part's mean share of the total, 0–1.
	MeanShare map[string]float64 `json:"mean_share"`
	// MeanMS is each part's mean, in ms.
	MeanMS map[string]float64 `json:"mean_ms"`
	// Bands are the requests around each percentile of the total (p50,
	// p95, p99): the composition of those requests, not a percentile of
	// each part.
	Bands []Band `json:"bands"`
	// SLOMisses groups the requests that missed an SLO by their dominant
	// part.
	SLOMisses []SLOGroup `json:"slo_misses,omitempty"`
	// Unexplained is the remainder's share of the total: mean and max of
	// |unexplained| / total over the requests.
	UnexplainedMeanPct float64 `json:"unexplained_mean_pct"`
	UnexplainedMaxPct  float64 `json:"unexplained_max_pct"`
}

// Band is the requests whose total lies in a percentile range.
type Band struct {
	Name     string             `json:"name"` // p50, p95, p99
	FromPct  float64            `json:"from_pct"`
	ToPct    float64            `json:"to_pct"`
	Requests int                `json:"requests"`
	TotalMS  float64            `json:"total_ms"` // their mean total
	MeanMS   map[string]float64 `json:"mean_ms"`  // their mean of each part
	Seqs     []int64            `json:"seqs"`     // which requests
}

// SLOGroup is the requests that missed an SLO and were dominated by one part.
type SLOGroup struct {
	Dominant string             `json:"dominant"`
	Requests int                `json:"requests"`
	MeanMS   map[string]float64 `json:"mean_ms"`
}

// Verdict names the bottleneck with its evidence.
type Verdict struct {
	// Kind is the class of the finding: load-generator, host-contended,
	// queue, compute, batch, engine, network, server, undetermined (the
	// evidence is within noise, or the time could not be split), failed
	// (no request succeeded: Bottleneck is the error class of most) or
	// unknown (nothing to attribute).
	Kind string `json:"kind"`
	// Bottleneck is the largest part of the finding's class, or "none"
	// (undetermined) or "unknown".
	Bottleneck string `json:"bottleneck"`
	// Summary is one sentence, e.g. "queue-bound: server_queue is 61 % of
	// p95 latency".
	Summary string `json:"summary"`
	// Evidence holds the measured facts it rests on.
	Evidence []string `json:"evidence"`
	// Qualifications are what limits the finding: a load the generator
	// did not deliver, a contended host, requests that could not be split.
	Qualifications []string `json:"qualifications,omitempty"`
	// Basis says which requests the shares come from, e.g. "48 traced
	// requests of 96".
	Basis string `json:"basis,omitempty"`
	// Agreement is the share of bootstrap resamples of the requests whose
	// largest class is the same as the run's (1 when every resample
	// agrees).
	Agreement float64 `json:"agreement"`
	// Shares are the classes' shares of the p95 band with their 95 %
	// bootstrap intervals, largest first.
	Shares []Share `json:"shares,omitempty"`
}

// Share is one class's share of the latency, 0–1, with its interval.
type Share struct {
	Class string   `json:"class"` // e.g. compute
	Parts []string `json:"parts"` // the parts it sums
	Share float64  `json:"share"`
	Lo    float64  `json:"lo"`
	Hi    float64  `json:"hi"`
}

// Recommendation is an action tied to the measured fact it rests on.
type Recommendation struct {
	Action   string   `json:"action"`   // e.g. "raise the max batch size"
	Because  string   `json:"because"`  // why, in a sentence
	Evidence []string `json:"evidence"` // the facts, with numbers
}

// Saturation is the capacity found by a sweep of rising load.
type Saturation struct {
	Points []LoadPoint `json:"points"`
	// Knee is the last point before throughput stops rising while latency
	// climbs; nil when the sweep did not reach it.
	Knee *LoadPoint `json:"knee,omitempty"`
	// CapacityAtSLO is the highest throughput (requests/s) whose
	// requests met the SLOs at their p95; 0 when none did.
	CapacityAtSLO float64 `json:"capacity_at_slo"`
	Note          string  `json:"note,omitempty"`
}

// LoadPoint is one level of offered load.
type LoadPoint struct {
	Label      string  `json:"label"`       // the stage or run, e.g. "8 VUs"
	Offered    float64 `json:"offered"`     // VUs (closed loop) or requests/s (open loop)
	Throughput float64 `json:"throughput"`  // completed requests/s
	Concurrent float64 `json:"concurrency"` // achieved concurrency by Little's law: throughput × mean latency
	TTFTP95MS  float64 `json:"ttft_p95_ms"`
	TotalP95MS float64 `json:"total_p95_ms"`
}

// Clock is what the analysis saw of the client and server clocks.
type Clock struct {
	// Checked is the number of requests whose server span could be laid
	// against the client's times.
	Checked int `json:"checked"`
	// Violations is how many server spans did not nest inside their
	// client span.
	Violations int `json:"violations"`
	// SkewMS is the estimated server − client clock offset, when the
	// violations show one; the breakdowns are corrected by it.
	SkewMS float64 `json:"skew_ms"`
	Note   string  `json:"note,omitempty"`
}

// Fit is a least-squares line y = Intercept + Slope·x, with the standard
// errors of its coefficients (0 when there are too few points for them).
type Fit struct {
	X           string  `json:"x"` // e.g. "input_tokens"
	Y           string  `json:"y"` // e.g. "prefill_ms"
	Slope       float64 `json:"slope"`
	Intercept   float64 `json:"intercept"`
	SlopeSE     float64 `json:"slope_se,omitempty"`
	InterceptSE float64 `json:"intercept_se,omitempty"`
	R2          float64 `json:"r2"`
	N           int     `json:"n"`
	Distinct    int     `json:"distinct,omitempty"` // distinct x values
}

// Series is one PromQL query over the run's window.
type Series struct {
	Name   string       `json:"name"`
	Query  string       `json:"query"`
	Unit   string       `json:"unit,omitempty"`
	Points [][2]float64 `json:"points"` // [unix seconds, value]
	Error  string       `json:"error,omitempty"`
}

// WriteAnalysis writes analysis.json into dir atomically.
func WriteAnalysis(dir string, a *Analysis) error {
	a.Format = Format
	return writeJSON(filepath.Join(dir, AnalysisFile), a)
}

// ReadAnalysis reads dir/analysis.json.
func ReadAnalysis(dir string) (*Analysis, error) {
	var a Analysis
	if err := readJSON(filepath.Join(dir, AnalysisFile), &a, &a.Format); err != nil {
		return nil, err
	}
	return &a, nil
}
