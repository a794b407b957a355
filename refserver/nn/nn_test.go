package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// extraSets are kernel sets this machine can run besides the active one
// (the AVX2 kernels on an AVX-512 machine), set by kernel_amd64_test.go.
var extraSets []kernelSet

// kernelSets returns the kernel sets this machine can run: the active one,
// the others it can, and the pure-Go fallback.
func kernelSets() []kernelSet {
	goSet := goKernels
	if active.name == "go" {
		return []kernelSet{goSet}
	}
	return append(append([]kernelSet{active}, extraSets...), goSet)
}

func withKernels(t *testing.T, ks kernelSet) {
	t.Helper()
	saved := active
	active = ks
	t.Cleanup(func() { active = saved })
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// refMatMul is the textbook triple loop in float64.
func refMatMul(a []float32, m, k int, w []float32, n int, bias []float32) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for kk := 0; kk < k; kk++ {
				s += float64(a[i*k+kk]) * float64(w[kk*n+j])
			}
			if bias != nil {
				s += float64(bias[j])
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestMatMul(t *testing.T) {
	tests := []struct {
		name    string
		m, k, n int
		bias    bool
		acc     bool
	}{
		{"one row", 1, 64, 96, true, false},
		{"batch of 8", 8, 64, 64, true, false},
		{"odd rows and partial panel", 13, 37, 70, true, false},
		{"no bias, vocab-like tail", 3, 16, 50257 % 200, false, false},
		{"accumulate", 5, 48, 64, true, true},
		{"long k", 2, 3072, 32, true, false},
		{"k past a block", 6, 70, 40, true, true},
		{"k not a multiple of 4", 9, 7, 33, false, true},
		{"seven rows", 7, 100, 64, true, false},
		{"eight rows, long k, accumulate", 8, 3072, 64, true, true},
		{"fifteen rows", 15, 200, 96, false, false},
		{"twenty rows: 6-row VPDPBUSD tiles, 2 left", 20, 96, 64, true, true},
		{"thirty-five rows, k past a block", 35, 70, 40, false, false},
	}
	for _, ks := range kernelSets() {
		for _, pr := range precisions {
			for _, tc := range tests {
				t.Run(ks.name+"/"+pr.name+"/"+tc.name, func(t *testing.T) {
					testMatMul(t, ks, pr.dt, pr.act, tc.m, tc.k, tc.n, tc.bias, tc.acc)
				})
			}
		}
	}
}

// precisions are the weight types and activation modes a product takes.
var precisions = []struct {
	name string
	dt   DType
	act  Activations
}{
	{"f32", F32, ActDefault},
	{"bf16", BF16, F32Activations},
	{"bf16-dot", BF16, LowActivations},
	{"f16", F16, F32Activations},
	{"int8", Int8, F32Activations},
	{"int8-dot", Int8, LowActivations},
}

// testMatMul checks MatMul against the float64 triple loop. With converted
// weights the reference uses the weights as the Packed holds them (At),
// and with low-precision activations the activations rounded the same
// way: what is checked is the kernel and the layout, the rounding is
// TestBF16Rounding's, TestF16Rounding's and TestInt8Accuracy's.
func testMatMul(t *testing.T, ks kernelSet, dt DType, act Activations, m, k, n int, hasBias, acc bool) {
	withKernels(t, ks)
	r := rand.New(rand.NewPCG(1, uint64(m*1000+n)))
	a := randSlice(r, m*k)
	wRows := randSlice(r, k*n)
	w := NewPacked(k, n, hasBias)
	if err := w.SetRows(wRows); err != nil {
		t.Fatal(err)
	}
	var bias []float32
	if hasBias {
		bias = randSlice(r, n)
		if err := w.SetBias(bias); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Convert(dt, act); err != nil {
		t.Fatal(err)
	}
	if w.DType() != dt || w.LowActivations() != (act == LowActivations) {
		t.Fatalf("after Convert(%s, %d): dtype %s, low activations %v", dt, act, w.DType(), w.LowActivations())
	}
	if err := w.Rows(wRows); err != nil {
		t.Fatal(err)
	}
	aRef := append([]float32(nil), a...)
	if act == LowActivations {
		for i := 0; i < m; i++ {
			row := aRef[i*k : (i+1)*k]
			if dt == BF16 {
				for j, v := range row {
					row[j] = BF16ToF32(F32ToBF16(v))
				}
				continue
			}
			kb := (k + ActBlock - 1) / ActBlock * ActBlock
			q := make([]int8, kb)
			info := make([]uint32, 2*kb/ActBlock)
			quantizeBlocksGo(q, info, 2, row)
			for j := range row {
				row[j] = float32(q[j]) * math.Float32frombits(info[2*(j/ActBlock)+1])
			}
		}
	}
	c := make([]float32, m*n)
	init := randSlice(r, m*n)
	if acc {
		copy(c, init)
	}
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		got, check := guarded(t, len(c), float32(-7777))
		copy(got, c)
		MatMul(p, got, n, a, k, m, w, acc)
		p.Close()
		check()
		want := refMatMul(aRef, m, k, wRows, n, bias)
		for i := range want {
			if acc {
				want[i] += float64(init[i])
			}
			if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-3*(1+math.Abs(want[i]))) { // NaN fails too
				t.Fatalf("threads %d: C[%d][%d] = %v, want %v", threads, i/n, i%n, got[i], want[i])
			}
		}
	}
}

// TestBF16Rounding: float32 → bfloat16 rounds to the nearest, ties to
// even, keeps infinities and NaN, and a bfloat16 widens exactly.
func TestBF16Rounding(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0}, {float32(math.Inf(1)), 0x7f80}, {float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // a tie, to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // a tie, to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // the largest float32 rounds to +Inf
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.in); got != tt.want {
			t.Errorf("F32ToBF16(%v = %#08x) = %#04x, want %#04x", tt.in, math.Float32bits(tt.in), got, tt.want)
		}
	}
	if v := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Errorf("NaN became %v", v)
	}
	// The relative error of rounding is at most half an ulp: 2^-8 (7 stored
	// bits of mantissa).
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		x := float32(r.NormFloat64() * math.Pow(10, r.Float64()*10-5))
		if e := math.Abs(float64(BF16ToF32(F32ToBF16(x))-x)) / math.Abs(float64(x)); e > 1.0/256 {
			t.Fatalf("%v rounds with relative error %v", x, e)
		}
	}
}

