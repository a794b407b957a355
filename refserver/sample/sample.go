// Package sample chooses the next token from a model's logits: greedy
// decoding, temperature, top-k and top-p (nucleus) sampling.
//
// The steps run in the order Hugging Face transformers and the OpenAI API
// use: divide the logits by the temperature, keep the top-k tokens, keep the
// nucleus of the distribution renormalised over what is left, then draw.
// Sampling is a pure function of the logits, the Params and the state of a
// seeded random number generator, so a fixed seed replays the same tokens
// for the same logits.
//
// A server holds one Sampler per sequence and calls Next once per decode
// step. Next keeps its scratch space between calls and does not allocate in
// steady state. It never sorts the whole vocabulary: top-k is a heap
// selection and top-p a weighted quickselect, both exact.
package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/llmbench/llmbench/refserver/nn"
)

// Params selects how the next token is chosen. The zero value means greedy
// decoding: Temperature 0 picks the argmax.
type Params struct {
	// Temperature divides the logits before the softmax: below 1 sharpens
	// the distribution, above 1 flattens it. 0 means greedy decoding
	// (argmax), and TopK, TopP and the seed are then ignored.
	Temperature float64 // e.g. 0.7

	// TopK keeps only the TopK most likely tokens, ties going to the lower
	// token id. 0 means no limit, and so does a value at least the
	// vocabulary size.
	TopK int // e.g. 40

	// TopP keeps the smallest set of most likely tokens whose probability,
	// renormalised after TopK, reaches TopP (nucleus sampling). Tokens of
	// equal probability enter the set lowest id first, and the set always
	// holds at least one token. 0 and 1 mean no limit.
	TopP float64 // e.g. 0.9

	// Seed seeds the random number generator when HasSeed is true.
	Seed uint64

	// HasSeed says whether Seed is set. When it is false New seeds the
	// generator from the runtime's random source, so no two Samplers repeat.
	HasSeed bool

	// Greedy forces argmax decoding whatever Temperature, TopK and TopP say.
	// It is the negation of the original API's do_sample.
	Greedy bool
}

// Validate reports every field that is out of range, naming each by its
// request field (temperature, top_k, top_p) with its value. It returns nil
// for valid Params, including the zero value.
func (p Params) Validate() error {
	var errs []error
	if !(p.Temperature >= 0) || math.IsInf(p.Temperature, 1) {
		errs = append(errs, fmt.Errorf("temperature %v: want a finite number >= 0", p.Temperature))
	}
	if p.TopK < 0 {
		errs = append(errs, fmt.Errorf("top_k %d: want >= 0 (0 means no limit)", p.TopK))
	}
	if !(p.TopP >= 0 && p.TopP <= 1) {
		errs = append(errs, fmt.Errorf("top_p %v: want a number in [0, 1] (0 and 1 mean no limit)", p.TopP))
	}
	return errors.Join(errs...)
}

// greedy reports whether p picks the argmax.
func (p Params) greedy() bool { return p.Greedy || p.Temperature == 0 }

// cand is a candidate token: its weight (or, briefly, its logit) and its id.
type cand struct {
	w   float64
	tok int32
}

// Sampler chooses the next token of one sequence. It holds the sequence's
// random number generator and scratch space of about 24 bytes per token of
// the vocabulary (1.2 MB for GPT-2) when sampling without TopK.
//
// Create one with New. The zero Sampler decodes greedily. A Sampler is not
// safe for concurrent use.
type Sampler struct {
	p   Params
	rng *rand.Rand
	c   []cand    // scratch for Next
	w   []float64 // the weights, scratch for Next without TopK
	bs  []float64 // the weights' block sums (blockSums), scratch likewise
}

