package gpt2

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver/nn"
)

// BenchmarkForward measures GPT-2 124M forward steps on synthetic weights:
// a single-sequence decode step, a decode step of 8 sequences, and a
// 128-token prefill. Profile it with -cpuprofile; `llmbench-dev refserver-bench` puts the
// same figures beside the machine's memory-bandwidth floor.
func BenchmarkForward(b *testing.B) {
	for _, pr := range append([]struct {
		name          string
		dt            nn.DType
		act           nn.Activations
		maxErr        float64
		greedyFixture bool
	}{{name: "f32", dt: nn.F32}}, precisions...) {
		b.Run(pr.name, func(b *testing.B) {
			m, err := NewSynthetic(GPT2Small, 1)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Convert(pr.dt, pr.act); err != nil {
				b.Fatal(err)
			}
			benchForward(b, m)
		})
	}
}

func benchForward(b *testing.B, m *Model) {
	var err error
	pool := nn.NewPool(runtime.GOMAXPROCS(0))
	defer pool.Close()
	r := NewRunner(m, pool, 512)
	for _, tc := range []struct {
		name    string
		seqs    int
		prefill int // tokens per sequence in the timed step; 0 means one decode token
	}{
		{"decode/seqs=1", 1, 0},
		{"decode/seqs=8", 8, 0},
		{"prefill/tokens=128", 1, 128},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const ctx = 64
			caches := make([]*Cache, tc.seqs)
			for i := range caches {
				if caches[i], err = m.NewCache(max(ctx+1, tc.prefill)); err != nil {
					b.Fatal(err)
				}
			}
			var rows []Row
			for i, c := range caches {
				if tc.prefill > 0 {
					for p := 0; p < tc.prefill; p++ {
						rows = append(rows, Row{Cache: c, Pos: p, Token: (p*31 + i) % 50257, Logits: p == tc.prefill-1})
					}
					continue
				}
				// Decode at position ctx, as after a ctx-token prompt.
				rows = append(rows, Row{Cache: c, Pos: ctx, Token: 464 + i, Logits: true})
			}
			for b.Loop() {
				if _, err := r.Forward(rows); err != nil {
					b.Fatal(err)
				}
			}
			perStep := b.Elapsed().Seconds() / float64(b.N)
			if tc.prefill == 0 {
				b.ReportMetric(float64(tc.seqs)/perStep, "tok/s")
				b.ReportMetric(float64(m.WeightBytes())/perStep/1e9, "weightGB/s")
			}
			b.ReportMetric(perStep*1e3, "ms/step")
		})
	}
}

// BenchmarkPromptAttention compares the two ways a prompt's attention
// runs, in the same process: attendChunk's tiles (a head's keys and
// values laid out once, a tile of rows at a time as small matrix
// products) against row by row (attend, as a chunk under chunkRows
// goes). Prefills of 128, 512 and 1024 tokens of synthetic GPT-2 124M in
// f32 and int8, the two paths alternated; it reports each path's median
// time and tiles ÷ rows.
//
//	go test ./refserver/gpt2 -run NONE -bench PromptAttention -benchtime 1x
func BenchmarkPromptAttention(b *testing.B) {
	for _, dt := range []nn.DType{nn.F32, nn.Int8} {
		b.Run(string(dt), func(b *testing.B) {
			m, err := NewSynthetic(GPT2Small, 1)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Convert(dt, nn.ActDefault); err != nil {
				b.Fatal(err)
			}
			pool := nn.NewPool(runtime.GOMAXPROCS(0))
			defer pool.Close()
			r := NewRunner(m, pool, m.Config.NPositions)
			for _, n := range []int{128, 512, m.Config.NPositions} {
				b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
					c, err := m.NewCache(n)
					if err != nil {
						b.Fatal(err)
					}
					rows := make([]Row, n)
					for p := range rows {
						rows[p] = Row{Cache: c, Pos: p, Token: (p*31 + 7) % m.Config.VocabSize, Logits: p == n-1}
					}
					paths := []int{chunkRows, math.MaxInt} // tiles, then row by row
					ms := make([][]float64, len(paths))
					for range b.N {
						for range 4 {
							for i, floor := range paths {
								r.chunkMin = floor
								t0 := time.Now()
								if _, err := r.Forward(rows); err != nil {
									b.Fatal(err)
								}
								ms[i] = append(ms[i], float64(time.Since(t0).Microseconds())/1e3)
							}
						}
					}
					r.chunkMin = chunkRows
					tiles, byRow := median(ms[0]), median(ms[1])
					b.ReportMetric(tiles, "ms/tiles")
					b.ReportMetric(byRow, "ms/rows")
					b.ReportMetric(tiles/byRow, "tiles/rows")
				})
			}
		})
	}
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}