func TestPackedColAndSetCols(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	const k, n = 16, 45
	wt := randSlice(r, n*k) // n rows of k: the transpose
	p := NewPacked(k, n, false)
	if err := p.SetCols(wt); err != nil {
		t.Fatal(err)
	}
	col := make([]float32, k)
	for j := 0; j < n; j++ {
		p.Col(col, j)
		for kk := 0; kk < k; kk++ {
			if got, want := col[kk], wt[j*k+kk]; got != want {
				t.Fatalf("Col(%d)[%d] = %v, want %v", j, kk, got, want)
			}
			if got, want := p.At(kk, j), wt[j*k+kk]; got != want {
				t.Fatalf("At(%d, %d) = %v, want %v", kk, j, got, want)
			}
		}
	}
	if err := p.SetCols(wt[1:]); err == nil {
		t.Fatal("SetCols with a short slice: no error")
	}
}

// TestPackedColConverted: Col reads each converted layout as At does, bit
// for bit, with k not a multiple of the layout's unit (2 for bf16's pairs,
// 4 for int8's groups) and columns in a partial last panel.
func TestPackedColConverted(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	const k, n = 23, 45
	for _, pr := range precisions {
		t.Run(pr.name, func(t *testing.T) {
			p := NewPacked(k, n, false)
			if err := p.SetCols(randSlice(r, n*k)); err != nil {
				t.Fatal(err)
			}
			if err := p.Convert(pr.dt, pr.act); err != nil {
				t.Fatal(err)
			}
			col := make([]float32, k+1)
			col[k] = 42
			for j := 0; j < n; j++ {
				p.Col(col, j)
				for kk := 0; kk < k; kk++ {
					if got, want := col[kk], p.At(kk, j); math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("Col(%d)[%d] = %v, At = %v", j, kk, got, want)
					}
				}
				if col[k] != 42 {
					t.Fatalf("Col(%d) wrote past K", j)
				}
			}
		})
	}
}

