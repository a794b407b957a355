package engine

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/sample"
)

// BenchmarkSpinBeforePark is issue 22's experiment: do the compute
// workers lose less to a busy host if they spin a while after a step
// before they park (as OpenMP's threads do), rather than park at once?
// One stream of synthetic GPT-2 124M through the engine, the time per
// output token for each spin (0, 50 µs, 200 µs, 1 ms), in interleaved
// rounds, on the idle host and beside a busy-looping process. It reports
// each spin's median against no spin, measured in the same rounds.
//
//	go test ./refserver/engine -run NONE -bench SpinBeforePark -benchtime 1x
func BenchmarkSpinBeforePark(b *testing.B) {
	for _, dt := range []nn.DType{nn.F32, nn.Int8} {
		b.Run(string(dt), func(b *testing.B) {
			m, err := gpt2.NewSynthetic(gpt2.GPT2Small, 1)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Convert(dt, nn.ActDefault); err != nil {
				b.Fatal(err)
			}
			benchSpin(b, m)
		})
	}
}

func benchSpin(b *testing.B, m *gpt2.Model) {
	e, err := New(m, byteVocab{}, Config{Threads: 2, NoCalibration: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done; nn.SetRestSpin(0) }()
	spins := []time.Duration{0, 50 * time.Microsecond, 200 * time.Microsecond, time.Millisecond}
	perToken := func(spin time.Duration) float64 {
		nn.SetRestSpin(spin)
		ch, err := e.Submit(ctx, Request{Prompt: []int{464, 2068, 7586, 21831}, MaxTokens: 48, Sampling: sample.Params{Greedy: true}, IgnoreEOS: true})
		if err != nil {
			b.Fatal(err)
		}
		var first, last time.Time
		n := 0
		for ev := range ch {
			if ev.Token >= 0 {
				if n == 0 {
					first = time.Now()
				}
				last = time.Now()
				n++
			}
		}
		return last.Sub(first).Seconds() * 1e3 / float64(n-1)
	}
	for range b.N {
		for _, load := range []string{"idle", "busy"} {
			b.Run(load, func(b *testing.B) {
				if load == "busy" {
					hog := exec.Command("sh", "-c", "while :; do :; done")
					if err := hog.Start(); err != nil {
						b.Skip("no sh to load the host:", err)
					}
					defer func() { hog.Process.Kill(); hog.Wait() }()
				}
				ms := make([][]float64, len(spins))
				for range 6 {
					for i, s := range spins {
						ms[i] = append(ms[i], perToken(s))
					}
				}
				med := func(v []float64) float64 { v = slices.Sorted(slices.Values(v)); return v[len(v)/2] }
				for i, s := range spins {
					b.ReportMetric(med(ms[i]), fmt.Sprintf("ms/tok@%v", s))
					if i > 0 {
						b.ReportMetric(med(ms[i])/med(ms[0]), fmt.Sprintf("ratio@%v", s))
					}
				}
			})
		}
	}
}
