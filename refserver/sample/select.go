package sample

import (
	"cmp"
	"math"
	"slices"
)

// maxRounds bounds the quickselect rounds in nucleus before it falls back to
// sorting what is left, which keeps the worst case at O(n log n).
const maxRounds = 64

// worse reports whether a ranks below b: a lower weight, or an equal weight
// and a higher token id.
func worse(a, b cand) bool {
	return a.w < b.w || (a.w == b.w && a.tok > b.tok)
}

// topK fills h with the len(h) highest logits, ties going to the lower
// token id, and returns it in heap order (not sorted). Each cand's w holds
// its logit, -Inf for NaN. len(h) must be in [1, len(logits)].
func topK(h []cand, logits []float32) []cand {
	k := len(h)
	for i, x := range logits[:k] {
		w := float64(x)
		if x != x {
			w = math.Inf(-1)
		}
		h[i] = cand{w: w, tok: int32(i)}
	}
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	// h[0] is the worst kept token. A later token with an equal logit has
	// a higher id, so only a strictly higher logit displaces it.
	low := float32(h[0].w)
	for i := k; i < len(logits); i++ {
		if x := logits[i]; x > low {
			h[0] = cand{w: float64(x), tok: int32(i)}
			siftDown(h, 0)
			low = float32(h[0].w)
		}
	}
	return h
}

// siftDown restores the min-heap order of h (by worse) below index i.
func siftDown(h []cand, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && worse(h[r], h[l]) {
			j = r
		}
		if !worse(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// above keeps the cands of c whose weight is at least t, in order, and
// returns them.
func above(c []cand, t float64) []cand {
	n := 0
	for _, x := range c {
		if x.w >= t {
			c[n] = x
			n++
		}
	}
	return c[:n]
}

// nucleus reorders c so that c[:n] is the top-p set and returns n: the
// fewest highest-weight cands whose weights sum to at least target, ties
// going to the lower token id. It is the set you get by sorting c by weight,
// descending, and keeping each cand while the sum before it is below target,
// found by a weighted quickselect in expected linear time. After rounds
// rounds it sorts what is left instead. It returns at least 1 if c holds a
// positive weight and target is positive.
func nucleus(c []cand, target float64, rounds int) int {
	// c[:lo] is in the set, c[hi:] is out, c[lo:hi] is undecided, and acc
	// is the weight of c[:lo], always below target.
	lo, hi := 0, len(c)
	var acc float64
	for round := 0; lo < hi; round++ {
		if round >= rounds {
			rest := c[lo:hi]
			slices.SortFunc(rest, func(a, b cand) int {
				if c := cmp.Compare(b.w, a.w); c != 0 {
					return c
				}
				return cmp.Compare(a.tok, b.tok)
			})
			for _, x := range rest {
				if acc >= target {
					break
				}
				acc += x.w
				lo++
			}
			return lo
		}
		gt, eq, sumGT, sumEQ := partition3(c[lo:hi], pivot(c[lo:hi]))
		switch {
		case acc+sumGT >= target:
			// The set ends among the heavier cands.
			hi = lo + gt
		case acc+sumGT+sumEQ >= target:
			// It ends among the cands that weigh as much as the pivot:
			// take them lowest id first.
			acc += sumGT
			lo += gt
			ties := c[lo : lo+eq]
			slices.SortFunc(ties, func(a, b cand) int { return cmp.Compare(a.tok, b.tok) })
			for _, x := range ties {
				if acc >= target {
					break
				}
				acc += x.w
				lo++
			}
			return lo
		default:
			// It takes every cand at least as heavy as the pivot.
			acc += sumGT + sumEQ
			lo += gt + eq
		}
	}
	return lo
}

// pivot returns the median of the first, middle and last weights of c,
// which must not be empty.
func pivot(c []cand) float64 {
	a, b, d := c[0].w, c[len(c)/2].w, c[len(c)-1].w
	if a > b {
		a, b = b, a
	}
	if b > d {
		b = d
	}
	return max(a, b)
}

// partition3 reorders c into the cands heavier than pv, those as heavy, and
// the lighter ones, and returns the sizes and weight sums of the first two
// parts.
func partition3(c []cand, pv float64) (gt, eq int, sumGT, sumEQ float64) {
	// c[:gt] > pv, c[gt:i] == pv, c[i:j] unread, c[j:] < pv.
	i, j := 0, len(c)
	for i < j {
		x := c[i]
		switch {
		case x.w > pv:
			c[i] = c[gt]
			c[gt] = x
			gt++
			i++
			sumGT += x.w
		case x.w < pv:
			j--
			c[i] = c[j]
			c[j] = x
		default:
			i++
			sumEQ += x.w
		}
	}
	return gt, i - gt, sumGT, sumEQ
}
