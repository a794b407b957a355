package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/backend/backendtest"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/refserver/safetensors"
)

// emulator is a fake device: host memory standing in for the GPU's, each
// kernel of kernels.cu and cuBLAS' GemmEx done in Go from the same
// definitions, and every call recorded. It checks the backend's host side
// (allocation, layouts, pointers, leading dimensions, the rows' metadata,
// the order of the calls) without a GPU; kernels.cu itself is compiled by
// TestCompileKernels and run on a GPU by deploy/gpu/verify.sh.
type emulator struct {
	mu      sync.Mutex
	next    devPtr
	allocs  map[devPtr][]byte
	bases   []devPtr // sorted; nil after an allocation or a free
	failAt  int      // the allocation that fails with out of memory; 0: none
	nAlloc  int
	calls   []string
	entered int
}

func newEmulator() *emulator { return &emulator{next: 1 << 20, allocs: map[devPtr][]byte{}} }

func (e *emulator) enter() func() {
	e.entered++
	return func() { e.entered-- }
}

func (e *emulator) alloc(bytes int64) (devPtr, error) {
	e.nAlloc++
	if e.failAt > 0 && e.nAlloc >= e.failAt {
		return 0, errOutOfMemory
	}
	p := e.next
	e.allocs[p] = make([]byte, bytes)
	e.bases = nil
	e.next += devPtr((bytes + 255) &^ 255)
	return p, nil
}

func (e *emulator) free(p devPtr) {
	delete(e.allocs, p)
	e.bases = nil
}

// mem is the n bytes at p, which must lie in one allocation.
func (e *emulator) mem(p devPtr, n int64) []byte {
	if e.bases == nil {
		for b := range e.allocs {
			e.bases = append(e.bases, b)
		}
		slices.Sort(e.bases)
	}
	bases := e.bases
	i := sort.Search(len(bases), func(i int) bool { return bases[i] > p }) - 1
	if i < 0 {
		panic(fmt.Sprintf("address %#x is in no allocation", p))
	}
	buf := e.allocs[bases[i]]
	off := int64(p - bases[i])
	if off+n > int64(len(buf)) {
		panic(fmt.Sprintf("%d bytes at %#x run past their allocation of %d", n, p, len(buf)))
	}
	return buf[off : off+n]
}

func (e *emulator) upload(dst devPtr, src unsafe.Pointer, bytes int64) error {
	e.calls = append(e.calls, fmt.Sprintf("upload %d", bytes))
	copy(e.mem(dst, bytes), unsafe.Slice((*byte)(src), bytes))
	return nil
}

func (e *emulator) download(dst unsafe.Pointer, src devPtr, bytes int64) error {
	if bytes > 0 {
		e.calls = append(e.calls, fmt.Sprintf("download %d", bytes))
		copy(unsafe.Slice((*byte)(dst), bytes), e.mem(src, bytes))
	}
	return nil
}

func (e *emulator) memInfo() (int64, int64) { return 1 << 30, 2 << 30 }

func (e *emulator) close() {}

// f32s and i32s view device memory as typed slices.
func (e *emulator) f32s(p devPtr, n int) []float32 {
	b := e.mem(p, int64(4*n))
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

func (e *emulator) i32s(p devPtr, n int) []int32 {
	b := e.mem(p, int64(4*n))
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n)
}

// typed reads and writes element i of an array of the kernel type sx
// that starts at a device address: a view of its allocation from there.
type typed struct {
	b  []byte
	sx string
}

func (e *emulator) typed(p devPtr, sx string) typed {
	e.mem(p, 0)
	i := sort.Search(len(e.bases), func(i int) bool { return e.bases[i] > p }) - 1
	return typed{e.allocs[e.bases[i]][p-e.bases[i]:], sx}
}

func (t typed) get(i int64) float32 {
	switch t.sx {
	case "f32":
		return math.Float32frombits(binary.LittleEndian.Uint32(t.b[4*i:]))
	case "f16":
		return safetensors.Float16ToFloat32(binary.LittleEndian.Uint16(t.b[2*i:]))
	}
	return safetensors.BFloat16ToFloat32(binary.LittleEndian.Uint16(t.b[2*i:]))
}