func TestAttentionKernels(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range []struct{ hd, n int }{{8, 37}, {16, 37}, {64, 37}, {40, 37}, {12, 37},
			{64, 1}, {64, 8}, {64, 16}, {32, 9}, {48, 23}, {80, 7}, {96, 12}} {
			hd, n := tc.hd, tc.n
			t.Run(ks.name, func(t *testing.T) {
				withKernels(t, ks)
				r := rand.New(rand.NewPCG(3, uint64(hd*1000+n)))
				const ld = 100
				k := randSlice(r, n*ld)
				q := randSlice(r, hd)
				got, check := guarded(t, n, float32(-7777))
				Scores(got, k, ld, q, hd, n, 0.125)
				check()
				for j := 0; j < n; j++ {
					var s float64
					for d := 0; d < hd; d++ {
						s += float64(k[j*ld+d]) * float64(q[d])
					}
					if want := s * 0.125; math.Abs(float64(got[j])-want) > 1e-4 {
						t.Fatalf("hd %d: score %d = %v, want %v", hd, j, got[j], want)
					}
				}
				p := randSlice(r, n)
				out, checkOut := guarded(t, hd, float32(-7777))
				copy(out, randSlice(r, hd))
				want := make([]float64, hd)
				for d := range want {
					want[d] = float64(out[d])
					for j := 0; j < n; j++ {
						want[d] += float64(p[j]) * float64(k[j*ld+d])
					}
				}
				Mix(out, k, ld, p, hd, n)
				checkOut()
				for d := range want {
					if math.Abs(float64(out[d])-want[d]) > 1e-4 {
						t.Fatalf("hd %d: mix[%d] = %v, want %v", hd, d, out[d], want[d])
					}
				}

				// The same over an f16 cache: the reference uses the halves'
				// exact values.
				k16 := make([]uint16, len(k))
				ToF16(k16, k)
				ScoresF16(got, k16, ld, q, hd, n, 0.125)
				check()
				for j := 0; j < n; j++ {
					var s float64
					for d := 0; d < hd; d++ {
						s += float64(F16ToF32(k16[j*ld+d])) * float64(q[d])
					}
					if want := s * 0.125; math.Abs(float64(got[j])-want) > 1e-4 {
						t.Fatalf("hd %d: f16 score %d = %v, want %v", hd, j, got[j], want)
					}
				}
				out16, check16 := guarded(t, hd, float32(-7777))
				copy(out16, randSlice(r, hd))
				for d := range want {
					want[d] = float64(out16[d])
					for j := 0; j < n; j++ {
						want[d] += float64(p[j]) * float64(F16ToF32(k16[j*ld+d]))
					}
				}
				MixF16(out16, k16, ld, p, hd, n)
				check16()
				for d := range want {
					if math.Abs(float64(out16[d])-want[d]) > 1e-4 {
						t.Fatalf("hd %d: f16 mix[%d] = %v, want %v", hd, d, out16[d], want[d])
					}
				}

				// And over an int8 cache, each row with its scale: the
				// reference uses the rows' exact values, q·s.
				k8, s8 := make([]int8, len(k)), make([]float32, n)
				for j := range n {
					s8[j] = QuantizeRow(k8[j*ld:j*ld+hd], k[j*ld:j*ld+hd])
					for i, v := range k8[j*ld+hd : (j+1)*ld] {
						if v != 0 {
							t.Fatalf("hd %d: QuantizeRow wrote %d elements past row %d", hd, i+1, j)
						}
					}
				}
				ScoresI8(got, k8, ld, q, hd, n, 0.125, s8)
				check()
				for j := 0; j < n; j++ {
					var s float64
					for d := 0; d < hd; d++ {
						s += float64(k8[j*ld+d]) * float64(q[d])
					}
					if want := s * 0.125 * float64(s8[j]); math.Abs(float64(got[j])-want) > 1e-4 {
						t.Fatalf("hd %d: int8 score %d = %v, want %v", hd, j, got[j], want)
					}
				}
				out8, check8 := guarded(t, hd, float32(-7777))
				copy(out8, randSlice(r, hd))
				for d := range want {
					want[d] = float64(out8[d])
					for j := 0; j < n; j++ {
						want[d] += float64(p[j]) * float64(s8[j]) * float64(k8[j*ld+d])
					}
				}
				MixI8(out8, k8, ld, p, hd, n, s8)
				check8()
				for d := range want {
					if math.Abs(float64(out8[d])-want[d]) > 1e-4 {
						t.Fatalf("hd %d: int8 mix[%d] = %v, want %v", hd, d, out8[d], want[d])
					}
				}
			})
		}
	}
}

