package sample_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/refserver/sample"
)

const gpt2Vocab = 50257

var (
	nan    = float32(math.NaN())
	negInf = float32(math.Inf(-1))
	posInf = float32(math.Inf(1))
)

// randomLogits returns n logits drawn from N(0, sd²) by a generator seeded
// with seed.
func randomLogits(seed uint64, n int, sd float64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(sd * r.NormFloat64())
	}
	return l
}

// allowed computes, independently of the package, the set of tokens that p
// may emit for logits: softmax at p.Temperature, top-k and top-p by a full
// sort, ties going to the lower id.
func allowed(p sample.Params, logits []float32) map[int]bool {
	n := len(logits)
	m := math.Inf(-1)
	for _, x := range logits {
		if !math.IsNaN(float64(x)) {
			m = max(m, float64(x))
		}
	}
	probs := make([]float64, n)
	for i, x := range logits {
		if !math.IsNaN(float64(x)) {
			probs[i] = math.Exp((float64(x) - m) / p.Temperature)
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case probs[a] > probs[b]:
			return -1
		case probs[a] < probs[b]:
			return 1
		}
		return 0
	})
	if p.TopK > 0 && p.TopK < n {
		order = order[:p.TopK]
	}
	var z float64
	for _, i := range order {
		z += probs[i]
	}
	set := make(map[int]bool)
	var acc float64
	for _, i := range order {
		if p.TopP > 0 && p.TopP < 1 && acc >= p.TopP*z {
			break
		}
		if probs[i] > 0 {
			set[i] = true
		}
		acc += probs[i]
	}
	return set
}

