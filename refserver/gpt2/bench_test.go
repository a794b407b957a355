package gpt2

import (
	"runtime"
	"testing"

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
