package attribution

import (
	"fmt"
	"math"
	"slices"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

// Identification thresholds of the decode split. A fit needs
// MinStepBatches distinct batch sizes with MinStepsPerBatch decode-only
// steps each; a calibration needs the cost of a batch of one and of one
// more size, each with a spread (half its interquartile range) under
// MaxCalibSpread of its median. Either way, the split is identified only
// when a sequence's own share of a step, at the run's mean batch size, is
// known to within MaxOwnWidth (the width of its 95 % interval).
const (
	MinStepBatches   = 3
	MinStepsPerBatch = 5
	MaxCalibSpread   = 0.15
	MaxOwnWidth      = 0.20
)

// Cost is an identified decode step cost: how much of a step of n
// sequences is one sequence's own. Build it with NewCost; nil means the
// split is not identified, and decode stays whole.
type Cost struct {
	points []runfmt.StepCostPoint // sorted by batch; from a calibration
	fit    *runfmt.Fit            // or a line
}

// NewCost returns the model of an identified StepCost, nil otherwise.
func NewCost(sc *runfmt.StepCost) *Cost {
	if sc == nil || !sc.Identified {
		return nil
	}
	if len(sc.Points) > 0 {
		ps := slices.Clone(sc.Points)
		slices.SortFunc(ps, func(a, b runfmt.StepCostPoint) int { return a.Batch - b.Batch })
		return &Cost{points: ps}
	}
	if sc.Fit != nil {
		return &Cost{fit: sc.Fit}
	}
	return nil
}

// Own returns one sequence's own share of a decode step of n sequences:
// what a batch of one costs over what a batch of n costs, at most 1 (a
// bigger batch that came out cheaper than a single sequence is noise:
// batching cost nothing measurable).
func (c *Cost) Own(n float64) float64 {
	if c == nil || n <= 1 {
		return 1
	}
	if c.fit != nil {
		return ownFromLine(c.fit.Intercept, max(c.fit.Slope, 0), n)
	}
	one, all := c.at(1), c.at(n)
	if one <= 0 || all <= one {
		return 1
	}
	return one / all
}

// at interpolates the calibrated cost at batch n linearly, extrapolating
// from the last two points beyond the last.
func (c *Cost) at(n float64) float64 {
	ps := c.points
	if len(ps) == 1 || n <= float64(ps[0].Batch) {
		return ps[0].MS
	}
	for i := 1; i < len(ps); i++ {
		if n <= float64(ps[i].Batch) || i == len(ps)-1 {
			a, b := ps[i-1], ps[i]
			f := (n - float64(a.Batch)) / float64(b.Batch-a.Batch)
			return a.MS + f*(b.MS-a.MS)
		}
	}
	return ps[len(ps)-1].MS
}

func ownFromLine(a, b, n float64) float64 {
	one, all := a+b, a+b*n
	if one <= 0 || all <= one {
		return 1
	}
	return one / all
}

// StepCostFromCalibration judges the server's start-up calibration (its
// /health engine.step_cost) at the run's mean decode batch size: the own
// share's 95 % interval comes from the standard errors of the calibrated
// medians (from each point's spread and step count).
func StepCostFromCalibration(points []runfmt.StepCostPoint, meanBatch float64) *runfmt.StepCost {
	if len(points) == 0 {
		return nil
	}
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b runfmt.StepCostPoint) int { return a.Batch - b.Batch })
	sc := &runfmt.StepCost{Source: "calibration", Points: ps, MeanBatch: meanBatch}
	switch {
	case meanBatch > 0 && meanBatch <= 1:
		sc.Identified, sc.OwnShare, sc.OwnLo, sc.OwnHi = true, 1, 1, 1
		sc.Reason = "every decode step had one sequence: all of it is the request's own"
		return sc
	case ps[0].Batch != 1 || ps[0].MS <= 0:
		sc.Reason = "the calibration has no batch of one"
		return sc
	case len(ps) < 2:
		sc.Reason = "the calibration has one batch size only"
		return sc
	}
	for _, p := range ps {
		if p.MS <= 0 || p.SpreadMS > MaxCalibSpread*p.MS {
			sc.Reason = fmt.Sprintf("the calibrated batch-%d step varied by ±%.2f ms around %.2f ms (more than %.0f %%)", p.Batch, p.SpreadMS, p.MS, 100*MaxCalibSpread)
			return sc
		}
	}
	c := &Cost{points: ps}
	n := max(meanBatch, 1)
	sc.OwnShare = c.Own(n)
	one, all := c.at(1), c.at(n)
	// The medians' standard errors, from their spreads: σ ≈ IQR/1.349 =
	// 1.483·spread, and a median of N has SE ≈ 1.2533·σ/√N. Their
	// relative errors add in quadrature in the ratio.
	se1, sen := medianSE(ps, 1), medianSE(ps, n)
	rel := math.Hypot(se1/one, sen/all)
	sc.OwnLo, sc.OwnHi = clamp01(sc.OwnShare*(1-2*rel)), clamp01(sc.OwnShare*(1+2*rel))
	if sc.OwnHi-sc.OwnLo > MaxOwnWidth {
		sc.Reason = fmt.Sprintf("at the run's mean batch of %.1f a sequence's own share is %.2f, anywhere in [%.2f, %.2f]: the calibration is too noisy to split decode", n, sc.OwnShare, sc.OwnLo, sc.OwnHi)
		return sc
	}
	sc.Identified = true
	sc.Reason = fmt.Sprintf("the server timed decode steps of %s sequences at start-up: one sequence costs %.2f ms, the run's mean batch of %.1f %.2f ms, so a sequence's own share is %.2f [%.2f, %.2f]",
		batchList(ps), one, n, all, sc.OwnShare, sc.OwnLo, sc.OwnHi)
	return sc
}