// TestToF16 checks each set's float-to-half rounding bit for bit against
// F32ToF16: normal values, ties, subnormal halves, overflow, Inf and NaN,
// at every offset of a vector (the tails go through the Go loop).
func TestToF16(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var xs []float32
	for range 4000 {
		xs = append(xs, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(60)-40))))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 65504, 65520, -65536, 1e-8, 6e-8, 3e-8, -5.96e-8,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x3f801000), math.Float32frombits(0x3f803000)) // ties to even, down and up
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			withKernels(t, ks)
			for off := 0; off < 17; off++ {
				got, check := guarded(t, len(xs)-off, uint16(0x5555))
				ToF16(got, xs[off:])
				check()
				for i, x := range xs[off:] {
					want := F32ToF16(x)
					if x != x {
						if got[i]&0x7c00 != 0x7c00 || got[i]&0x3ff == 0 {
							t.Fatalf("ToF16(NaN) = %#04x, want a NaN", got[i])
						}
						continue
					}
					if got[i] != want {
						t.Fatalf("offset %d: ToF16(%g) = %#04x, want %#04x", off, x, got[i], want)
					}
				}
			}
		})
	}
}

func TestGELU(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			withKernels(t, ks)
			var xs []float32
			for x := -12.0; x <= 12; x += 0.01 {
				xs = append(xs, float32(x))
			}
			xs = append(xs, 0, -0, 1e-8, 30, -30)
			got, check := guarded(t, len(xs), float32(-7777))
			copy(got, xs)
			GELU(got)
			check()
			for i, x := range xs {
				xf := float64(x)
				want := 0.5 * xf * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(xf+0.044715*xf*xf*xf)))
				// The clamped tanh is 1.5 ulp short of ±1 at large |x|, so the
				// error bound grows with |x|: 3e-6 at x = -30.
				if d := math.Abs(float64(got[i]) - want); d > 1e-7*(20+math.Abs(xf)) {
					t.Fatalf("gelu(%v) = %v, want %v", x, got[i], want)
				}
			}
		})
	}
}

