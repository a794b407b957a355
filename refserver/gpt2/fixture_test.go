package gpt2

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/refserver/nn"
)

func loadFixture(t testing.TB) (*Model, gpt2test.Expected) {
	t.Helper()
	dir, fx := gpt2test.Load(t)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, fx
}

// prefill runs a whole prompt in one step and returns a copy of the last
// position's logits.
func prefill(t testing.TB, r *Runner, c *Cache, ids []int) []float32 {
	t.Helper()
	rows := make([]Row, len(ids))
	for i, id := range ids {
		rows[i] = Row{Cache: c, Pos: i, Token: id, Logits: i == len(ids)-1}
	}
	out, err := r.Forward(rows)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(out[0])
}

// checkLogits checks a case's reference values within tol, and that the
// top-10 tokens come out in the reference order.
func checkLogits(t *testing.T, got []float32, want gpt2test.Case, tol float64) {
	t.Helper()
	checkLogitsNear(t, got, want, tol)
	order := make([]int, len(got))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return got[order[a]] > got[order[b]] })
	for i, tw := range want.Top10 {
		if order[i] != int(tw[0]) {
			t.Errorf("top-10 rank %d is token %d, want %d", i, order[i], int(tw[0]))
		}
	}
}

func TestFixtureLogitsAndGreedy(t *testing.T) {
	m, fx := loadFixture(t)
	pool := nn.NewPool(2)
	defer pool.Close()
	r := NewRunner(m, pool, 256)
	for _, tc := range fx.Cases {
		t.Run(idsName(tc.InputIDs), func(t *testing.T) {
			c, err := m.NewCache(len(tc.InputIDs) + len(tc.Greedy16))
			if err != nil {
				t.Fatal(err)
			}
			logits := prefill(t, r, c, tc.InputIDs)
			checkLogits(t, logits, tc, fx.Tolerance)
			// Greedy decoding through the KV cache, one token per step.
			var got []int
			next := argmax(logits)
			for pos := len(tc.InputIDs); ; pos++ {
				got = append(got, next)
				if len(got) == len(tc.Greedy16) {
					break
				}
				out, err := r.Forward([]Row{{Cache: c, Pos: pos, Token: next, Logits: true}})
				if err != nil {
					t.Fatal(err)
				}
				next = argmax(out[0])
			}
			if !slices.Equal(got, tc.Greedy16) {
				t.Errorf("greedy_16 = %v, want %v", got, tc.Greedy16)
			}
		})
	}
}

// TestFixtureBatched runs every fixture prompt in the same steps: one mixed
// prefill step, then decode steps of all sequences together, and checks each
// sequence's greedy tokens against the reference.
func TestFixtureBatched(t *testing.T) {
	m, fx := loadFixture(t)
	pool := nn.NewPool(2)
	defer pool.Close()
	r := NewRunner(m, pool, 256)
	n := len(fx.Cases)
	caches := make([]*Cache, n)
	var rows []Row
	for i, tc := range fx.Cases {
		c, err := m.NewCache(len(tc.InputIDs) + 16)
		if err != nil {
			t.Fatal(err)
		}
		caches[i] = c
		for p, id := range tc.InputIDs {
			rows = append(rows, Row{Cache: c, Pos: p, Token: id, Logits: p == len(tc.InputIDs)-1})
		}
	}
	out, err := r.Forward(rows)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]int, n)
	for i := range fx.Cases {
		checkLogits(t, out[i], fx.Cases[i], fx.Tolerance)
		got[i] = append(got[i], argmax(out[i]))
	}
	for step := 1; step < 16; step++ {
		rows = rows[:0]
		for i, tc := range fx.Cases {
			rows = append(rows, Row{Cache: caches[i], Pos: len(tc.InputIDs) + step - 1, Token: got[i][step-1], Logits: true})
		}
		out, err := r.Forward(rows)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fx.Cases {
			got[i] = append(got[i], argmax(out[i]))
		}
	}
	for i, tc := range fx.Cases {
		if !slices.Equal(got[i], tc.Greedy16) {
			t.Errorf("case %s: batched greedy_16 = %v, want %v", idsName(tc.InputIDs), got[i], tc.Greedy16)
		}
	}
}

func idsName(ids []int) string {
	b, _ := json.Marshal(ids)
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}
