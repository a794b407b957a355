package runfmt

import (
	"fmt"
	"time"
)

// Summary is summary.json: the end-of-test aggregates, as k6's
// handleSummary data has them, plus the LLM headline numbers.
type Summary struct {
	Format   int       `json:"format"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration_s"`
	// Metrics maps a metric name, or a tagged sub-metric such as
	// llm_ttft{scenario:chat}, to its aggregate.
	Metrics map[string]Metric `json:"metrics"`
	// Groups is the root group with its checks and nested groups.
	Root Group `json:"root_group"`
	// LLM holds the headline numbers the reports start with.
	LLM *LLMSummary `json:"llm,omitempty"`
	// Thresholds lists every threshold with its result; ThresholdsOK is
	// false when any failed.
	ThresholdsOK bool `json:"thresholds_ok"`
	// Aborted names the threshold that aborted the run, when one did.
	Aborted string `json:"aborted_by,omitempty"`
}

// Metric is one metric's aggregate.
type Metric struct {
	Type     string `json:"type"`     // counter, gauge, rate, trend
	Contains string `json:"contains"` // default, time, data
	// Values holds what k6 reports for the type: counter count and rate;
	// gauge value, min and max; rate rate, passes and fails; trend avg,
	// min, med, max, p(90), p(95), p(99) (and any other requested
	// percentiles).
	Values map[string]float64 `json:"values"`
	// Histogram is a trend's distribution in mergeable form, so that runs
	// split across processes merge exactly.
	Histogram *Histogram `json:"histogram,omitempty"`
	// Thresholds maps each threshold expression to whether it held.
	Thresholds map[string]Threshold `json:"thresholds,omitempty"`
}

// Threshold is one threshold expression's result.
type Threshold struct {
	OK          bool `json:"ok"`
	AbortOnFail bool `json:"abort_on_fail,omitempty"`
}

// Histogram is a sparse log-bucketed histogram of positive values: bucket i
// holds values in (Gamma^(i-1), Gamma^i]; zero and negative values are
// counted in Zero. Merging two histograms with the same Gamma adds their
// counts, so the merge is exact.
type Histogram struct {
	Gamma   float64       `json:"gamma"`
	Zero    int64         `json:"zero,omitempty"`
	Buckets map[int]int64 `json:"buckets"`
	Count   int64         `json:"count"`
	Sum     float64       `json:"sum"`
	Min     float64       `json:"min"`
	Max     float64       `json:"max"`
}

// Group is a k6 group with its checks.
type Group struct {
	Name   string  `json:"name"`
	Path   string  `json:"path"`
	Checks []Check `json:"checks,omitempty"`
	Groups []Group `json:"groups,omitempty"`
}

// Check is one check() name's tally.
type Check struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}

// LLMSummary is the headline of a run: the numbers the reports and the
// nightly job compare. Latencies are in milliseconds.
type LLMSummary struct {
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	ErrorRate     float64 `json:"error_rate"`
	RequestsPerS  float64 `json:"requests_per_s"`
	OutputTokPerS float64 `json:"output_tokens_per_s"`
	// Goodput is the requests per second that met every SLO in the
	// options (errors never do); SLOs records the SLOs it used.
	Goodput      float64            `json:"goodput_per_s"`
	GoodRequests int64              `json:"good_requests"`
	SLOs         map[string]float64 `json:"slos,omitempty"`
	TTFT         Percentiles        `json:"ttft_ms"`
	TPOT         Percentiles        `json:"tpot_ms"`
	ITL          Percentiles        `json:"itl_ms"`
	E2E          Percentiles        `json:"e2e_ms"`
	ClientQueue  *Percentiles       `json:"client_queue_ms,omitempty"`
	// TokenMismatches counts requests whose server usage and client
	// tokenizer counts of output tokens differ. TokensCompared is how many
	// requests had both counts, and UsageTokens and ClientTokens are the
	// two counts' sums over them: their ratio says whether the difference
	// is the few tokens that text re-encodes differently or another
	// tokenizer altogether.
	TokenMismatches   int64 `json:"token_mismatches"`
	TokensCompared    int64 `json:"tokens_compared,omitempty"`
	UsageTokens       int64 `json:"usage_tokens,omitempty"`
	ClientTokens      int64 `json:"client_tokens,omitempty"`
	DroppedIterations int64 `json:"dropped_iterations"`
	// Canceled counts the requests the run's own stop cut short (Ctrl-C, a
	// scenario's gracefulStop, a threshold's abortOnFail: ErrorCanceled).
	// They are in requests.jsonl but not in Requests, Errors or anything
	// above: the server did not fail them.
	Canceled int64 `json:"canceled,omitempty"`
	// ErrorClasses counts the failed requests by error class (the
	// ErrorClass constants), the most first, each with its first error.
	ErrorClasses []ErrorCount `json:"error_classes,omitempty"`
}

// TokenCountNote says how the server's usage and the client's GPT-2 count
// of the output tokens compare, for the end-of-run summary and the report:
// how many requests differ, and by how much in all. Decoding tokens to
// text and encoding it again does not always give the same tokens (the
// random tokens of synthetic weights often do not: the demo's differ by
// about 3 % in all), so a few percent is no fault; 10 % or more usually
// means the server's tokenizer is not GPT-2's, and the usage (which the
// token figures use) is the one to trust.
// A long note comes in two lines.
func (s *LLMSummary) TokenCountNote() string {
	switch {
	case s.TokensCompared == 0 && s.TokenMismatches == 0:
		return "not compared: no request had both the server's usage and a client count"
	case s.TokensCompared == 0: // a summary from before the counts were kept
		return fmt.Sprintf("%d requests where the server's usage differs from the client's GPT-2 count", s.TokenMismatches)
	case s.TokenMismatches == 0:
		return fmt.Sprintf("the server's usage and the client's GPT-2 count agree in all %d requests", s.TokensCompared)
	}
	gap := 0.0
	if s.UsageTokens > 0 {
		gap = 100 * float64(s.ClientTokens-s.UsageTokens) / float64(s.UsageTokens)
	}
	return fmt.Sprintf("in %d of %d requests the server's usage (which the token figures use) and the client's GPT-2 count of the text differ, %+.1f %% in all;\n"+
		"text re-encodes to other tokens now and then (often with synthetic weights' random tokens): a few percent is no fault, 10 %% or more usually means another tokenizer",
		s.TokenMismatches, s.TokensCompared, gap)
}

// ErrorCount is how many requests failed with one error class, and the
// first one's error.
type ErrorCount struct {
	Class string `json:"class"`
	Count int64  `json:"count"`
	First string `json:"first"`
}

// Percentiles are a latency's usual quantiles, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Avg   float64 `json:"avg"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}