func TestExpAndTanh(t *testing.T) {
	for x := -87.0; x < 88; x += 0.037 {
		got, want := float64(Exp(float32(x))), math.Exp(float64(float32(x)))
		if math.Abs(got-want) > 3e-7*want {
			t.Fatalf("Exp(%v) = %v, want %v", x, got, want)
		}
	}
	if got := Exp(-200); got != 0 {
		t.Errorf("Exp(-200) = %v, want 0", got)
	}
	for x := -10.0; x < 10; x += 0.013 {
		got, want := float64(Tanh(float32(x))), math.Tanh(float64(float32(x)))
		if math.Abs(got-want) > 1e-6 {
			t.Fatalf("Tanh(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestSoftmax checks every kernel set's Softmax against float64 on lengths
// around the vector width (the tails go through masks), with the values
// attention scores take and the edge cases: a -Inf (a masked position),
// all -Inf (no number: false, x untouched), a NaN (ignored by the maximum,
// NaN out) and values far apart (exp underflows).
func TestSoftmax(t *testing.T) {
	inf := float32(math.Inf(-1))
	nan := float32(math.NaN())
	r := rand.New(rand.NewPCG(7, 8))
	type tc struct {
		name string
		in   []float32
		ok   bool
	}
	tests := []tc{
		{"plain", []float32{1, 2, 3}, true},
		{"huge", []float32{1000, 1000}, true},
		{"one -inf", []float32{inf, 0}, true},
		{"all -inf", []float32{inf, inf}, false},
		{"all -inf, 17", slices.Repeat([]float32{inf}, 17), false},
		{"empty", nil, false},
		{"far apart", []float32{0, -50, -90, -200, 3, -1e30}, true},
		{"nan", append(randSlice(r, 20), nan), true},
		{"nan in the vectors", slices.Concat(randSlice(r, 3), []float32{nan}, randSlice(r, 36)), true},
	}
	// No number but a NaN, in the last lane of the last vector (of 8 or 16
	// floats, no tail): the maximum must leave the NaN out, so that Softmax
	// sees -Inf and says no. (A maximum that let it in there would keep it:
	// the horizontal fold keeps a NaN from the upper halves.)
	noNumber := slices.Repeat([]float32{inf}, 48)
	noNumber[47] = nan
	tests = append(tests, tc{"-inf and a nan", noNumber, false})
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 97, 160, 1024} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 8 // attention scores span tens
		}
		tests = append(tests, tc{fmt.Sprintf("random %d", n), x, true})
	}
	for _, ks := range kernelSets() {
		for _, tc := range tests {
			t.Run(ks.name+"/"+tc.name, func(t *testing.T) {
				withKernels(t, ks)
				x, check := guarded(t, len(tc.in), float32(-7777))
				copy(x, tc.in)
				if got := Softmax(x); got != tc.ok {
					t.Fatalf("Softmax ok = %v, want %v", got, tc.ok)
				}
				check()
				if !tc.ok {
					if !slices.EqualFunc(x, tc.in, func(a, b float32) bool { return a == b || a != a && b != b }) {
						t.Fatalf("Softmax without a number changed x: %v", x)
					}
					return
				}
				m := math.Inf(-1)
				for _, v := range tc.in {
					m = max(m, float64(v)) // NaN: no number to compare
				}
				var sum float64
				for _, v := range tc.in {
					if v == v {
						sum += math.Exp(float64(v) - m)
					}
				}
				if slices.ContainsFunc(tc.in, func(v float32) bool { return v != v }) {
					// A NaN makes the sum NaN, and every probability with it.
					for i, v := range x {
						if v == v {
							t.Fatalf("x[%d] = %v beside a NaN, want NaN", i, v)
						}
					}
					return
				}
				for i, v := range tc.in {
					want := math.Exp(float64(v)-m) / sum
					// A few ulp, plus what rounding v - m to a float costs
					// exp (half an ulp of |v - m|, relative), plus the
					// float sum's rounding (Go adds one term at a time);
					// exp(x) below 1e-38 may come out as 0 or as 1e-38.
					bound := 1e-6 + 1e-9*float64(len(x)) + 1.2e-7*(m-float64(v))
					if d := math.Abs(float64(x[i]) - want); d > bound*want+1e-37 {
						t.Fatalf("softmax[%d] of %d = %v, want %v", i, len(x), x[i], want)
					}
				}
			})
		}
	}
}

// TestLayerNorm checks every kernel set's LayerNorm against float64, on
// GPT-2's widths and on widths the vector kernel hands to Go.
func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, ks := range kernelSets() {
		// Widths of an odd number of vectors (24, 40 for AVX2; 48, 80 for
		// AVX-512) take each pass's one-vector tail.
		for _, n := range []int{4, 16, 17, 24, 40, 48, 80, 768, 1024, 1600} {
			t.Run(fmt.Sprintf("%s/%d", ks.name, n), func(t *testing.T) {
				withKernels(t, ks)
				x, g, b := randSlice(r, n), randSlice(r, n), randSlice(r, n)
				for i := range x {
					x[i] = 3 + 10*x[i] // a mean and a spread, as a residual stream has
				}
				out, check := guarded(t, n, float32(-7777))
				LayerNorm(out, x, g, b, 1e-5)
				check()
				var mean, vari float64
				for _, v := range x {
					mean += float64(v)
				}
				mean /= float64(n)
				for _, v := range x {
					vari += (float64(v) - mean) * (float64(v) - mean)
				}
				inv := 1 / math.Sqrt(vari/float64(n)+1e-5)
				for i, v := range x {
					want := (float64(v)-mean)*inv*float64(g[i]) + float64(b[i])
					if d := math.Abs(float64(out[i]) - want); d > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("out[%d] = %v, want %v", i, out[i], want)
					}
				}
			})
		}
	}
	t.Run("known", func(t *testing.T) {
		x := []float32{1, 2, 3, 4}
		g := []float32{1, 1, 2, 1}
		b := []float32{0, 0, 0, 1}
		out := make([]float32, 4)
		LayerNorm(out, x, g, b, 1e-5)
		// mean 2.5, var 1.25
		inv := 1 / math.Sqrt(1.25+1e-5)
		want := []float64{-1.5 * inv, -0.5 * inv, 2 * 0.5 * inv, 1.5*inv + 1}
		for i := range want {
			if math.Abs(float64(out[i])-want[i]) > 1e-5 {
				t.Errorf("out[%d] = %v, want %v", i, out[i], want[i])
			}
		}
	})
}

