// Package backendtest checks that a backend.Backend keeps the seam's
// contract, whatever device it runs on: caches within the context, a step
// over several sequences giving the same logits as the sequences one by
// one, released caches refused, bad rows refused. The CPU backend runs it
// in make test; the CUDA backend runs it on a GPU.
package backendtest

import (
	"math"
	"testing"

	"github.com/llmbench/llmbench/refserver/backend"
)

// Conformance checks b's contract. tol is the largest difference allowed
// between two logits of the same token computed in different batches (0
// for a backend whose batched and single steps are bit-identical).
func Conformance(t *testing.T, b backend.Backend, tol float64) {
	t.Helper()
	cfg := b.Config()
	t.Run("cache bounds", func(t *testing.T) {
		for _, n := range []int{0, -1, cfg.NPositions + 1} {
			if c, err := b.NewCache(n); err == nil {
				c.Release()
				t.Errorf("NewCache(%d) succeeded, want an error", n)
			}
		}
		c, err := b.NewCache(cfg.NPositions)
		if err != nil {
			t.Fatalf("NewCache(%d): %v", cfg.NPositions, err)
		}
		if c.Cap() != cfg.NPositions {
			t.Errorf("Cap() = %d, want %d", c.Cap(), cfg.NPositions)
		}
		c.Release()
		c.Release() // twice is harmless
	})

	prompts := [][]int{{464, 2068, 7586}, {15496, 995}, {50256}}
	// Each sequence alone: prefill, then two decode steps.
	alone := make([][][]float32, len(prompts))
	for i, p := range prompts {
		c, err := b.NewCache(16)
		if err != nil {
			t.Fatal(err)
		}
		var rows []backend.Row
		for pos, tok := range p {
			rows = append(rows, backend.Row{Cache: c, Pos: pos, Token: tok, Logits: pos == len(p)-1})
		}
		out := step(t, b, rows)
		alone[i] = append(alone[i], out...)
		for k := range 2 {
			out = step(t, b, []backend.Row{{Cache: c, Pos: len(p) + k, Token: 1000 + k, Logits: true}})
			alone[i] = append(alone[i], out...)
		}
		c.Release()
	}

	t.Run("batched steps match single ones", func(t *testing.T) {
		caches := make([]backend.Cache, len(prompts))
		for i := range caches {
			c, err := b.NewCache(16)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			caches[i] = c
		}
		// One step prefills all three prompts; two more decode them.
		var rows []backend.Row
		for i, p := range prompts {
			for pos, tok := range p {
				rows = append(rows, backend.Row{Cache: caches[i], Pos: pos, Token: tok, Logits: pos == len(p)-1})
			}
		}
		got := [][][]float32{{}, {}, {}}
		out := step(t, b, rows)
		for i := range prompts {
			got[i] = append(got[i], out[i])
		}
		for k := range 2 {
			rows = rows[:0]
			for i, p := range prompts {
				rows = append(rows, backend.Row{Cache: caches[i], Pos: len(p) + k, Token: 1000 + k, Logits: true})
			}
			out = step(t, b, rows)
			for i := range prompts {
				got[i] = append(got[i], out[i])
			}
		}
		for i := range prompts {
			for s := range got[i] {
				if d := maxDiff(got[i][s], alone[i][s]); d > tol {
					t.Errorf("sequence %d, step %d: batched logits differ from single ones by %g, want ≤ %g", i, s, d, tol)
				}
			}
		}
	})

	t.Run("bad rows are refused", func(t *testing.T) {
		c, err := b.NewCache(4)
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]backend.Row{
			"token outside the vocabulary": {Cache: c, Pos: 0, Token: cfg.VocabSize, Logits: true},
			"negative token":               {Cache: c, Pos: 0, Token: -1, Logits: true},
			"position past the cache":      {Cache: c, Pos: 4, Token: 1, Logits: true},
		} {
			if _, err := b.Forward([]backend.Row{r}); err == nil {
				t.Errorf("%s: Forward succeeded, want an error", name)
			}
		}
		c.Release()
		if _, err := b.Forward([]backend.Row{{Cache: c, Pos: 0, Token: 1, Logits: true}}); err == nil {
			t.Error("a released cache: Forward succeeded, want an error")
		}
	})

	t.Run("info", func(t *testing.T) {
		in := b.Info()
		if in.Backend == "" || in.Device == "" || in.DType == "" {
			t.Errorf("Info() = %+v: want backend, device and dtype", in)
		}
	})
}

func step(t *testing.T, b backend.Backend, rows []backend.Row) [][]float32 {
	t.Helper()
	out, err := b.Forward(rows)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	// Forward's slices are reused by the next call: keep copies.
	cp := make([][]float32, len(out))
	for i, l := range out {
		cp[i] = append([]float32(nil), l...)
	}
	return cp
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
