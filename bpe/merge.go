package bpe

import "math"

// noRank marks a pair of parts whose concatenation is not a token.
const noRank = math.MaxInt

// heapMergeMin is the piece length, in bytes, from which appendMerged uses
// the O(n log n) heap merge instead of the O(n²) scan. Pieces of ordinary
// text are a few bytes long; long ones come from runs such as 100 000
// letters without a space.
const heapMergeMin = 256

// appendMerged appends the ids of piece as byte-pair merging gives them:
// start from single bytes and keep merging the adjacent pair whose
// concatenation is the token of lowest rank (the leftmost such pair on a
// tie) until no adjacent pair forms a token. This is tiktoken's
// byte_pair_merge, which for r50k_base agrees with GPT-2's merge list.
func (t *Tokenizer) appendMerged(ids []int, piece string) []int {
	if len(piece) == 1 {
		return append(ids, t.ranks[piece])
	}
	if len(piece) >= heapMergeMin {
		return t.appendHeapMerged(ids, piece)
	}
	return t.appendScanMerged(ids, piece)
}

// rankOf returns the rank of s, or noRank if s is not a token.
func (t *Tokenizer) rankOf(s string) int {
	if r, ok := t.ranks[s]; ok {
		return r
	}
	return noRank
}

// appendScanMerged is appendMerged for short pieces: it rescans the pairs
// for the lowest rank after each merge, as tiktoken does.
func (t *Tokenizer) appendScanMerged(ids []int, piece string) []int {
	// bounds[k] is where part k starts; the last entry is len(piece).
	// ranks[k] is the rank of parts k and k+1 joined.
	var boundsBuf, ranksBuf [64]int
	bounds := boundsBuf[:0]
	ranks := ranksBuf[:0]
	for i := range len(piece) + 1 {
		bounds = append(bounds, i)
	}
	for i := range len(piece) - 1 {
		ranks = append(ranks, t.rankOf(piece[i:i+2]))
	}
	// pairRank returns the rank of parts k and k+1 joined.
	pairRank := func(k int) int {
		if k+2 >= len(bounds) {
			return noRank
		}
		return t.rankOf(piece[bounds[k]:bounds[k+2]])
	}
	for {
		best, at := noRank, -1
		for k, r := range ranks {
			if r < best {
				best, at = r, k
			}
		}
		if at < 0 {
			break
		}
		// Join parts at and at+1: drop the boundary between them.
		bounds = append(bounds[:at+1], bounds[at+2:]...)
		ranks = append(ranks[:at], ranks[at+1:]...)
		if at < len(ranks) {
			ranks[at] = pairRank(at)
		}
		if at > 0 {
			ranks[at-1] = pairRank(at - 1)
		}
	}
	for k := range len(bounds) - 1 {
		ids = append(ids, t.ranks[piece[bounds[k]:bounds[k+1]]])
	}
	return ids
}

// appendHeapMerged is appendMerged for long pieces. The parts form a
// linked list, and candidate pairs sit in a min-heap keyed by (rank,
// start); an entry is stale, and skipped, once the pair at its start has
// changed.
func (t *Tokenizer) appendHeapMerged(ids []int, piece string) []int {
	n := len(piece)
	// Parts are named by the byte they start at. For a live part k,
	// next[k] is where the part after it starts (n for the last part),
	// prev[k] where the part before it starts (-1 for the first), and
	// rank[k] the rank of part k joined with the part after it (noRank if
	// that is not a token). dead[k] is set once part k has been merged
	// into its left neighbour.
	next := make([]int, n)
	prev := make([]int, n)
	rank := make([]int, n)
	dead := make([]bool, n)
	h := make(pairHeap, 0, n)
	for k := range n {
		next[k] = k + 1
		prev[k] = k - 1
		rank[k] = noRank
		if k+1 < n {
			rank[k] = t.rankOf(piece[k : k+2])
			if rank[k] != noRank {
				h = append(h, makePairKey(rank[k], k))
			}
		}
	}
	// setRank recomputes the rank of the pair at live part k.
	setRank := func(k int) {
		rank[k] = noRank
		if mid := next[k]; mid < n {
			rank[k] = t.rankOf(piece[k:next[mid]])
			if rank[k] != noRank {
				h.push(makePairKey(rank[k], k))
			}
		}
	}
	h.init()
	for len(h) > 0 {
		r, k := h.pop().split()
		// Ranks name distinct tokens, so an entry whose rank is still
		// the rank at its start is the current pair there.
		if dead[k] || rank[k] != r {
			continue
		}
		// Merge the part after k into k.
		mid := next[k]
		dead[mid] = true
		next[k] = next[mid]
		if next[k] < n {
			prev[next[k]] = k
		}
		setRank(k)
		if q := prev[k]; q >= 0 {
			setRank(q)
		}
	}
	for k := 0; k < n; k = next[k] {
		ids = append(ids, t.ranks[piece[k:next[k]]])
	}
	return ids
}

// pairKey is a candidate merge, the pair of parts at start with the given
// rank, packed into one heap key that orders by rank, then by start: the
// leftmost of the lowest-ranked pairs comes first. Ranks are below 2^16
// and starts below 2^40.
type pairKey uint64

// makePairKey packs rank and start.
func makePairKey(rank, start int) pairKey {
	return pairKey(rank)<<40 | pairKey(start)
}

// split unpacks k.
func (k pairKey) split() (rank, start int) {
	return int(k >> 40), int(k & (1<<40 - 1))
}

// pairHeap is a binary min-heap of pair keys: container/heap's algorithm
// without the interface calls.
type pairHeap []pairKey

// init establishes the heap order.
func (h pairHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// push adds key.
func (h *pairHeap) push(key pairKey) {
	*h = append(*h, key)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[i] >= s[parent] {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// pop removes and returns the least key; h must not be empty.
func (h *pairHeap) pop() pairKey {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return top
}

// down moves the key at i down to its place.
func (h pairHeap) down(i int) {
	for {
		least := i
		if l := 2*i + 1; l < len(h) && h[l] < h[least] {
			least = l
		}
		if r := 2*i + 2; r < len(h) && h[r] < h[least] {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