// New returns a Sampler for p. vocab, e.g. 50257, sizes the scratch space so
// that Next does not allocate on logits of that length; Next still accepts
// any length. New panics if p.Validate returns an error: validate
// request input before calling it.
func New(p Params, vocab int) *Sampler {
	if err := p.Validate(); err != nil {
		panic("sample: " + err.Error())
	}
	s := &Sampler{p: p}
	if p.greedy() {
		return s
	}
	var s1, s2 uint64
	if p.HasSeed {
		state := p.Seed
		s1, s2 = splitmix64(&state), splitmix64(&state)
	} else {
		s1, s2 = rand.Uint64(), rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(s1, s2))
	size := max(vocab, 0)
	if p.TopK > 0 && p.TopK < size {
		size = p.TopK
	}
	s.c = make([]cand, size)
	if size == vocab {
		s.w = make([]float64, size)
		s.bs = make([]float64, (size+weightBlock-1)/weightBlock)
	}
	return s
}

// splitmix64 advances state and returns the next output of SplitMix64,
// which spreads one seed over the two words PCG needs.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Next returns the id of the next token given the logits of the last
// position, one per vocabulary entry. It does not modify logits.
//
// NaN logits count as -Inf, and a token whose logit is -Inf is never drawn.
// If no logit is greater than -Inf, or the largest is +Inf, the softmax is
// undefined and Next returns Argmax(logits): the first +Inf, or 0. Next
// returns -1 for empty logits.
func (s *Sampler) Next(logits []float32) int {
	n := len(logits)
	if n == 0 {
		return -1
	}
	if s.p.greedy() {
		return Argmax(logits)
	}
	temp := s.p.Temperature

	var c []cand
	var z float64 // sum of the weights in c
	if k := s.p.TopK; k > 0 && k < n {
		c = topK(s.scratch(k), logits)
		m := c[0].w
		for _, x := range c[1:] {
			m = max(m, x.w)
		}
		if math.IsInf(m, 0) {
			return Argmax(logits)
		}
		for i := range c {
			c[i].w = weight(c[i].w, m, temp)
			z += c[i].w
		}
	} else {
		i, m := nn.Argmax(logits)
		if math.IsInf(float64(m), 0) {
			return i
		}
		w := s.weights(n)
		nn.SampleWeights(w, logits, float64(m), temp)
		bs := s.blockSums(n)
		z = blockSums(bs, w)
		if !s.nucleus() {
			// Temperature alone: draw along the weights themselves.
			return drawWeights(w, bs, s.rng.Float64()*z)
		}
		c = s.scratch(n)
		for i, x := range w {
			c[i] = cand{w: x, tok: int32(i)}
		}
	}

	if s.nucleus() {
		p := s.p.TopP
		if s.p.TopK == 0 || s.p.TopK >= n {
			// Every token outside the nucleus weighs less than this, and
			// together the lighter ones weigh under half of 1-p: drop them
			// before the quickselect.
			c = above(c, 0.5*(1-p)*z/float64(n))
		}
		c = c[:nucleus(c, p*z, maxRounds)]
		z = 0
		for _, x := range c {
			z += x.w
		}
	}
	return draw(c, s.rng.Float64()*z)
}

// nucleus reports whether top-p applies.
func (s *Sampler) nucleus() bool { return s.p.TopP > 0 && s.p.TopP < 1 }

// weights returns s.w resized to n, growing it if needed.
func (s *Sampler) weights(n int) []float64 {
	if cap(s.w) < n {
		s.w = make([]float64, n)
	}
	return s.w[:n]
}

// blockSums returns s.bs resized to the blocks of n weights, growing it
// if needed.
func (s *Sampler) blockSums(n int) []float64 {
	nb := (n + weightBlock - 1) / weightBlock
	if cap(s.bs) < nb {
		s.bs = make([]float64, nb)
	}
	return s.bs[:nb]
}

// scratch returns s.c resized to n, growing it if needed.
func (s *Sampler) scratch(n int) []cand {
	if cap(s.c) < n {
		s.c = make([]cand, n)
	}
	return s.c[:n]
}