func TestArgmax(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		want   int
	}{
		{"empty", nil, -1},
		{"one", []float32{-3}, 0},
		{"last", []float32{1, 2, 3}, 2},
		{"tie goes to lowest index", []float32{1, 5, 2, 5, 5}, 1},
		{"negative", []float32{-7, -2, -9}, 1},
		{"NaN is ignored", []float32{nan, 1, nan, 2, nan}, 3},
		{"all NaN", []float32{nan, nan, nan}, 0},
		{"all -Inf", []float32{negInf, negInf}, 0},
		{"NaN and -Inf", []float32{nan, negInf, -1e30}, 2},
		{"+Inf", []float32{1, posInf, posInf}, 1},
		{"tie across lanes, long", []float32{0, 1, 2, 3, 4, 5, 9, 7, 8, 9, 1, 9, 2}, 6},
		{"max in the tail", []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, nan, 10}, 10},
		{"NaN in every lane", []float32{nan, nan, nan, nan, -5, nan, nan, nan, nan}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sample.Argmax(tt.logits); got != tt.want {
				t.Errorf("Argmax(%v) = %d, want %d", tt.logits, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       sample.Params
		wantErr []string // substrings of the error; none means valid
	}{
		{"zero", sample.Params{}, nil},
		{"typical", sample.Params{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 1, HasSeed: true}, nil},
		{"top_p 1", sample.Params{Temperature: 1, TopP: 1}, nil},
		{"greedy", sample.Params{Greedy: true, Temperature: 2}, nil},
		{"negative temperature", sample.Params{Temperature: -1}, []string{"temperature -1"}},
		{"NaN temperature", sample.Params{Temperature: math.NaN()}, []string{"temperature NaN"}},
		{"infinite temperature", sample.Params{Temperature: math.Inf(1)}, []string{"temperature +Inf"}},
		{"negative top_k", sample.Params{TopK: -3}, []string{"top_k -3"}},
		{"top_p above 1", sample.Params{TopP: 1.5}, []string{"top_p 1.5"}},
		{"negative top_p", sample.Params{TopP: -0.1}, []string{"top_p -0.1"}},
		{"NaN top_p", sample.Params{TopP: math.NaN()}, []string{"top_p NaN"}},
		{"all three", sample.Params{Temperature: -2, TopK: -1, TopP: 2}, []string{"temperature -2", "top_k -1", "top_p 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if got := err.Error(); !strings.Contains(got, want) {
					t.Errorf("Validate() = %q, want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestNewPanicsOnInvalidParams(t *testing.T) {
	defer func() {
		got, _ := recover().(string)
		if want := "sample: top_k -1"; !strings.HasPrefix(got, want) {
			t.Errorf("panic = %q, want prefix %q", got, want)
		}
	}()
	sample.New(sample.Params{TopK: -1}, 10)
}

func TestGreedy(t *testing.T) {
	logits := randomLogits(1, 1000, 3)
	want := sample.Argmax(logits)
	tests := []struct {
		name string
		p    sample.Params
	}{
		{"zero params", sample.Params{}},
		{"temperature 0", sample.Params{TopK: 40, TopP: 0.5, HasSeed: true, Seed: 7}},
		{"greedy ignores temperature", sample.Params{Greedy: true, Temperature: 5}},
		{"greedy ignores top-k and top-p", sample.Params{Greedy: true, Temperature: 1, TopK: 100, TopP: 0.99}},
		{"top-k 1", sample.Params{Temperature: 3, TopK: 1}},
		{"tiny top-p", sample.Params{Temperature: 1, TopP: 1e-9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sample.New(tt.p, len(logits))
			for range 100 {
				if got := s.Next(logits); got != want {
					t.Fatalf("Next = %d, want argmax %d", got, want)
				}
			}
		})
	}
	t.Run("zero Sampler", func(t *testing.T) {
		var s sample.Sampler
		if got := s.Next(logits); got != want {
			t.Errorf("Next = %d, want argmax %d", got, want)
		}
	})
}

// TestTopKOneIsArgmax checks top-k 1 against Argmax on many logits,
// including ties and NaN.
func TestTopKOneIsArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	s := sample.New(sample.Params{Temperature: 1, TopK: 1, HasSeed: true}, 50)
	for i := range 500 {
		logits := make([]float32, 50)
		for j := range logits {
			logits[j] = float32(r.IntN(5)) // many ties
			if r.IntN(10) == 0 {
				logits[j] = nan
			}
		}
		if got, want := s.Next(logits), sample.Argmax(logits); got != want {
			t.Fatalf("case %d: Next = %d, want Argmax %d (logits %v)", i, got, want, logits)
		}
	}
}

// stream returns n tokens drawn by a new Sampler for p.
func stream(p sample.Params, logits []float32, n int) []int {
	s := sample.New(p, len(logits))
	toks := make([]int, n)
	for i := range toks {
		toks[i] = s.Next(logits)
	}
	return toks
}

var samplingParams = []struct {
	name string
	p    sample.Params
}{
	{"temperature", sample.Params{Temperature: 1}},
	{"hot", sample.Params{Temperature: 2}},
	{"top-k 40", sample.Params{Temperature: 0.7, TopK: 40}},
	{"top-p 0.9", sample.Params{Temperature: 0.7, TopP: 0.9}},
	{"top-k 40 top-p 0.9", sample.Params{Temperature: 0.7, TopK: 40, TopP: 0.9}},
}

func TestSeedReproducible(t *testing.T) {
	logits := randomLogits(2, 2000, 2)
	for _, tt := range samplingParams {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Seed, p.HasSeed = 42, true
			a, b := stream(p, logits, 1000), stream(p, logits, 1000)
			if !slices.Equal(a, b) {
				t.Errorf("two Samplers with seed 42 differ:\n got %v\nwant %v", a, b)
			}
		})
	}
}

func TestSeedsDiffer(t *testing.T) {
	logits := randomLogits(3, 2000, 1)
	for _, tt := range samplingParams {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Seed, p.HasSeed = 1, true
			a := stream(p, logits, 1000)
			p.Seed = 2
			b := stream(p, logits, 1000)
			if slices.Equal(a, b) {
				t.Errorf("seeds 1 and 2 give the same 1000 tokens")
			}
			p.HasSeed = false
			c, d := stream(p, logits, 1000), stream(p, logits, 1000)
			if slices.Equal(c, d) {
				t.Errorf("two unseeded Samplers give the same 1000 tokens")
			}
		})
	}
}

