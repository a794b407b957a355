package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// BenchmarkMatMul measures the packed-panel product at GPT-2 124M's shapes:
// m = 1 and 8 are decode steps (weights streamed from memory), m = 128 is a
// prefill. It reports GFLOP/s and the weight bytes streamed per second.
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, pr := range precisions {
		for _, threads := range []int{1, 2} {
			for _, m := range []int{1, 8, 128} {
				const k, n = 768, 2304
				b.Run(fmt.Sprintf("%s/threads=%d/m=%d/k=%d/n=%d", pr.name, threads, m, k, n), func(b *testing.B) {
					p := NewPool(threads)
					defer p.Close()
					w := NewPacked(k, n, true)
					copy(w.Data(), randSlice(r, len(w.Data())))
					if err := w.Convert(pr.dt, pr.act); err != nil {
						b.Fatal(err)
					}
					a := randSlice(r, m*k)
					c := make([]float32, m*n)
					b.ResetTimer()
					for b.Loop() {
						MatMul(p, c, n, a, k, m, w, false)
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(2*float64(m*k*n)/sec/1e9, "GFLOP/s")
					b.ReportMetric(float64(w.Bytes())/sec/1e9, "weightGB/s")
				})
			}
		}
	}
}

// BenchmarkGorgoniaMatMul is the same m = 128 product through
// gorgonia.org/tensor's MatMul (gonum's BLAS), for docs/BENCHMARKS.md.
func BenchmarkGorgoniaMatMul(b *testing.B) {
	const m, k, n = 128, 768, 2304
	r := rand.New(rand.NewPCG(1, 1))
	a := tensor.New(tensor.WithShape(m, k), tensor.WithBacking(randSlice(r, m*k)))
	w := tensor.New(tensor.WithShape(k, n), tensor.WithBacking(randSlice(r, k*n)))
	for b.Loop() {
		if _, err := tensor.MatMul(a, w); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(2*float64(m*k*n)/sec/1e9, "GFLOP/s")
}