func (t typed) put(i int64, v float32) {
	switch t.sx {
	case "f32":
		binary.LittleEndian.PutUint32(t.b[4*i:], math.Float32bits(v))
	case "f16":
		binary.LittleEndian.PutUint16(t.b[2*i:], safetensors.Float32ToFloat16(v))
	default:
		binary.LittleEndian.PutUint16(t.b[2*i:], safetensors.Float32ToBFloat16(v))
	}
}

func (e *emulator) launch(name string, grid, block [3]uint32, shmem uint32, args ...any) error {
	e.calls = append(e.calls, fmt.Sprintf("%s %dx%d", name, grid[0], grid[1]))
	if e.entered == 0 {
		return errors.New("launch outside enter")
	}
	base, sx, _ := strings.Cut(name, "_")
	if rest, ok := strings.CutPrefix(name, "bias_gelu_"); ok {
		base, sx = "bias_gelu", rest
	}
	p := func(i int) devPtr { return args[i].(devPtr) }
	n := func(i int) int { return int(args[i].(int32)) }
	switch base {
	case "embed":
		C, V := n(5), n(6)
		wte := e.typed(p(3), sx)
		for i := range int(grid[0]) {
			tok, pos := e.i32s(p(1), i+1)[i], e.i32s(p(2), i+1)[i]
			x := e.f32s(p(0)+devPtr(4*i*C), C)
			wpe := e.f32s(p(4)+devPtr(4*int(pos)*C), C)
			for c := range C {
				x[c] = wte.get(int64(c)*int64(V)+int64(tok)) + wpe[c]
			}
		}
	case "layernorm":
		C, eps := n(5), args[6].(float32)
		out := e.typed(p(0), sx)
		for j := range int(grid[0]) {
			row := j
			if p(2) != 0 {
				row = int(e.i32s(p(2), j+1)[j])
			}
			x := e.f32s(p(1)+devPtr(4*row*C), C)
			g, b := e.f32s(p(3), C), e.f32s(p(4), C)
			var mean, v float32
			for _, xv := range x {
				mean += xv
			}
			mean /= float32(C)
			for _, xv := range x {
				v += (xv - mean) * (xv - mean)
			}
			rstd := float32(1 / math.Sqrt(float64(v/float32(C)+eps)))
			for c := range C {
				out.put(int64(j*C+c), (x[c]-mean)*rstd*g[c]+b[c])
			}
		}
	case "qkv":
		C, L, layer, maxT := n(7), n(8), n(9), n(10)
		q, kc, vc := e.typed(p(0), sx), e.typed(p(1), sx), e.typed(p(2), sx)
		bias := e.f32s(p(4), 3*C)
		for i := range int(grid[0]) {
			slot, pos := int(e.i32s(p(5), i+1)[i]), int(e.i32s(p(6), i+1)[i])
			y := e.f32s(p(3)+devPtr(4*3*i*C), 3*C)
			base := int64(((slot*L+layer)*maxT + pos) * C)
			for c := range C {
				q.put(int64(i*C+c), y[c]+bias[c])
				kc.put(base+int64(c), y[C+c]+bias[C+c])
				vc.put(base+int64(c), y[2*C+c]+bias[2*C+c])
			}
		}
	case "attention":
		C, NH, L, layer, maxT, scale := n(6), n(7), n(8), n(9), n(10), args[11].(float32)
		out, q, kc, vc := e.typed(p(0), sx), e.typed(p(1), sx), e.typed(p(2), sx), e.typed(p(3), sx)
		hd := C / NH
		if shmem < uint32(4*maxT) || block[0]%32 != 0 {
			return fmt.Errorf("attention: %d bytes of shared memory for %d positions, block %d", shmem, maxT, block[0])
		}
		for i := range int(grid[0]) {
			slot, pos := int(e.i32s(p(4), i+1)[i]), int(e.i32s(p(5), i+1)[i])
			for h := range int(grid[1]) {
				cache := int64((slot*L+layer)*maxT*C + h*hd)
				qi := int64(i*C + h*hd)
				scores := make([]float32, pos+1)
				m := float32(-math.MaxFloat32)
				for t := range scores {
					var s float32
					for d := range hd {
						s += q.get(qi+int64(d)) * kc.get(cache+int64(t*C+d))
					}
					scores[t] = s * scale
					m = max(m, scores[t])
				}
				var sum float32
				for t := range scores {
					scores[t] = float32(math.Exp(float64(scores[t] - m)))
					sum += scores[t]
				}
				for d := range hd {
					var acc float32
					for t := range scores {
						acc += scores[t] * vc.get(cache+int64(t*C+d))
					}
					out.put(qi+int64(d), acc/sum)
				}
			}
		}
	case "residual":
		N, total := n(3), args[4].(int64)
		x, y, b := e.f32s(p(0), int(total)), e.f32s(p(1), int(total)), e.f32s(p(2), N)
		for k := range x {
			x[k] += y[k] + b[k%N]
		}
	case "bias_gelu":
		N, total := n(3), args[4].(int64)
		out, y, b := e.typed(p(0), sx), e.f32s(p(1), int(total)), e.f32s(p(2), N)
		for k := range y {
			v := y[k] + b[k%N]
			u := 0.7978845608028654 * (v + 0.044715*v*v*v)
			out.put(int64(k), 0.5*v*(1+float32(math.Tanh(float64(u)))))
		}
	default:
		return fmt.Errorf("no kernel %s", name)
	}
	return nil
}

