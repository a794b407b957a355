// Package stats holds the statistics every component shares, in one copy:
// percentiles as k6 reports them, the median, a least-squares line with
// its standard errors, and the Mann-Whitney U test. It imports nothing of
// llmbench's.
package stats

import (
	"math"
	"slices"
	"strconv"
)

// Percentile returns the p-th percentile (p from 0 to 100) of sorted, which
// must be in ascending order, by linear interpolation between the closest
// ranks: with r = p/100·(n−1), it is sorted[⌊r⌋] plus (r−⌊r⌋) of the way
// to sorted[⌈r⌉]. This is Hyndman and Fan's definition 7, numpy's default
// ("linear") and Excel's PERCENTILE.INC; it is also what k6 reports for a
// trend's p(N) and med, so p(90) of 1, 2, ..., 10 is 9.1. p(0) is the
// minimum and p(100) the maximum; p outside [0, 100] is clamped, and a
// NaN p gives NaN. It returns 0 for no values, as k6 does for an empty
// trend.
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

// Quantile is Percentile with q from 0 to 1.
func Quantile(sorted []float64, q float64) float64 { return Percentile(sorted, 100*q) }

// Median is the median of xs, which it does not modify: the middle value,
// or the mean of the two middle ones. It is NaN for no values.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return Percentile(slices.Sorted(slices.Values(xs)), 50)
}

// Mean is the arithmetic mean of xs; NaN for no values.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// PercentileKey is the summary key of the pct-th percentile, as k6 writes
// it: "p(95)", "p(99.9)".
func PercentileKey(pct float64) string {
	return "p(" + strconv.FormatFloat(pct, 'f', -1, 64) + ")"
}

// Line is a least-squares line y = Intercept + Slope·x through N points,
// with R² and the standard errors of slope and intercept (zero with two
// points, where they are unknown).
type Line struct {
	Slope, Intercept     float64
	SlopeSE, InterceptSE float64
	R2                   float64
	N                    int
}

// FitLine fits a least-squares line through (xs[i], ys[i]). It returns
// false when the line is not determined: fewer than two distinct x, or
// values that are not finite.
func FitLine(xs, ys []float64) (Line, bool) {
	if len(xs) != len(ys) || len(xs) < 2 {
		return Line{}, false
	}
	n := float64(len(xs))
	mx, my := Mean(xs), Mean(ys)
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 || math.IsNaN(sxx+sxy+syy) || math.IsInf(sxx+sxy+syy, 0) {
		return Line{}, false
	}
	slope := sxy / sxx
	l := Line{Slope: slope, Intercept: my - slope*mx, N: len(xs), R2: 1}
	if syy > 0 {
		l.R2 = sxy * sxy / (sxx * syy)
	}
	if len(xs) > 2 {
		sse := max(syy-slope*sxy, 0)
		s2 := sse / (n - 2)
		l.SlopeSE = math.Sqrt(s2 / sxx)
		l.InterceptSE = math.Sqrt(s2 * (1/n + mx*mx/sxx))
	}
	return l, true
}

// MannWhitney is the Mann–Whitney U test of two independent samples: U is
// the statistic of a (the number of pairs where a's value is larger,
// ties counting half), p the two-sided p-value from the normal
// approximation with the tie correction of the variance and a continuity
// correction of ½, as scipy.stats.mannwhitneyu(method="asymptotic") and
// R's wilcox.test(correct=TRUE) compute it. p is 1 when either sample is
// empty or every value is the same.
func MannWhitney(a, b []float64) (u, p float64) {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	n := len(all)
	var r1, ties float64
	for i := 0; i < n; {
		j := i
		for j+1 < n && all[j+1].v == all[i].v {
			j++
		}
		rank := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			if all[k].fromA {
				r1 += rank
			}
		}
		t := float64(j - i + 1)
		ties += t*t*t - t
		i = j + 1
	}
	fn1, fn2, fn := float64(n1), float64(n2), float64(n)
	u = r1 - fn1*(fn1+1)/2
	mu := fn1 * fn2 / 2
	variance := fn1 * fn2 / 12 * ((fn + 1) - ties/(fn*(fn-1)))
	if variance <= 0 {
		return u, 1
	}
	z := (math.Abs(u-mu) - 0.5) / math.Sqrt(variance)
	if z <= 0 {
		return u, 1
	}
	return u, math.Erfc(z / math.Sqrt2)
}
