package cuda

import (
	"math"
	"slices"
	"testing"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/backend/backendtest"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

// These tests need an NVIDIA GPU; without one they skip with the reason.
// deploy/gpu/verify.sh runs them from a test binary (make gpu-bundle).

// openOnGPU opens the backend for m or skips the test, naming what is
// missing.
func openOnGPU(t *testing.T, m *gpt2.Model, dtype string) *Backend {
	t.Helper()
	if _, err := Probe(); err != nil {
		t.Skipf("skipping the GPU test: %v", err)
	}
	b, err := Open(Config{DType: dtype, MaxRows: 256, Slots: 8}, m)
	if err != nil {
		t.Fatalf("open the GPU: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	t.Logf("%+v", b.Info())
	return b
}

// gpuTolerance is the largest logit difference accepted against the
// fixture's reference (computed in f32): 2e-3 in f32, the bound.
// In f16 and bf16 the weights themselves are rounded (f16 keeps 11
// significant bits, a relative error of 2⁻¹¹ ≈ 5e-4 per weight; bf16 keeps 8,
// 4e-3), and the logits of the tiny fixture (|logit| ≲ 2) inherit about
// that relative error summed over a layer's inputs: 2e-2 and 1e-1 hold it
// with a margin, and greedy_16 must still come out the same where the
// fixture's margin between the two best tokens is above that error.
var gpuTolerance = map[string]float64{"f32": 2e-3, "f16": 2e-2, "bf16": 1e-1}

func TestGPUFixture(t *testing.T) {
	dir, fx := gpt2test.Load(t)
	m, err := gpt2.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []string{"f32", "f16", "bf16"} {
		t.Run(dtype, func(t *testing.T) {
			b := openOnGPU(t, m, dtype)
			tol := gpuTolerance[dtype]
			for _, tc := range fx.Cases {
				c, err := b.NewCache(len(tc.InputIDs) + len(tc.Greedy16))
				if err != nil {
					t.Fatal(err)
				}
				var rows []backend.Row
				for i, id := range tc.InputIDs {
					rows = append(rows, backend.Row{Cache: c, Pos: i, Token: id, Logits: i == len(tc.InputIDs)-1})
				}
				out, err := b.Forward(rows)
				if err != nil {
					t.Fatal(err)
				}
				d := 0.0
				for i, want := range tc.First16 {
					d = max(d, math.Abs(float64(out[0][i])-want))
				}
				if d > tol {
					t.Errorf("%v: the first 16 logits differ from the reference by %g, want ≤ %g", tc.InputIDs, d, tol)
				}
				var got []int
				next := argmax(out[0])
				for pos := len(tc.InputIDs); ; pos++ {
					got = append(got, next)
					if len(got) == len(tc.Greedy16) {
						break
					}
					o, err := b.Forward([]backend.Row{{Cache: c, Pos: pos, Token: next, Logits: true}})
					if err != nil {
						t.Fatal(err)
					}
					next = argmax(o[0])
				}
				c.Release()
				if !slices.Equal(got, tc.Greedy16) {
					if dtype == "f32" || tc.MinMargin > 4*tol {
						t.Errorf("%v: greedy_16 = %v, want %v", tc.InputIDs, got, tc.Greedy16)
					} else {
						t.Logf("%v: greedy_16 = %v differs from %v, within %s's rounding (the fixture's margin is %g)", tc.InputIDs, got, tc.Greedy16, dtype, tc.MinMargin)
					}
				}
				t.Logf("%s %v: max |Δlogit| %.2e over the first 16", dtype, tc.InputIDs, d)
			}
		})
	}
}

func TestGPUConformance(t *testing.T) {
	m, err := gpt2.Load(gpt2test.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []string{"f32", "f16"} {
		t.Run(dtype, func(t *testing.T) {
			b := openOnGPU(t, m, dtype)
			// A batch changes cuBLAS' kernels and so the order of its sums:
			// not bit-identical, within rounding.
			backendtest.Conformance(t, b, map[string]float64{"f32": 1e-4, "f16": 2e-2}[dtype])
		})
	}
}

// TestGPUAgreesWithCPU: the synthetic GPT-2 124M in f32 on the GPU gives
// the CPU backend's greedy tokens, 4 prompts × 32 tokens.
func TestGPUAgreesWithCPU(t *testing.T) {
	if _, err := Probe(); err != nil {
		t.Skipf("skipping the GPU test: %v", err)
	}
	c, err := gpt2.Preset("124M")
	if err != nil {
		t.Fatal(err)
	}
	m, err := gpt2.NewSynthetic(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := openOnGPU(t, m, "f32")
	cpu := backend.NewCPU(m, 16, 256)
	defer cpu.Close()
	prompts := [][]int{{464, 2068, 7586, 21831}, {15496, 995}, {40, 1101, 257, 3303, 2746, 11}, {50256}}
	for _, p := range prompts {
		want, _ := greedyOn(t, cpu, p, 32)
		got, _ := greedyOn(t, g, p, 32)
		if !slices.Equal(got, want) {
			t.Errorf("prompt %v: the GPU's greedy tokens %v, the CPU's %v", p, got, want)
		}
	}
}

func greedyOn(t *testing.T, b backend.Backend, prompt []int, n int) ([]int, []float32) {
	t.Helper()
	c, err := b.NewCache(len(prompt) + n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	var rows []backend.Row
	for i, id := range prompt {
		rows = append(rows, backend.Row{Cache: c, Pos: i, Token: id, Logits: i == len(prompt)-1})
	}
	out, err := b.Forward(rows)
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Clone(out[0])
	var got []int
	next := argmax(out[0])
	for pos := len(prompt); len(got) < n; pos++ {
		got = append(got, next)
		if len(got) == n {
			break
		}
		o, err := b.Forward([]backend.Row{{Cache: c, Pos: pos, Token: next, Logits: true}})
		if err != nil {
			t.Fatal(err)
		}
		next = argmax(o[0])
	}
	return got, first
}

func argmax(xs []float32) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}
