package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortedDesc returns c sorted by weight, descending, ties by token id.
func sortedDesc(c []cand) []cand {
	s := slices.Clone(c)
	slices.SortStableFunc(s, func(a, b cand) int {
		switch {
		case a.w > b.w:
			return -1
		case a.w < b.w:
			return 1
		}
		return int(a.tok) - int(b.tok)
	})
	return s
}

// tokens returns the sorted token ids of c.
func tokens(c []cand) []int32 {
	ids := make([]int32, len(c))
	for i, x := range c {
		ids[i] = x.tok
	}
	slices.Sort(ids)
	return ids
}

// weightsFor returns n cands whose weights follow shape.
func weightsFor(r *rand.Rand, shape string, n int) []cand {
	c := make([]cand, n)
	for i := range c {
		var w float64
		switch shape {
		case "random":
			w = math.Exp(3 * r.NormFloat64())
		case "ties":
			w = float64(r.IntN(4)) // zeros too
		case "equal":
			w = 1
		case "ascending":
			w = float64(i + 1)
		case "descending":
			w = float64(n - i)
		case "one":
			if i == n/2 {
				w = 1
			}
		}
		c[i] = cand{w: w, tok: int32(i)}
	}
	return c
}

func TestNucleusMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, shape := range []string{"random", "ties", "equal", "ascending", "descending", "one"} {
		for _, n := range []int{1, 2, 7, 100, 1000} {
			for _, p := range []float64{0.01, 0.1, 0.5, 0.9, 0.999} {
				for _, rounds := range []int{0, 1, maxRounds} {
					c := weightsFor(r, shape, n)
					if shape == "ties" {
						c[r.IntN(n)].w = 5 // at least one positive weight
					}
					var z float64
					for _, x := range c {
						z += x.w
					}
					target := p * z

					var want []cand
					var acc float64
					for _, x := range sortedDesc(c) {
						if acc >= target {
							break
						}
						want = append(want, x)
						acc += x.w
					}

					k := nucleus(c, target, rounds)
					got := c[:k]
					if !slices.Equal(tokens(got), tokens(want)) {
						t.Fatalf("%s n=%d p=%v rounds=%d: got tokens %v, want %v", shape, n, p, rounds, tokens(got), tokens(want))
					}
				}
			}
		}
	}
}

func TestTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, shape := range []string{"random", "ties", "nan"} {
		for _, n := range []int{1, 5, 100, 1000} {
			for _, k := range []int{1, 2, 5, 40, 1000} {
				if k > n {
					continue
				}
				logits := make([]float32, n)
				ref := make([]cand, n)
				for i := range logits {
					switch shape {
					case "random":
						logits[i] = float32(3 * r.NormFloat64())
					case "ties":
						logits[i] = float32(r.IntN(3))
					case "nan":
						logits[i] = float32(r.IntN(3))
						if r.IntN(3) == 0 {
							logits[i] = float32(math.NaN())
						}
					}
					ref[i] = cand{w: float64(logits[i]), tok: int32(i)}
					if math.IsNaN(ref[i].w) {
						ref[i].w = math.Inf(-1)
					}
				}
				want := sortedDesc(ref)[:k]
				got := topK(make([]cand, k), logits)
				if !slices.Equal(tokens(got), tokens(want)) {
					t.Fatalf("%s n=%d k=%d: got tokens %v, want %v", shape, n, k, tokens(got), tokens(want))
				}
			}
		}
	}
}

// TestDrawWeightsBlocks checks the blocked draw against one running sum
// over every weight: at the middle of each token's share of the total
// (far from any rounding), on weights with zeros, with whole blocks of
// zeros, a short last block, and lengths around weightBlock; and u at or
// past the total gives the last token of positive weight.
func TestDrawWeightsBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 63, 64, 65, 200, 1000} {
		for _, zeros := range []string{"none", "some", "blocks", "tail"} {
			w := make([]float64, n)
			for i := range w {
				w[i] = r.Float64()
				switch {
				case zeros == "some" && r.IntN(3) == 0,
					zeros == "blocks" && (i/weightBlock)%2 == 1,
					zeros == "tail" && i > n/2:
					w[i] = 0
				}
			}
			bs := make([]float64, (n+weightBlock-1)/weightBlock)
			z := blockSums(bs, w)
			var acc, want float64
			last := -1
			for i, x := range w {
				want += x
				if x > 0 {
					last = i
				}
			}
			if math.Abs(z-want) > 1e-12*want {
				t.Fatalf("n=%d %s: blockSums total %v, one running sum %v", n, zeros, z, want)
			}
			for i, x := range w {
				if x == 0 {
					continue
				}
				u := acc + x/2
				acc += x
				if got := drawWeights(w, bs, u); got != i {
					t.Fatalf("n=%d %s: u=%v in token %d's share: drew %d", n, zeros, u, i, got)
				}
			}
			for _, u := range []float64{z, z * 1.0000001} {
				if got := drawWeights(w, bs, u); got != last {
					t.Errorf("n=%d %s: u=%v past the total %v: drew %d, want the last positive token %d", n, zeros, u, z, got, last)
				}
			}
		}
	}
	if got := drawWeights(make([]float64, 100), make([]float64, 2), 0); got != -1 {
		t.Errorf("all weights 0: drew %d, want -1", got)
	}
}
