package attribution

import (
	"math"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/loadgen/runfmt"
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
	f.X, f.Y = "input_tokens", "prefill_ms"
	return f
}

// MinStepBatches is the least number of distinct batch sizes FitStepCost
// fits a line to.
const MinStepBatches = 2

// FitStepCost fits step_ms = Intercept + Slope·batch_size over the
// engine.step spans that only decoded (batch.prefill_tokens 0): what a
// decode step costs for its batch. Intercept + Slope is then what one
// sequence alone would cost, the rest of a bigger batch's step the other
// sequences' share. A memory-bound decode has a large intercept and a small
// slope: batching is nearly free, and dividing a step by its batch size
// would call most of it waiting. It returns nil with fewer than
// MinStepBatches distinct batch sizes, or when the fit is degenerate or
// not increasing.
func FitStepCost(steps []*span.Span) *runfmt.Fit {
	var xs, ys []float64
	distinct := map[float64]bool{}
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
		xs = append(xs, b)
		ys = append(ys, ms(st.Duration))
		distinct[b] = true
	}
	if len(distinct) < MinStepBatches {
		return nil
	}
	f := fitLine(xs, ys)
	if f == nil || f.Slope < 0 || f.Intercept+f.Slope <= 0 {
		return nil
	}
	f.X, f.Y = "batch_size", "step_ms"
	return f
}

// fitLine is a least-squares line through (xs, ys); nil when degenerate.
func fitLine(xs, ys []float64) *runfmt.Fit {
	mx, my := mean(xs), mean(ys)
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 || math.IsNaN(sxx+sxy+syy) || math.IsInf(sxx+sxy+syy, 0) {
		return nil
	}
	slope := sxy / sxx
	f := &runfmt.Fit{Slope: slope, Intercept: my - slope*mx, N: len(xs), R2: 1}
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f
}
