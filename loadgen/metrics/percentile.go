package metrics

import "math"

// Percentile returns the p-th percentile (p from 0 to 100) of sorted, which
// must be in ascending order, by linear interpolation between the closest
// ranks: with r = p/100·(n−1), it is sorted[⌊r⌋] plus (r−⌊r⌋) of the way
// to sorted[⌈r⌉]. This is Hyndman and Fan's definition 7, numpy's default
// ("linear") and Excel's PERCENTILE.INC; it is also what k6 reports for a
// trend's p(N) and med, so p(90) of 1, 2, ..., 10 is 9.1. p(0) is the
// minimum and p(100) the maximum; p outside [0, 100] is clamped, and a
// NaN p gives NaN. It
// returns 0 for no values, as k6 does for an empty trend.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if math.IsNaN(p) {
		return math.NaN()
	}
	p = min(max(p, 0), 100)
	r := p / 100 * float64(n-1)
	lo := int(math.Floor(r))
	hi := int(math.Ceil(r))
	if lo == hi {
		return sorted[lo]
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(r-float64(lo))
}