func TestPoolCoversRange(t *testing.T) {
	for _, workers := range []int{1, 2, 5} {
		p := NewPool(workers)
		for _, n := range []int{1, 2, 7, 100} {
			seen := make([]int, n)
			p.For(n, func(_, lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("workers %d n %d: index %d visited %d times", workers, n, i, c)
				}
			}
		}
		p.Close()
	}
}

func TestSum(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, n := range []int{0, 1, 31, 32, 33, 1000} {
			t.Run(ks.name, func(t *testing.T) {
				withKernels(t, ks)
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(i%7) - 3
				}
				var want float32
				for _, v := range x {
					want += v
				}
				if got := Sum(x); got != want {
					t.Errorf("Sum of %d = %v, want %v", n, got, want)
				}
			})
		}
	}
}

func TestPackedRows(t *testing.T) {
	for _, n := range []int{1, 31, 32, 33, 70} {
		p := NewPacked(3, n, false)
		want := make([]float32, 3*n)
		for i := range want {
			want[i] = float32(i) + 0.5
		}
		if err := p.SetRows(want); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 3*n)
		if err := p.Rows(got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("N=%d: Rows()[%d] = %g, want %g", n, i, got[i], want[i])
			}
		}
		if err := p.Rows(make([]float32, 3*n+1)); err == nil {
			t.Errorf("N=%d: Rows into a slice of the wrong size: no error", n)
		}
	}
}

// TestPanelQueue: every panel is handed out exactly once, whoever takes
// it, with workers that take at different speeds (one of them not at all
// until the others are done), and a worker's own panels come in order.
func TestPanelQueue(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{1, 1}, {1, 2}, {7, 2}, {72, 2}, {1571, 3}, {5, 8}} {
		q := newPanelQueue(tc.n, tc.workers)
		seen := make([]atomic.Int32, tc.n)
		var wg sync.WaitGroup
		late := make(chan struct{})
		for w := range tc.workers {
			wg.Go(func() {
				if w == tc.workers-1 && tc.workers > 1 {
					<-late
				}
				prev := -1
				for {
					lo, hi, ok := q.take(w)
					if !ok {
						return
					}
					if lo >= hi || lo < 0 || hi > tc.n {
						t.Errorf("worker %d took [%d, %d) of %d", w, lo, hi, tc.n)
						return
					}
					if lo < w*tc.n/tc.workers+0 || lo >= (w+1)*tc.n/tc.workers {
						prev = -1 // a stolen range
					} else if lo <= prev {
						t.Errorf("worker %d took its own panel %d after %d", w, lo, prev)
					} else {
						prev = lo
					}
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				}
			})
		}
		wg.Go(func() {
			// Let the others finish first when they can.
			for range 100 {
				runtime.Gosched()
			}
			close(late)
		})
		wg.Wait()
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d workers=%d: panel %d taken %d times", tc.n, tc.workers, i, c)
			}
		}
	}
}

