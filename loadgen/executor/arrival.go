package executor

import (
	"iter"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
)

// arrivals is the global arrival sequence of an arrival-rate scenario as
// the unsegmented test would run it: (i, offset) for i = 0, 1, 2, ... with
// the offset from the scenario's start, increasing, every offset before the
// end of the scenario. A segment starts the arrivals its stripe owns.
//
// Uniform arrivals: arrival i starts when the expected number of arrivals
// so far, N(t) = ∫ rate / timeUnit, reaches i, at the first instant the
// rate is positive. So a constant rate r per timeUnit T starts at 0, T/r,
// 2T/r, ... as k6's constant-arrival-rate does, a ramping rate follows its
// stages linearly, the count is ⌈N(end)⌉, and a stage with rate 0 starts
// nothing.
//
// Poisson arrivals: arrival i starts when N(t) reaches S_i, the (i+1)th
// arrival of a unit-rate Poisson process drawn from the seed (time
// rescaling), so the gaps are exponential with the configured mean rate.
func arrivals(s *Scenario) iter.Seq2[int64, time.Duration] {
	if s.Executor == ConstantArrivalRate && s.Arrival != ArrivalPoisson {
		return constantArrivals(s.Rate, s.TimeUnit, s.Duration)
	}
	c := newCurve(s)
	if s.Arrival != ArrivalPoisson {
		return func(yield func(int64, time.Duration) bool) {
			for i := int64(0); ; i++ {
				at, ok := c.at(float64(i))
				if !ok || !yield(i, at) {
					return
				}
			}
		}
	}
	return func(yield func(int64, time.Duration) bool) {
		rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x6c6c6d62656e6368)) // "llmbench"
		x := 0.0
		for i := int64(0); ; i++ {
			x += rng.ExpFloat64()
			at, ok := c.at(x)
			if !ok || !yield(i, at) {
				return
			}
		}
	}
}

// constantArrivals is i×unit/rate for every i with i×unit/rate < length,
// in exact integer arithmetic.
func constantArrivals(rate int64, unit, length time.Duration) iter.Seq2[int64, time.Duration] {
	return func(yield func(int64, time.Duration) bool) {
		for i := int64(0); ; i++ {
			hi, lo := bits.Mul64(uint64(i), uint64(unit))
			if hi >= uint64(rate) { // the quotient would overflow: far past any length
				return
			}
			q, _ := bits.Div64(hi, lo, uint64(rate))
			if q >= uint64(length) || !yield(i, time.Duration(q)) {
				return
			}
		}
	}
}

// curve is a piecewise linear rate and its integral N(t), in arrivals.
type curve struct {
	segs []rateSeg
}

// rateSeg is one stage: the rate goes from r0 to r1 (arrivals per
// nanosecond) over d, starting at start, with n0 arrivals expected
// before it and n expected during it.
type rateSeg struct {
	start, d time.Duration
	r0, r1   float64
	n0, n    float64
}

func newCurve(s *Scenario) *curve {
	unit := float64(s.TimeUnit)
	if s.Executor == ConstantArrivalRate {
		r := float64(s.Rate) / unit
		return &curve{segs: []rateSeg{{d: s.Duration, r0: r, r1: r, n: r * float64(s.Duration)}}}
	}
	c := &curve{}
	var start time.Duration
	n0, prev := 0.0, float64(s.StartRate)/unit
	for _, st := range s.Stages {
		r1 := float64(st.Target) / unit
		n := (prev + r1) / 2 * float64(st.Duration)
		c.segs = append(c.segs, rateSeg{start: start, d: st.Duration, r0: prev, r1: r1, n0: n0, n: n})
		start += st.Duration
		n0 += n
		prev = r1
	}
	return c
}

// at is the first t with N(t) = x at which the rate is positive, and false
// when N never gets past x before the end.
func (c *curve) at(x float64) (time.Duration, bool) {
	for _, sg := range c.segs {
		if sg.n <= 0 || x >= sg.n0+sg.n {
			continue
		}
		y := max(x-sg.n0, 0) // arrivals into this stage
		// Solve r0·τ + (r1−r0)·τ²/(2d) = y for τ in [0, d], in the form that
		// stays accurate when r1 ≈ r0.
		a := (sg.r1 - sg.r0) / (2 * float64(sg.d))
		var tau float64
		switch {
		case y == 0:
			tau = 0
		case a == 0:
			tau = y / sg.r0
		default:
			tau = 2 * y / (sg.r0 + math.Sqrt(max(sg.r0*sg.r0+4*a*y, 0)))
		}
		tau = min(max(math.Round(tau), 0), float64(sg.d))
		return sg.start + time.Duration(tau), true
	}
	return 0, false
}
