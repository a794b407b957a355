package gpt2

import (
	"math"
	"slices"
	"testing"

	"github.com/llmbench/llmbench/refserver/nn"
)

// TestCacheReuse checks that a released cache's memory is reused by the
// next NewCache of its type, and that a sequence on reused memory, full
// of another's keys and values (here NaNs and extreme bytes, so that any
// read of an unwritten position shows), gets the same logits bit for bit
// as on fresh memory.
func TestCacheReuse(t *testing.T) {
	pool := nn.NewPool(2)
	defer pool.Close()
	prompt := []int{464, 3290, 318, 257, 3303, 11, 290, 340}
	for _, kv := range []nn.DType{nn.F32, nn.F16, nn.Int8} {
		t.Run(string(kv), func(t *testing.T) {
			m, _ := loadFixture(t)
			if err := m.SetKV(kv); err != nil {
				t.Fatal(err)
			}
			r := NewRunner(m, pool, 64)
			// run feeds the prompt in two chunks, then decodes 3 tokens,
			// and returns every step's logits.
			run := func(c *Cache) [][]float32 {
				var out [][]float32
				feed := func(rows []Row) {
					l, err := r.Forward(rows)
					if err != nil {
						t.Fatal(err)
					}
					for _, x := range l {
						out = append(out, slices.Clone(x))
					}
				}
				var rows []Row
				for p, tok := range prompt {
					rows = append(rows, Row{Cache: c, Pos: p, Token: tok, Logits: p == 4 || p == len(prompt)-1})
					if p == 4 || p == len(prompt)-1 {
						feed(rows)
						rows = nil
					}
				}
				for p := len(prompt); p < len(prompt)+3; p++ {
					feed([]Row{{Cache: c, Pos: p, Token: 198 + p, Logits: true}})
				}
				return out
			}
			big, err := m.NewCache(m.Config.NPositions)
			if err != nil {
				t.Fatal(err)
			}
			want := run(big)
			big.Release()
			big.Release() // harmless
			if big.Bytes() != 0 {
				t.Errorf("a released cache still reports %d bytes", big.Bytes())
			}
			if len(m.free.stores) != 1 {
				t.Fatalf("%d stores free after one release, want 1", len(m.free.stores))
			}
			st := m.free.stores[0]
			for i := range st.f32 {
				st.f32[i] = float32(math.NaN())
			}
			for i := range st.f16 {
				st.f16[i] = 0x7e00 // a NaN half
			}
			for i := range st.i8 {
				st.i8[i] = -128
			}
			for i := range st.scal {
				st.scal[i] = float32(math.NaN())
			}
			small, err := m.NewCache(20) // fits in the released store
			if err != nil {
				t.Fatal(err)
			}
			if len(m.free.stores) != 0 {
				t.Fatalf("NewCache did not take the released store (%d still free)", len(m.free.stores))
			}
			got := run(small)
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("step %d: logits on reused memory differ from fresh memory's", i)
				}
			}
			// A store too small for the next cache is dropped, not kept
			// beside the fresh allocation: the free list never holds more
			// than was once live.
			small.Release()
			if _, err := m.NewCache(10); err != nil { // takes small's store
				t.Fatal(err)
			}
			tiny, err := m.NewCache(10) // fresh: one block
			if err != nil {
				t.Fatal(err)
			}
			tiny.Release()
			if len(m.free.stores) != 1 {
				t.Fatalf("%d stores free, want tiny's", len(m.free.stores))
			}
			if _, err := m.NewCache(m.Config.NPositions); err != nil {
				t.Fatal(err)
			}
			if len(m.free.stores) != 0 {
				t.Errorf("a fresh allocation kept %d smaller stores free, want them dropped", len(m.free.stores))
			}
		})
	}
}
