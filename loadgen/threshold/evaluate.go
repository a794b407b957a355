package threshold

import (
	"strings"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// Evaluator checks a run's thresholds against its summary. It holds no
// state besides the thresholds, so Evaluate is a pure function of its
// arguments; an Evaluator is safe for concurrent use.
type Evaluator struct {
	ts []Threshold
}

// NewEvaluator returns an evaluator of ts, which it keeps a copy of.
func NewEvaluator(ts []Threshold) *Evaluator {
	return &Evaluator{ts: append([]Threshold(nil), ts...)}
}

// Keys returns the metric keys the thresholds are on, without repeats, in
// order. The runner registers each with metrics.Registry.Track, so that
// the summary lists them even when they got no samples.
func (e *Evaluator) Keys() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range e.ts {
		if !seen[t.Metric] {
			seen[t.Metric] = true
			out = append(out, t.Metric)
		}
	}
	return out
}

// TrendStats returns the p(N) values the thresholds need, without
// repeats, for the trendStats argument of metrics.Registry.Summary.
func (e *Evaluator) TrendStats() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range e.ts {
		if strings.HasPrefix(t.Agg, "p(") && !seen[t.Agg] {
			seen[t.Agg] = true
			out = append(out, t.Agg)
		}
	}
	return out
}

// Outcome is one threshold's result.
type Outcome struct {
	Threshold
	OK  bool
	Err error // why it could not be checked (it then counts as failed)
}

// Result is what Evaluate found.
type Result struct {
	// Outcomes has one entry per threshold, in the thresholds' order.
	Outcomes []Outcome
	// OK is true when every threshold held.
	OK bool
	// Abort is the first threshold with AbortOnFail that failed once its
	// DelayAbortEval had passed; nil when none did. The runner stops the
	// run when it is set.
	Abort *Threshold
}

// Failed returns the outcomes that did not hold.
func (r Result) Failed() []Outcome {
	var out []Outcome
	for _, o := range r.Outcomes {
		if !o.OK {
			out = append(out, o)
		}
	}
	return out
}

// Evaluate checks the thresholds against a summary's metrics, elapsed
// after the run started. The runner calls it every few seconds during the
// run, and stops the run when Result.Abort is set, and once at the end,
// for the exit code and summary.json (Result.Record). A threshold fails,
// with an error, when its metric is not in metrics; see Keys.
func (e *Evaluator) Evaluate(metrics map[string]runfmt.Metric, elapsed time.Duration) Result {
	res := Result{OK: true, Outcomes: make([]Outcome, len(e.ts))}
	for i, t := range e.ts {
		o := Outcome{Threshold: t}
		if m, ok := metrics[t.Metric]; !ok {
			o.Err = &missingError{t}
		} else {
			o.OK, o.Err = t.Check(m.Values)
		}
		res.Outcomes[i] = o
		if o.OK {
			continue
		}
		res.OK = false
		if t.AbortOnFail && elapsed >= t.DelayAbortEval && res.Abort == nil {
			res.Abort = &t
		}
	}
	return res
}

type missingError struct{ t Threshold }

func (e *missingError) Error() string {
	return "check " + e.t.String() + ": no metric " + e.t.Metric + " in the summary"
}

// Record writes the outcomes into the summary's metrics, keyed by
// expression (runfmt.Metric.Thresholds), and returns r.OK for
// runfmt.Summary.ThresholdsOK. A metric missing from the map gets an
// entry that has only its thresholds. When one expression appears twice on
// a key, it holds only if both held.
func (r Result) Record(metrics map[string]runfmt.Metric) bool {
	for _, o := range r.Outcomes {
		m := metrics[o.Metric]
		if m.Thresholds == nil {
			m.Thresholds = map[string]runfmt.Threshold{}
		}
		th := runfmt.Threshold{OK: o.OK, AbortOnFail: o.AbortOnFail}
		if prev, seen := m.Thresholds[o.Expr]; seen {
			th.OK = th.OK && prev.OK
			th.AbortOnFail = th.AbortOnFail || prev.AbortOnFail
		}
		m.Thresholds[o.Expr] = th
		metrics[o.Metric] = m
	}
	return r.OK
}