// weight returns the unnormalised probability exp((x-m)/temp) of logit x,
// where m is the largest logit. It is 0 for NaN, -Inf and logits so small
// that exp underflows. It divides rather than multiplies by 1/temp, which
// would overflow for temp below 1/MaxFloat64.
func weight(x, m, temp float64) float64 {
	d := (x - m) / temp
	if !(d > -746) {
		return 0
	}
	return nn.ExpNeg(d)
}

// weightBlock is how many weights blockSums adds up into one sum.
const weightBlock = 64

// blockSums sets bs[b] to the sum of w's block b (weightBlock weights, the
// last block possibly fewer) and returns the sum of bs, in order. Each
// block is summed in 8 interleaved partial sums, added pairwise: 8
// independent chains of additions instead of one, so that a vocabulary of
// 50,257 weights sums in about 8 µs where one running sum took 28. The
// order is fixed, so the sums are the same bits on every machine.
func blockSums(bs, w []float64) float64 {
	var z float64
	for b := range bs {
		blk := w[b*weightBlock : min(len(w), (b+1)*weightBlock)]
		var p0, p1, p2, p3, p4, p5, p6, p7 float64
		i := 0
		for ; i+8 <= len(blk); i += 8 {
			x := blk[i : i+8 : i+8]
			p0, p1, p2, p3 = p0+x[0], p1+x[1], p2+x[2], p3+x[3]
			p4, p5, p6, p7 = p4+x[4], p5+x[5], p6+x[6], p7+x[7]
		}
		var t [8]float64 // a short last block, in lanes 0, 1, …; +0 elsewhere
		copy(t[:], blk[i:])
		p0, p1, p2, p3 = p0+t[0], p1+t[1], p2+t[2], p3+t[3]
		p4, p5, p6, p7 = p4+t[4], p5+t[5], p6+t[6], p7+t[7]
		bs[b] = ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7))
		z += bs[b]
	}
	return z
}

// drawWeights is draw over the tokens 0..len(w)-1 with weights w, whose
// block sums are bs: it skips whole blocks along the running sum of bs,
// then walks the block that u falls in weight by weight. Should rounding
// put u past that block's own running sum, it returns the block's last
// token of positive weight, and past every block the last such token.
func drawWeights(w, bs []float64, u float64) int {
	var acc float64
	lastBlock := -1
	for b, sum := range bs {
		if !(sum > 0) {
			continue
		}
		lastBlock = b
		if !(u < acc+sum) {
			acc += sum
			continue
		}
		last := -1
		for i, x := range w[b*weightBlock : min(len(w), (b+1)*weightBlock)] {
			if x > 0 {
				acc += x
				last = b*weightBlock + i
				if u < acc {
					break
				}
			}
		}
		return last
	}
	if lastBlock < 0 {
		return -1
	}
	blk := w[lastBlock*weightBlock : min(len(w), (lastBlock+1)*weightBlock)]
	for i := len(blk) - 1; i >= 0; i-- {
		if blk[i] > 0 {
			return lastBlock*weightBlock + i
		}
	}
	return -1
}

// draw returns the token at u along the cumulative weights of c, where u is
// in [0, sum of weights). Tokens of weight 0 are never returned; should
// rounding put u past the end, draw returns the last token of positive weight.
func draw(c []cand, u float64) int {
	var acc float64
	last := -1
	for _, x := range c {
		if x.w > 0 {
			acc += x.w
			last = int(x.tok)
			if u < acc {
				return last
			}
		}
	}
	return last
}

// Argmax returns the index of the largest logit, the lowest index among
// ties. NaN counts as -Inf, so if no logit is greater than -Inf Argmax
// returns 0. It returns -1 for an empty slice. It runs in the CPU's vector
// kernels (nn.Argmax): a row of 50,257 logits from cache in 1.3 µs on
// AVX-512, where a Go loop took 36 µs, which for 8 sequences on 2 threads
// was about 4 % of an int8 decode step.
func Argmax(logits []float32) int {
	i, _ := nn.Argmax(logits)
	return i
}