// TestSupport checks that no draw falls outside the top-k or nucleus set
// that allowed computes by sorting.
func TestSupport(t *testing.T) {
	tests := []struct {
		name string
		p    sample.Params
	}{
		{"top-k 1", sample.Params{Temperature: 1, TopK: 1}},
		{"top-k 5", sample.Params{Temperature: 1, TopK: 5}},
		{"top-k 40", sample.Params{Temperature: 1, TopK: 40}},
		{"top-k 40 hot", sample.Params{Temperature: 3, TopK: 40}},
		{"top-p 0.1", sample.Params{Temperature: 1, TopP: 0.1}},
		{"top-p 0.5", sample.Params{Temperature: 1, TopP: 0.5}},
		{"top-p 0.9", sample.Params{Temperature: 1, TopP: 0.9}},
		{"top-p 0.9 cold", sample.Params{Temperature: 0.5, TopP: 0.9}},
		{"top-p 0.9 hot", sample.Params{Temperature: 3, TopP: 0.9}},
		{"top-k 40 top-p 0.5", sample.Params{Temperature: 1, TopK: 40, TopP: 0.5}},
		{"top-k 5 top-p 0.9", sample.Params{Temperature: 0.7, TopK: 5, TopP: 0.9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Seed, p.HasSeed = 11, true
			s := sample.New(p, 1000)
			seen := make(map[int]bool)
			for c := range 20 {
				logits := randomLogits(uint64(100+c), 1000, 2)
				set := allowed(p, logits)
				for range 200 {
					tok := s.Next(logits)
					if !set[tok] {
						t.Fatalf("logits %d: Next = %d, outside the %d allowed tokens", c, tok, len(set))
					}
					seen[tok] = true
				}
			}
			if p.TopK != 1 && len(seen) < 2 {
				t.Errorf("saw %d distinct tokens, want several", len(seen))
			}
		})
	}
}

