package gpt2

import (
	"math"
	"testing"

	"github.com/llmbench/llmbench/refserver/nn"
)

// smallRunner returns a synthetic model as wide as GPT-2's heads (2 layers
// of 6 heads) with a KV cache of type kv, and a Runner of 64 rows on 2
// workers, closed when the test ends.
func smallRunner(t *testing.T, kv nn.DType, positions int, seed uint64) (*Model, *Runner) {
	t.Helper()
	m, err := NewSynthetic(Config{NLayer: 2, NHead: 6, NEmbd: 384, NPositions: positions, VocabSize: 50257}, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.KV = kv
	pool := nn.NewPool(2)
	t.Cleanup(pool.Close)
	return m, NewRunner(m, pool, 64)
}

// TestPrefillEqualsDecode: a prompt fed in steps of 64 rows gives the
// logits that feeding it one token a step gives, and leaves the same KV
// cache behind, with an f32 and an f16 cache, on a model as wide as
// GPT-2's heads (a prefill's products take several row tiles, its
// attention many items). The prompt spans three of the cache's blocks.
func TestPrefillEqualsDecode(t *testing.T) {
	for _, kv := range []nn.DType{nn.F32, nn.F16, nn.Int8} {
		t.Run(string(kv), func(t *testing.T) {
			m, r := smallRunner(t, kv, 256, 3)
			const n = 2*kvBlock + 22
			prompt := make([]int, n)
			for i := range prompt {
				prompt[i] = (i*37 + 11) % 50257
			}
			whole, err := m.NewCache(n + 1)
			if err != nil {
				t.Fatal(err)
			}
			var want []float32
			for lo := 0; lo < n; lo += r.MaxRows() {
				var rows []Row
				for p := lo; p < min(lo+r.MaxRows(), n); p++ {
					rows = append(rows, Row{Cache: whole, Pos: p, Token: prompt[p], Logits: p == n-1})
				}
				out, err := r.Forward(rows)
				if err != nil {
					t.Fatal(err)
				}
				if lo+r.MaxRows() >= n {
					want = append([]float32(nil), out[0]...)
				}
			}

			steps, _ := m.NewCache(n + 1)
			var got []float32
			for p, id := range prompt {
				out, err := r.Forward([]Row{{Cache: steps, Pos: p, Token: id, Logits: p == n-1}})
				if err != nil {
					t.Fatal(err)
				}
				if p == n-1 {
					got = out[0]
				}
			}
			var worst float64
			for i := range want {
				worst = max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-4 {
				t.Errorf("logits after the prompt: step by step and in steps of %d differ by up to %g", r.MaxRows(), worst)
			}
			// The next token's logits read every cached position.
			next := []Row{{Cache: whole, Pos: n, Token: 5, Logits: true}}
			a, _ := r.Forward(next)
			a0 := append([]float32(nil), a[0]...)
			next[0].Cache = steps
			b, _ := r.Forward(next)
			for i := range a0 {
				if d := math.Abs(float64(a0[i] - b[0][i])); d > 1e-4 {
					t.Fatalf("the next token's logit %d: %v against %v: the caches differ", i, a0[i], b[0][i])
				}
			}
		})
	}
}

// TestMixedBatch: one step that carries a decoding sequence, a prompt's
// later chunk and a whole short prompt gives each sequence the logits it
// gets when it runs alone. The attention takes its work a sequence's head
// at a time, in whatever order the workers come, so this checks that each
// sequence's rows still see each other's keys in order and no one else's.
func TestMixedBatch(t *testing.T) {
	type seq struct {
		cached, fed int // positions cached before the step, and fed in it
	}
	seqs := []seq{{cached: 10, fed: 1}, {cached: 5, fed: 20}, {cached: 0, fed: 7}, {cached: 3, fed: 1}}
	for _, kv := range []nn.DType{nn.F32, nn.F16, nn.Int8} {
		t.Run(string(kv), func(t *testing.T) {
			m, r := smallRunner(t, kv, 64, 5)
			token := func(s, p int) int { return (s*1009 + p*37 + 11) % 50257 }
			// prime fills a fresh cache for sequence s with its cached
			// positions, a token a step.
			prime := func(s int) *Cache {
				c, err := m.NewCache(32)
				if err != nil {
					t.Fatal(err)
				}
				for p := 0; p < seqs[s].cached; p++ {
					if _, err := r.Forward([]Row{{Cache: c, Pos: p, Token: token(s, p)}}); err != nil {
						t.Fatal(err)
					}
				}
				return c
			}
			feed := func(s int, c *Cache) []Row {
				var rows []Row
				for p := seqs[s].cached; p < seqs[s].cached+seqs[s].fed; p++ {
					rows = append(rows, Row{Cache: c, Pos: p, Token: token(s, p), Logits: true})
				}
				return rows
			}
			// Alone: a token a step, so no step holds two rows.
			var alone [][]float32
			for s := range seqs {
				for _, row := range feed(s, prime(s)) {
					out, err := r.Forward([]Row{row})
					if err != nil {
						t.Fatal(err)
					}
					alone = append(alone, append([]float32(nil), out[0]...))
				}
			}
			var rows []Row
			for s := range seqs {
				rows = append(rows, feed(s, prime(s))...)
			}
			together, err := r.Forward(rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(together) != len(alone) {
				t.Fatalf("%d rows of logits, want %d", len(together), len(alone))
			}
			for i := range alone {
				for j := range alone[i] {
					if d := math.Abs(float64(together[i][j] - alone[i][j])); d > 1e-4 {
						t.Fatalf("row %d (position %d), logit %d: %v in the mixed step, %v alone", i, rows[i].Pos, j, together[i][j], alone[i][j])
					}
				}
			}
		})
	}
}
