package attribution

import (
	"math"

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
	f := &runfmt.Fit{X: "input_tokens", Y: "prefill_ms", Slope: slope, Intercept: my - slope*mx, N: len(xs), R2: 1}
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f
}