// TestDistribution compares token frequencies over 20000 draws against the
// textbook probabilities with a chi-square test. The seed is fixed, so the
// result cannot flake.
func TestDistribution(t *testing.T) {
	logp := func(probs ...float64) []float32 {
		l := make([]float32, len(probs))
		for i, p := range probs {
			l[i] = float32(math.Log(p))
		}
		return l
	}
	tests := []struct {
		name   string
		p      sample.Params
		logits []float32
		want   []float64
	}{
		{"temperature 1", sample.Params{Temperature: 1}, logp(0.1, 0.2, 0.3, 0.4), []float64{0.1, 0.2, 0.3, 0.4}},
		{"temperature 0.5 squares", sample.Params{Temperature: 0.5}, logp(0.1, 0.2, 0.3, 0.4), []float64{1. / 30, 4. / 30, 9. / 30, 16. / 30}},
		{"temperature 2 takes roots", sample.Params{Temperature: 2}, logp(0.04, 0.16, 0.36, 0.44), func() []float64 {
			r := []float64{0.2, 0.4, 0.6, math.Sqrt(0.44)}
			z := r[0] + r[1] + r[2] + r[3]
			for i := range r {
				r[i] /= z
			}
			return r
		}()},
		{"-Inf never drawn", sample.Params{Temperature: 1}, []float32{negInf, 0, nan, 0}, []float64{0, 0.5, 0, 0.5}},
		{"top-k 3 renormalises", sample.Params{Temperature: 1, TopK: 3}, logp(0.1, 0.2, 0.3, 0.4), []float64{0, 2. / 9, 3. / 9, 4. / 9}},
		{"top-p 0.7 renormalises", sample.Params{Temperature: 1, TopP: 0.7}, logp(0.05, 0.15, 0.3, 0.5), []float64{0, 0, 0.375, 0.625}},
		// Top-k 2 leaves 4/7 and 3/7, and 4/7 alone reaches 0.5. Top-p
		// over the original distribution would have kept both.
		{"top-k then top-p", sample.Params{Temperature: 1, TopK: 2, TopP: 0.5}, logp(0.4, 0.3, 0.2, 0.1), []float64{1, 0, 0, 0}},
		// At T=2 the probabilities become ~(0.415, 0.322, 0.263), so the
		// nucleus needs two tokens; at T=1, 0.5 alone would reach it.
		{"temperature then top-p", sample.Params{Temperature: 2, TopP: 0.5}, logp(0.5, 0.3, 0.2), []float64{
			math.Sqrt(0.5) / (math.Sqrt(0.5) + math.Sqrt(0.3)), math.Sqrt(0.3) / (math.Sqrt(0.5) + math.Sqrt(0.3)), 0}},
		{"tiny temperature splits ties", sample.Params{Temperature: 1e-320}, []float32{1, 3, 2, 3}, []float64{0, 0.5, 0, 0.5}},
		{"tiny temperature top-k", sample.Params{Temperature: 1e-320, TopK: 3}, []float32{1, 3, 2, 3}, []float64{0, 0.5, 0, 0.5}},
		{"top-p tie goes to lower id", sample.Params{Temperature: 1, TopP: 0.5}, []float32{0, 0, 0, 0}, []float64{0.5, 0.5, 0, 0}},
		{"top-k tie goes to lower id", sample.Params{Temperature: 1, TopK: 2}, []float32{1, 2, 1, 2, 2}, []float64{0, 0.5, 0, 0.5, 0}},
	}
	// The 0.999 quantile of chi-square with 1 to 4 degrees of freedom.
	critical := []float64{0, 10.83, 13.82, 16.27, 18.47}
	const draws = 20000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Seed, p.HasSeed = 2024, true
			s := sample.New(p, len(tt.logits))
			counts := make([]int, len(tt.logits))
			for range draws {
				counts[s.Next(tt.logits)]++
			}
			var chi2 float64
			dof := -1
			for i, want := range tt.want {
				if want == 0 {
					if counts[i] != 0 {
						t.Errorf("token %d drawn %d times, want never", i, counts[i])
					}
					continue
				}
				e := want * draws
				chi2 += (float64(counts[i]) - e) * (float64(counts[i]) - e) / e
				dof++
			}
			if dof > 0 && chi2 > critical[dof] {
				t.Errorf("counts %v: chi-square %.2f, want <= %.2f (%d degrees of freedom) for probabilities %.4f", counts, chi2, critical[dof], dof, tt.want)
			}
		})
	}
}

func TestNaN(t *testing.T) {
	mixed := []float32{nan, 1, nan, 3, 2, nan}
	tests := []struct {
		name   string
		logits []float32
		want   []int // the tokens Next may return
	}{
		{"mixed", mixed, []int{1, 3, 4}},
		{"one finite", []float32{nan, nan, -5, nan}, []int{2}},
		{"all NaN", []float32{nan, nan, nan}, []int{0}},
		{"all -Inf", []float32{negInf, negInf, negInf}, []int{0}},
		{"NaN and -Inf", []float32{nan, negInf, nan}, []int{0}},
		{"+Inf", []float32{1, nan, posInf, posInf}, []int{2}},
	}
	params := append(samplingParams[:len(samplingParams):len(samplingParams)],
		struct {
			name string
			p    sample.Params
		}{"top-k 2", sample.Params{Temperature: 1, TopK: 2}},
		struct {
			name string
			p    sample.Params
		}{"greedy", sample.Params{}})
	for _, tt := range tests {
		for _, pp := range params {
			t.Run(tt.name+"/"+pp.name, func(t *testing.T) {
				p := pp.p
				p.HasSeed = true
				s := sample.New(p, len(tt.logits))
				for range 200 {
					if got := s.Next(tt.logits); !slices.Contains(tt.want, got) {
						t.Fatalf("Next(%v) = %d, want one of %v", tt.logits, got, tt.want)
					}
				}
			})
		}
	}
}