// TestQuantizeBlocks: each kernel set quantizes activations for the int8
// dot product exactly as the pure-Go reference does: values, ties to even,
// the blocks' corrections and scales, all-zero blocks (scale 0), NaN and
// Inf (zeros, scale NaN), and a partial last block.
// TestQuantizeRow checks each set's row quantizer (an int8 KV cache's)
// bit for bit against the Go quantize: rounding ties to even, the scale,
// zeros, NaN and Inf, every byte written.
func TestQuantizeRow(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	ties := make([]float32, 64)
	for i := range ties {
		ties[i] = float32(i%8) + 0.5 // with the largest 127 every value is a tie
	}
	ties[5] = -127
	withNaN := randSlice(r, 64)
	withNaN[40] = float32(math.NaN())
	withInf := randSlice(r, 32)
	withInf[3] = float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		x    []float32
	}{
		{"head of 64", randSlice(r, 64)}, {"16", randSlice(r, 16)}, {"128", randSlice(r, 128)}, {"40 (not a multiple of 16)", randSlice(r, 40)},
		{"zeros", make([]float32, 64)}, {"ties", ties}, {"NaN", withNaN}, {"+Inf", withInf},
	} {
		wantQ := make([]int8, len(tc.x))
		wantS := quantize(wantQ, tc.x)
		for _, ks := range kernelSets() {
			t.Run(ks.name+"/"+tc.name, func(t *testing.T) {
				q, check := guarded(t, len(tc.x), int8(99))
				for i := range q {
					q[i] = 99
				}
				s := ks.quantRow(q, tc.x)
				check()
				if s != wantS && !(s != s && wantS != wantS) {
					t.Errorf("scale %v, want %v", s, wantS)
				}
				for i := range q {
					if q[i] != wantQ[i] {
						t.Fatalf("q[%d] = %d, want %d (x = %v)", i, q[i], wantQ[i], tc.x[i])
					}
				}
			})
		}
	}
}

func TestQuantizeBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	ties := make([]float32, 32)
	for i := range ties {
		ties[i] = float32(i) - 15.5 // a ramp, largest |x| 15.5
	}
	exact := make([]float32, 2*ActBlock)
	for i := range exact {
		exact[i] = float32(i%8) + 0.5 // with the largest 127, inv is 1: every value a tie
	}
	exact[0], exact[ActBlock+5] = 127, -127
	withNaN := randSlice(r, 2*ActBlock+6)
	withNaN[ActBlock+8] = float32(math.NaN())
	withInf := randSlice(r, ActBlock)
	withInf[3] = float32(math.Inf(-1))
	lastLane := randSlice(r, ActBlock) // the largest |x| in the block's last register
	lastLane[ActBlock-1] = 9
	zeroLast := randSlice(r, 2*ActBlock) // the row's last block all zeros
	clear(zeroLast[ActBlock:])
	for _, tc := range []struct {
		name string
		x    []float32
	}{
		{"empty", nil}, {"short", randSlice(r, 5)}, {"one block", randSlice(r, ActBlock)}, {"partial block", randSlice(r, ActBlock+6)},
		{"largest last", lastLane},
		{"long", randSlice(r, 3072)}, {"zeros", make([]float32, ActBlock)}, {"last block zeros", zeroLast}, {"ramp", ties}, {"ties", exact},
		{"NaN in the second block", withNaN}, {"-Inf", withInf},
	} {
		kb := max(ActBlock, (len(tc.x)+ActBlock-1)/ActBlock*ActBlock)
		blocks := kb / ActBlock
		wantQ, wantInfo := make([]int8, kb), make([]uint32, 3*blocks)
		quantizeBlocksGo(wantQ, wantInfo, 3, tc.x)
		for _, ks := range kernelSets() {
			t.Run(ks.name+"/"+tc.name, func(t *testing.T) {
				q, check := guarded(t, kb, int8(99))
				info, checkInfo := guarded(t, 3*blocks, uint32(0x5555))
				for i := range q {
					q[i] = 99 // every byte must be written
				}
				ks.quantBlocks(q, info, 3, tc.x)
				check()
				checkInfo()
				for i := range q {
					if q[i] != wantQ[i] {
						t.Fatalf("q[%d] = %d, want %d (x = %v)", i, q[i], wantQ[i], tc.x[min(i, max(len(tc.x)-1, 0)):min(i+1, len(tc.x))])
					}
				}
				for b := range blocks {
					gc, ws := int32(info[3*b]), math.Float32frombits(wantInfo[3*b+1])
					if gc != int32(wantInfo[3*b]) {
						t.Errorf("block %d: correction %d, want %d", b, gc, int32(wantInfo[3*b]))
					}
					if gs := math.Float32frombits(info[3*b+1]); gs != ws && !(gs != gs && ws != ws) {
						t.Errorf("block %d: scale %v, want %v", b, gs, ws)
					}
				}
			})
		}
	}
}

