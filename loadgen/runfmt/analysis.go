package runfmt

import (
	"path/filepath"
	"time"
)

// The parts a request's latency is split into (DESIGN.md, Attribution), in
// timeline order. They are disjoint, and with the unexplained remainder
// they add up to the request's total latency (Breakdown.TotalMS).
const (
	PartClientQueue  = "client_queue"  // scheduled → the client call began (arrival-rate executors)
	PartConnectSend  = "connect_send"  // call began → request written: connection wait, connect, TLS, send
	PartServerQueue  = "server_queue"  // queue_wait: admitted → scheduled into the running batch
	PartTokenize     = "tokenize"      // tokenize_input
	PartPrefill      = "prefill"       // prompt forward pass, up to the first token
	PartDecodeOwn    = "decode_own"    // decode steps, this request's own share of each batch step's compute
	PartDecodeShared = "decode_shared" // decode steps, the share spent on the other sequences of the batch (and between steps)
	PartDetokenize   = "detokenize"    // decode_output: token ids → text (summed)
	PartStreamWrite  = "stream_write"  // writing and flushing SSE events (summed)
	PartNetwork      = "network"       // request in flight to the server, and the last token's way back to the client
	PartServerOther  = "server_other"  // server time inside its span that no child span covers (HTTP parsing, handler)
)

// Parts lists the parts in timeline order.
var Parts = []string{
	PartClientQueue, PartConnectSend, PartNetwork, PartServerOther, PartTokenize, PartServerQueue, PartPrefill,
	PartDecodeOwn, PartDecodeShared, PartDetokenize, PartStreamWrite,
}

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
	Requests  []Breakdown `json:"requests"`
	Aggregate Aggregate   `json:"aggregate"`
	Verdict   Verdict     `json:"verdict"`
	// Recommendations rest each on a measured fact (Evidence); none is
	// made without one.
	Recommendations []Recommendation `json:"recommendations"`
	Saturation      *Saturation      `json:"saturation,omitempty"`
	Clock           Clock            `json:"clock"`
	// PrefillFit is prefill time against prompt length, when the run's
	// prompts vary enough to fit it.
	PrefillFit *Fit `json:"prefill_fit,omitempty"`
	// StepFit is a decode step's duration against its batch size, from
	// the engine.step spans, when the batch size varied: it decides how
	// much of a shared step is a request's own.
	StepFit *Fit     `json:"step_fit,omitempty"`
	Series  []Series `json:"series,omitempty"`
}

// Coverage counts what the analysis could and could not see.
type Coverage struct {
	Requests      int `json:"requests"`       // lines in requests.jsonl
	Analyzed      int `json:"analyzed"`       // requests with a breakdown
	MissingTraces int `json:"missing_traces"` // no trace in Jaeger within the wait
	// PartialTraces had a trace but not every span the server's
	// conventions promise (e.g. no decode span).
	PartialTraces int `json:"partial_traces"`
	// ClientOnly requests were attributed from the client's record alone:
	// their server time is one part, server_other, not split.
	ClientOnly     int      `json:"client_only"`
	FailedRequests int      `json:"failed_requests"` // errors: not in the aggregates
	BadLines       int      `json:"bad_lines"`       // unreadable lines of requests.jsonl
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
	Source        string   `json:"source"`               // "trace" (client and server spans) or "client" (client record only)
	SLOMissed     []string `json:"slo_missed,omitempty"`
}

// Aggregate summarizes the breakdowns of the successful requests.
type Aggregate struct {
	Requests int `json:"requests"`
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
	Bottleneck string   `json:"bottleneck"` // a part, or "none" / "unknown"
	Summary    string   `json:"summary"`    // one sentence, e.g. "queue-bound: server_queue is 61 % of p95 latency"
	Evidence   []string `json:"evidence"`   // the measured facts it rests on
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

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	X         string  `json:"x"` // e.g. "input_tokens"
	Y         string  `json:"y"` // e.g. "prefill_ms"
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	R2        float64 `json:"r2"`
	N         int     `json:"n"`
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