func TestNextEdgeCases(t *testing.T) {
	p := sample.Params{Temperature: 1, TopK: 40, TopP: 0.9, HasSeed: true}
	t.Run("empty logits", func(t *testing.T) {
		if got := sample.New(p, 10).Next(nil); got != -1 {
			t.Errorf("Next(nil) = %d, want -1", got)
		}
	})
	t.Run("logits longer than vocab", func(t *testing.T) {
		s := sample.New(sample.Params{Temperature: 1, HasSeed: true}, 4)
		logits := []float32{0, 0, 0, 0, 0, 0, 0, 0, 100}
		if got, want := s.Next(logits), 8; got != want {
			t.Errorf("Next = %d, want %d", got, want)
		}
	})
	t.Run("top-k at least vocab is no limit", func(t *testing.T) {
		logits := randomLogits(5, 100, 1)
		q := sample.Params{Temperature: 1, Seed: 3, HasSeed: true}
		want := stream(q, logits, 500)
		q.TopK = 100
		if got := stream(q, logits, 500); !slices.Equal(got, want) {
			t.Errorf("top-k 100 of 100 differs from no top-k")
		}
	})
	t.Run("top-p 1 is no limit", func(t *testing.T) {
		logits := randomLogits(6, 100, 1)
		q := sample.Params{Temperature: 1, Seed: 3, HasSeed: true}
		want := stream(q, logits, 500)
		q.TopP = 1
		if got := stream(q, logits, 500); !slices.Equal(got, want) {
			t.Errorf("top-p 1 differs from no top-p")
		}
	})
	t.Run("logits unchanged", func(t *testing.T) {
		logits := randomLogits(7, gpt2Vocab, 2)
		logits[10] = nan
		before := slices.Clone(logits)
		for _, tt := range samplingParams {
			s := sample.New(tt.p, gpt2Vocab)
			s.Next(logits)
			if !slices.EqualFunc(logits, before, func(a, b float32) bool {
				return a == b || (a != a && b != b)
			}) {
				t.Fatalf("%s: Next modified its logits", tt.name)
			}
		}
	})
}

func TestNextDoesNotAllocate(t *testing.T) {
	logits := randomLogits(8, gpt2Vocab, 2)
	params := append(samplingParams[:len(samplingParams):len(samplingParams)],
		struct {
			name string
			p    sample.Params
		}{"greedy", sample.Params{}})
	for _, tt := range params {
		t.Run(tt.name, func(t *testing.T) {
			s := sample.New(tt.p, gpt2Vocab)
			if got := testing.AllocsPerRun(20, func() { s.Next(logits) }); got != 0 {
				t.Errorf("Next allocates %v times per call, want 0", got)
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	logits := randomLogits(10, gpt2Vocab, 3)
	benchmarks := []struct {
		name string
		p    sample.Params
	}{
		{"greedy", sample.Params{}},
		{"temperature", sample.Params{Temperature: 0.7}},
		{"top-k 40", sample.Params{Temperature: 0.7, TopK: 40}},
		{"top-p 0.9", sample.Params{Temperature: 0.7, TopP: 0.9}},
		{"top-k 40 top-p 0.9", sample.Params{Temperature: 0.7, TopK: 40, TopP: 0.9}},
	}
	for _, bb := range benchmarks {
		b.Run(bb.name, func(b *testing.B) {
			p := bb.p
			p.HasSeed = true
			s := sample.New(p, gpt2Vocab)
			b.ReportAllocs()
			for b.Loop() {
				s.Next(logits)
			}
		})
	}
}
