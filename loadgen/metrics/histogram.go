package metrics

import (
	"fmt"
	"math"
	"sort"

	"github.com/llmbench/llmbench/runfmt"
)

// DefaultGamma is the bucket growth factor of the histograms that Summary
// writes. A quantile read from such a histogram is within
// (Gamma−1)/(Gamma+1) ≈ 0.4975 % of the true value, for positive values.
const DefaultGamma = 1.01

// Histogram is the mergeable form of a trend: runfmt.Histogram with its
// methods. It has the same layout, so a *runfmt.Histogram converts to a
// *Histogram (AsHistogram) and back (Raw) without copying. Bucket i holds
// positive values in (Gamma^(i−1), Gamma^i]; zero and negative values are
// counted in Zero. Count, Sum, Min and Max are exact. The zero value is an
// empty histogram without a Gamma, which can only Merge. A Histogram is
// not safe for concurrent use.
type Histogram runfmt.Histogram

// NewHistogram returns an empty histogram whose buckets grow by gamma,
// which must be greater than 1.
func NewHistogram(gamma float64) *Histogram {
	if !(gamma > 1) || math.IsInf(gamma, 0) {
		panic(fmt.Sprintf("metrics: histogram gamma %v, want > 1", gamma))
	}
	return &Histogram{Gamma: gamma, Buckets: map[int]int64{}}
}

// AsHistogram gives h the Histogram methods; both share the same memory.
func AsHistogram(h *runfmt.Histogram) *Histogram { return (*Histogram)(h) }

// Raw returns h as the runfmt record that summary.json holds.
func (h *Histogram) Raw() *runfmt.Histogram { return (*runfmt.Histogram)(h) }

// Add counts v. NaN and infinite values are ignored. Adding to a
// histogram without a Gamma (the zero Histogram) panics.
func (h *Histogram) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if !(h.Gamma > 1) {
		panic(fmt.Sprintf("metrics: add to a histogram with gamma %v, want > 1", h.Gamma))
	}
	if h.Count == 0 {
		h.Min, h.Max = v, v
	}
	h.Min, h.Max = min(h.Min, v), max(h.Max, v)
	h.Count++
	h.Sum += v
	if v <= 0 {
		h.Zero++
		return
	}
	if h.Buckets == nil {
		h.Buckets = map[int]int64{}
	}
	h.Buckets[bucketIndex(v, h.Gamma)]++
}

// bucketIndex is the i with v in (gamma^(i−1), gamma^i].
func bucketIndex(v, gamma float64) int {
	return int(math.Ceil(math.Log(v) / math.Log(gamma)))
}

// Merge adds o's counts to h. The gammas must be equal, except that an
// empty h without a Gamma (the zero Histogram) takes o's. The result is
// the histogram of both sets of values, bucket for bucket; only Sum may
// differ in its last bits, as float addition is not associative.
func (h *Histogram) Merge(o *runfmt.Histogram) error {
	if o == nil || o.Count == 0 {
		return nil
	}
	if !(o.Gamma > 1) {
		return fmt.Errorf("merge histograms: gamma %v, want > 1", o.Gamma)
	}
	if h.Gamma == 0 && h.Count == 0 {
		h.Gamma = o.Gamma
	}
	if h.Gamma != o.Gamma {
		return fmt.Errorf("merge histograms: gamma %v and %v differ", h.Gamma, o.Gamma)
	}
	if h.Count == 0 {
		h.Min, h.Max = o.Min, o.Max
	}
	h.Min, h.Max = min(h.Min, o.Min), max(h.Max, o.Max)
	h.Count += o.Count
	h.Sum += o.Sum
	h.Zero += o.Zero
	if h.Buckets == nil {
		h.Buckets = make(map[int]int64, len(o.Buckets))
	}
	for i, n := range o.Buckets {
		h.Buckets[i] += n
	}
	return nil
}

// Quantile estimates the q-th quantile (q from 0 to 1) with the same
// interpolation as Percentile: between the values of rank floor and ceil
// of q·(Count−1), each read as its bucket's representative value
// 2·Gamma^i/(Gamma+1), clamped to [Min, Max]. Values counted in Zero read
// as 0 clamped the same way. It returns 0 for an empty histogram, Min for
// q ≤ 0 and Max for q ≥ 1.
func (h *Histogram) Quantile(q float64) float64 {
	switch {
	case h.Count == 0:
		return 0
	case q <= 0:
		return h.Min
	case q >= 1:
		return h.Max
	}
	rank := q * float64(h.Count-1)
	lo := int64(math.Floor(rank))
	hi := int64(math.Ceil(rank))
	idx := h.sortedIndexes()
	a := h.valueAt(lo, idx)
	if hi == lo {
		return a
	}
	b := h.valueAt(hi, idx)
	return a + (b-a)*(rank-float64(lo))
}

func (h *Histogram) sortedIndexes() []int {
	idx := make([]int, 0, len(h.Buckets))
	for i, n := range h.Buckets {
		if n > 0 {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	return idx
}

// valueAt is the representative value of the value with 0-based rank r.
func (h *Histogram) valueAt(r int64, idx []int) float64 {
	clamp := func(v float64) float64 { return min(max(v, h.Min), h.Max) }
	if r < h.Zero {
		return clamp(0)
	}
	seen := h.Zero
	for _, i := range idx {
		seen += h.Buckets[i]
		if r < seen {
			return clamp(2 * math.Pow(h.Gamma, float64(i)) / (h.Gamma + 1))
		}
	}
	return h.Max
}

// Mean is Sum/Count, or 0 for an empty histogram.
func (h *Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}