// medianSE interpolates the standard error of the calibration's medians
// at batch n. A point that does not say how many steps it timed counts as
// one: its spread is then the whole uncertainty.
func medianSE(ps []runfmt.StepCostPoint, n float64) float64 {
	sp := make([]runfmt.StepCostPoint, len(ps))
	for i, p := range ps {
		steps := float64(max(p.N, 1))
		sp[i] = runfmt.StepCostPoint{Batch: p.Batch, MS: 1.2533 * 1.4826 * p.SpreadMS / math.Sqrt(steps)}
	}
	return max((&Cost{points: sp}).at(n), 0)
}

func batchList(ps []runfmt.StepCostPoint) string {
	s := ""
	for i, p := range ps {
		switch {
		case i == 0:
		case i == len(ps)-1:
			s += " and "
		default:
			s += ", "
		}
		s += fmt.Sprint(p.Batch)
	}
	return s
}

// StepCostFromFit judges a fit of the run's decode steps (FitStepCost
// over steps) at the run's mean decode batch size. The rules, in order:
// too few batch sizes with enough steps; a slope significantly below zero
// (more than two standard errors: step time fell as the batch grew, so
// something besides the batch set it); an own share whose 95 % interval
// (slope ± 2 SE, clamped at 0) is wider than MaxOwnWidth. A slope within
// noise of zero is not a failure: batching then costs nothing measurable
// and a sequence's own share is about 1. A run whose decode steps all had
// one sequence needs no fit: all of a step is the request's own.
func StepCostFromFit(f *runfmt.Fit, steps []*span.Span, meanBatch float64) *runfmt.StepCost {
	sc := &runfmt.StepCost{Source: "fit", Fit: f, MeanBatch: meanBatch}
	if meanBatch > 0 && meanBatch <= 1 {
		sc.Identified, sc.OwnShare, sc.OwnLo, sc.OwnHi = true, 1, 1, 1
		sc.Reason = "every decode step had one sequence: all of it is the request's own"
		return sc
	}
	_, batch := DecodeSteps(steps)
	per := map[float64]int{}
	for _, b := range batch {
		per[b]++
	}
	enough := 0
	for _, n := range per {
		if n >= MinStepsPerBatch {
			enough++
		}
	}
	if f == nil || enough < MinStepBatches {
		sc.Reason = fmt.Sprintf("the run's decode steps have %d batch sizes with %d steps or more, and a fit needs %d", enough, MinStepsPerBatch, MinStepBatches)
		return sc
	}
	if f.SlopeSE == 0 && f.R2 < 1 {
		sc.Reason = "the fit has no standard error"
		return sc
	}
	if f.Slope+2*f.SlopeSE < 0 {
		sc.Reason = fmt.Sprintf("decode steps got faster as the batch grew (%.3f ± %.3f ms per sequence): something other than the batch set their time", f.Slope, f.SlopeSE)
		return sc
	}
	n := max(meanBatch, 1)
	b := max(f.Slope, 0)
	sc.OwnShare = ownFromLine(f.Intercept, b, n)
	sc.OwnLo = ownFromLine(f.Intercept, b+2*f.SlopeSE, n)
	sc.OwnHi = ownFromLine(f.Intercept, max(f.Slope-2*f.SlopeSE, 0), n)
	if sc.OwnHi-sc.OwnLo > MaxOwnWidth {
		sc.Reason = fmt.Sprintf("at the run's mean batch of %.1f a sequence's own share is %.2f, anywhere in [%.2f, %.2f] (slope %.3f ± %.3f ms per sequence, R² %.2f): within noise",
			n, sc.OwnShare, sc.OwnLo, sc.OwnHi, f.Slope, f.SlopeSE, f.R2)
		return sc
	}
	sc.Identified = true
	sc.Reason = fmt.Sprintf("decode step = %.2f + %.3f ± %.3f ms per sequence over %d steps of %d batch sizes (R² %.2f): at the run's mean batch of %.1f a sequence's own share is %.2f [%.2f, %.2f]",
		f.Intercept, f.Slope, f.SlopeSE, f.N, f.Distinct, f.R2, n, sc.OwnShare, sc.OwnLo, sc.OwnHi)
	if f.Slope < 0 {
		sc.Reason += "; the slope is below zero but within noise of it: batching cost nothing measurable"
	}
	return sc
}

// MeanDecodeBatch is the mean batch size of the decode-only steps, or of
// the requests' decode (Breakdown.MeanBatch) when there are no steps; 0
// when neither is known.
func MeanDecodeBatch(steps []*span.Span, bs []runfmt.Breakdown) float64 {
	if _, batch := DecodeSteps(steps); len(batch) > 0 {
		return mean(batch)
	}
	var mb []float64
	for _, b := range bs {
		if b.MeanBatch > 0 {
			mb = append(mb, b.MeanBatch)
		}
	}
	return mean(mb)
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return min(max(x, 0), 1)
}
