package reportgen

import (
	"math"

	"github.com/llmbench/llmbench/internal/stats"
)

// bin is one bar of a histogram: values in [From, To).
type bin struct {
	From, To float64
	Count    int
}

// histogram splits sorted values into n equal-width bins from the
// smallest to the largest value (the last bin includes the largest).
// One distinct value gives one bin.
func histogram(sorted []float64, n int) []bin {
	if len(sorted) == 0 || n < 1 {
		return nil
	}
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if hi == lo {
		return []bin{{From: lo, To: hi, Count: len(sorted)}}
	}
	width := (hi - lo) / float64(n)
	bins := make([]bin, n)
	for i := range bins {
		bins[i].From = lo + float64(i)*width
		bins[i].To = lo + float64(i+1)*width
	}
	for _, v := range sorted {
		i := min(int((v-lo)/width), n-1)
		bins[i].Count++
	}
	return bins
}

// cdf is the empirical distribution of sorted values as points (value,
// percent of values ≤ value). With more than maxPoints values it keeps
// the quantiles at maxPoints−1 even steps, so a large sample stays small.
func cdf(sorted []float64, maxPoints int) [][2]float64 {
	n := len(sorted)
	if n == 0 {
		return nil
	}
	if n <= maxPoints {
		out := make([][2]float64, n)
		for i, v := range sorted {
			out[i] = [2]float64{v, 100 * float64(i+1) / float64(n)}
		}
		return out
	}
	out := make([][2]float64, maxPoints)
	for i := range out {
		q := float64(i) / float64(maxPoints-1)
		out[i] = [2]float64{stats.Quantile(sorted, q), 100 * q}
	}
	return out
}

// interval is one time bucket of the run: the requests that completed in
// it.
type interval struct {
	Start     float64 // seconds since the run's start
	Completed int
	Errors    int
	TTFT      []float64 // sorted
	TPOT      []float64 // sorted
}

// round rounds to d decimals, so that the page carries no more digits
// than a chart can show.
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// finite is v, or 0 when v is NaN or infinite (JSON has neither).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
