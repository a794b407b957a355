package attribution

import (
	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// MinFitLengths is the least number of distinct prompt lengths FitPrefill
// fits a line to.
const MinFitLengths = 5

// FitPrefill fits prefill_ms = Intercept + Slope·input_tokens by least
// squares over the successful breakdowns that come from a trace and have
// a prefill and a prompt length. It returns nil when there are fewer than
// MinFitLengths distinct lengths or the numbers are degenerate (not
// finite). R² is 1 when the line fits exactly, flat lines included.
func FitPrefill(bs []runfmt.Breakdown) *runfmt.Fit {
	var xs, ys []float64
	distinct := make(map[int]bool)
	for _, b := range bs {
		y := b.Parts[runfmt.PartPrefill]
		if !b.OK || b.Source != SourceTrace || b.InputTokens <= 0 || y <= 0 {
			continue
		}
		xs = append(xs, float64(b.InputTokens))
		ys = append(ys, y)
		distinct[b.InputTokens] = true
	}
	if len(distinct) < MinFitLengths {
		return nil
	}
	f := fitLine(xs, ys)
	if f == nil {
		return nil
	}
	f.X, f.Y, f.Distinct = "input_tokens", "prefill_ms", len(distinct)
	return f
}

// DecodeSteps returns the engine.step spans that only decoded
// (batch.prefill_tokens 0) with their batch sizes: the steps whose cost
// depends on the batch alone.
func DecodeSteps(steps []*span.Span) (out []*span.Span, batch []float64) {
	for _, st := range steps {
		if st == nil || st.Name != "engine.step" {
			continue
		}
		if p, ok := st.Float("batch.prefill_tokens"); ok && p > 0 {
			continue
		}
		b, ok := st.Float("batch.size")
		if !ok || b < 1 || st.Duration <= 0 {
			continue
		}
		out, batch = append(out, st), append(batch, b)
	}
	return out, batch
}

// FitStepCost fits step_ms = Intercept + Slope·batch_size, with the
// coefficients' standard errors, over the engine.step spans that only
// decoded: what a decode step costs for its batch. Intercept + Slope is
// then what one sequence alone would cost, the rest of a bigger batch's
// step the other sequences' share. A memory-bound decode has a large
// intercept and a small slope: batching is nearly free, R² is small
// however well the line is known, and the slope's standard error, not R²,
// says whether the split is identified (StepCostFromFit). It returns nil
// with fewer than two distinct batch sizes, or when the numbers are
// degenerate; a negative slope is returned as it is.
func FitStepCost(steps []*span.Span) *runfmt.Fit {
	ds, batch := DecodeSteps(steps)
	var ys []float64
	distinct := map[float64]bool{}
	for i, st := range ds {
		ys = append(ys, ms(st.Duration))
		distinct[batch[i]] = true
	}
	if len(distinct) < 2 {
		return nil
	}
	f := fitLine(batch, ys)
	if f == nil {
		return nil
	}
	f.X, f.Y, f.Distinct = "batch_size", "step_ms", len(distinct)
	return f
}

// fitLine is a least-squares line through (xs, ys), with the standard
// errors of slope and intercept when there are more than two points; nil
// when degenerate.
func fitLine(xs, ys []float64) *runfmt.Fit {
	l, ok := stats.FitLine(xs, ys)
	if !ok {
		return nil
	}
	return &runfmt.Fit{Slope: l.Slope, Intercept: l.Intercept, SlopeSE: l.SlopeSE, InterceptSE: l.InterceptSE, R2: l.R2, N: l.N}
}