func (e *emulator) gemm(m, n, k int, a devPtr, lda int, b devPtr, ldb int, c devPtr, ldc int, inType int32) error {
	e.calls = append(e.calls, fmt.Sprintf("gemm %dx%dx%d", m, n, k))
	sx := map[int32]string{cudaR32F: "f32", cudaR16F: "f16", cudaR16BF: "bf16"}[inType]
	A, B := e.typed(a, sx), e.typed(b, sx)
	C := e.f32s(c, (n-1)*ldc+m)
	for j := range n {
		for i := range m {
			var acc float32
			for l := range k {
				acc += A.get(int64(l*lda+i)) * B.get(int64(j*ldb+l))
			}
			C[j*ldc+i] = acc
		}
	}
	return nil
}

func fixture(t *testing.T) *gpt2.Model {
	t.Helper()
	m, err := gpt2.Load(gpt2test.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEmulatedConformance runs the backend's host side on the emulator
// through the backend contract, and against the CPU backend: the same
// logits (f32 weights), and within f16's rounding (f16 weights).
func TestEmulatedConformance(t *testing.T) {
	m := fixture(t)
	cpu := backend.NewCPU(m, 2, 64)
	defer cpu.Close()
	for _, tc := range []struct {
		dtype string
		tol   float64
	}{{"f32", 1e-4}, {"f16", 3e-2}, {"bf16", 0.25}} {
		t.Run(tc.dtype, func(t *testing.T) {
			b, err := newBackend(newEmulator(), backend.Info{Backend: "cuda", Device: "cuda", DType: tc.dtype},
				Config{DType: tc.dtype, MaxRows: 64, Slots: 4}.withDefaults(), dtypes[tc.dtype], m)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			backendtest.Conformance(t, b, tc.tol)
			// The same logits as the CPU backend.
			prompt := []int{464, 2068, 7586, 21831}
			got, want := logitsOf(t, b, prompt), logitsOf(t, cpu, prompt)
			d := 0.0
			for i := range want {
				d = max(d, math.Abs(float64(got[i]-want[i])))
			}
			if d > tc.tol {
				t.Errorf("%s logits differ from the CPU backend's by %g, want ≤ %g", tc.dtype, d, tc.tol)
			}
		})
	}
}

func logitsOf(t *testing.T, b backend.Backend, prompt []int) []float32 {
	t.Helper()
	c, err := b.NewCache(len(prompt))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	var rows []backend.Row
	for i, tok := range prompt {
		rows = append(rows, backend.Row{Cache: c, Pos: i, Token: tok, Logits: i == len(prompt)-1})
	}
	out, err := b.Forward(rows)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(out[0])
}

func TestStepCalls(t *testing.T) {
	m := fixture(t)
	e := newEmulator()
	b, err := newBackend(e, backend.Info{}, Config{MaxRows: 16, Slots: 2}.withDefaults(), dtypes["f16"], m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c1, _ := b.NewCache(8)
	c2, _ := b.NewCache(8)
	e.calls = nil
	// Sequence 1 prefills three tokens; sequence 2 one.
	rows := []backend.Row{{Cache: c1, Pos: 0, Token: 1}, {Cache: c1, Pos: 1, Token: 2}, {Cache: c1, Pos: 2, Token: 3, Logits: true},
		{Cache: c2, Pos: 0, Token: 4, Logits: true}}
	if _, err := b.Forward(rows); err != nil {
		t.Fatal(err)
	}
	cfg := m.Config
	C, V := cfg.NEmbd, cfg.VocabSize
	want := []string{fmt.Sprintf("upload %d", 4*(3*4+2)), "embed_f16 4x1"}
	for range cfg.NLayer {
		want = append(want, "layernorm_f16 4x1", fmt.Sprintf("gemm %dx4x%d", 3*C, C), "qkv_f16 4x1",
			fmt.Sprintf("attention_f16 4x%d", cfg.NHead), fmt.Sprintf("gemm %dx4x%d", C, C), fmt.Sprintf("residual_add %dx1", (4*C+255)/256),
			"layernorm_f16 4x1", fmt.Sprintf("gemm %dx4x%d", 4*C, C), fmt.Sprintf("bias_gelu_f16 %dx1", (16*C+255)/256),
			fmt.Sprintf("gemm %dx4x%d", C, 4*C), fmt.Sprintf("residual_add %dx1", (4*C+255)/256))
	}
	want = append(want, "layernorm_f16 2x1", fmt.Sprintf("gemm %dx2x%d", V, C), fmt.Sprintf("download %d", 4*2*V))
	if !slices.Equal(e.calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(e.calls, "\n"), strings.Join(want, "\n"))
	}
	meta := e.i32s(b.meta, 14)
	if wantMeta := []int32{1, 2, 3, 4, 0, 1, 2, 0, int32(c1.(*cache).slot), int32(c1.(*cache).slot), int32(c1.(*cache).slot), int32(c2.(*cache).slot), 2, 3}; !slices.Equal(meta, wantMeta) {
		t.Errorf("row metadata %v, want %v (tokens, positions, slots, logit rows)", meta, wantMeta)
	}
}

func TestSlots(t *testing.T) {
	b, err := newBackend(newEmulator(), backend.Info{}, Config{MaxRows: 8, Slots: 2}.withDefaults(), dtypes["f16"], fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c1, err1 := b.NewCache(4)
	c2, err2 := b.NewCache(4)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := b.NewCache(4); err == nil || !strings.Contains(err.Error(), "all 2 slots are taken") {
		t.Errorf("a third cache with two slots: %v, want all slots taken", err)
	}
	slot := c1.(*cache).slot
	c1.Release()
	c3, err := b.NewCache(4)
	if err != nil || c3.(*cache).slot != slot {
		t.Errorf("after a release: %v, slot %v; want the released slot %d again", err, c3, slot)
	}
	if _, err := b.Forward([]backend.Row{{Cache: c1, Pos: 0, Token: 1, Logits: true}}); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("a released cache: %v, want it refused", err)
	}
	c2.Release()
	c3.Release()
}

func TestOutOfMemory(t *testing.T) {
	e := newEmulator()
	e.failAt = 10 // in the first layer's weights
	_, err := newBackend(e, backend.Info{}, Config{MaxRows: 8, Slots: 2}.withDefaults(), dtypes["f16"], fixture(t))
	if err == nil || !strings.Contains(err.Error(), "cuda: out of device memory for layer") || !strings.Contains(err.Error(), "MiB free of") {
		t.Fatalf("error %v, want out of device memory naming what and how much was free", err)
	}
	if len(e.allocs) != 0 {
		t.Errorf("%d allocations left after the failed start, want 0", len(e.allocs))
	}
}