// guarded returns n elements followed, in the same allocation, by 128
// bytes of sentinels, and a check that fails t if any of those changed:
// a vector kernel that stores a whole register past its slice's end writes
// into whatever the allocation holds next (another row, another worker's
// output) and nothing else would notice.
func guarded[T comparable](t *testing.T, n int, sentinel T) ([]T, func()) {
	t.Helper()
	var zero T
	guard := 128 / max(1, int(unsafe.Sizeof(zero)))
	buf := make([]T, n+guard)
	for i := n; i < len(buf); i++ {
		buf[i] = sentinel
	}
	return buf[:n:n], func() {
		t.Helper()
		for i, v := range buf[n:] {
			if v != sentinel {
				t.Fatalf("element %d past the end of %d written: %v", i, n, v)
			}
		}
	}
}

// TestArgmax checks every kernel set's Argmax against a plain loop: the
// largest value at each position of short rows (the AVX-512 kernel's
// masked last vector, the AVX2 kernel's rest in Go), ties that must give
// the lowest index, +0 against -0, NaN anywhere (never greater), rows of
// nothing but -Inf or NaN (index 0), +Inf, and a GPT-2 row of logits.
func TestArgmax(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	ref := func(x []float32) (int, float32) {
		bi, best := 0, -inf
		for i, v := range x {
			if v > best {
				bi, best = i, v
			}
		}
		return bi, best
	}
	r := rand.New(rand.NewPCG(21, 22))
	type tc struct {
		name string
		x    []float32
	}
	var tests []tc
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100} {
		for p := 0; p < n; p++ {
			x := randSlice(r, n)
			x[p] = 10
			tests = append(tests, tc{fmt.Sprintf("n=%d max at %d", n, p), x})
			if p+1 < n {
				y := slices.Clone(x)
				y[n-1] = 10 // a tie later on
				tests = append(tests, tc{fmt.Sprintf("n=%d tie at %d and %d", n, p, n-1), y})
				z := slices.Clone(x)
				z[p] = nan // the largest is NaN: the next largest wins
				z[(p+n/2)%n] = 5
				tests = append(tests, tc{fmt.Sprintf("n=%d NaN at %d", n, p), z})
				a := slices.Clone(x)
				for q := p + 8; q < n; q += 8 {
					a[q] = nan // in the lane that holds the largest, later
				}
				tests = append(tests, tc{fmt.Sprintf("n=%d max at %d, NaN after", n, p), a})
			}
		}
	}
	filled := func(n int, v float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = v
		}
		return x
	}
	zeros := filled(40, -1)
	zeros[5], zeros[21] = float32(math.Copysign(0, -1)), 0
	withInf := randSlice(r, 50)
	withInf[33], withInf[44] = inf, inf
	vocab := randSlice(r, 50257)
	vocab[50256] = 30
	vocab[40001] = 30
	negInf := filled(37, -inf)
	negInf[36] = nan
	tests = append(tests,
		tc{"all -Inf", filled(45, -inf)},
		tc{"all NaN", filled(45, nan)},
		tc{"-Inf and NaN", negInf},
		tc{"-0 before +0", zeros},
		tc{"+Inf twice", withInf},
		tc{"GPT-2 vocabulary, a tie", vocab},
	)
	for _, ks := range kernelSets() {
		for _, tt := range tests {
			wi, wm := ref(tt.x)
			gi, gm := ks.argmax(tt.x)
			if gi != wi || math.Float32bits(gm) != math.Float32bits(wm) && !(gm == 0 && wm == 0) {
				t.Errorf("%s: %s: Argmax = %d, %v, want %d, %v", ks.name, tt.name, gi, gm, wi, wm)
			}
		}
	}
	if i, m := Argmax(nil); i != -1 || !math.IsInf(float64(m), -1) {
		t.Errorf("Argmax(nil) = %d, %v, want -1, -Inf", i, m)
	}
}
