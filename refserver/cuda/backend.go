// Package cuda is refserver's GPU backend: GPT-2 on an NVIDIA GPU through
// the CUDA driver API (libcuda), cuBLAS and NVRTC, all loaded at run time
// with purego, so refserver builds with CGO_ENABLED=0 and runs unchanged on
// a machine without CUDA (Open then says what is missing).
//
// The kernels (kernels.cu: embedding, LayerNorm, the QKV split into the KV
// cache, attention over the cache for a batch of sequences of different
// lengths with its softmax, bias with GELU, residual add) are compiled at
// start-up by NVRTC for the device's compute capability. The matrix
// multiplies are cublasGemmEx with f32 accumulation. The weights are kept
// in f16 (the default), bf16 or f32; the residual stream stays f32. One
// stream runs a whole step; the only copies are the step's row metadata in
// and the logits out.
package cuda

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/safetensors"
)

// Config chooses the GPU and how the model is kept on it. The zero value
// means device 0, f16 weights, steps of up to 512 rows and 8 KV-cache
// slots.
type Config struct {
	Device  int    // the CUDA device ordinal
	DType   string // weights: "f16" (default), "bf16" or "f32"
	MaxRows int    // most rows (tokens) a step may have, the engine's step tokens; 0 means 512
	Slots   int    // KV caches that can be live at once, the engine's max batch; 0 means 8
}

func (c Config) withDefaults() Config {
	if c.DType == "" {
		c.DType = "f16"
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 512
	}
	if c.Slots <= 0 {
		c.Slots = 8
	}
	return c
}

// dtype is a weight type: its name, cuBLAS' type and its size.
type dtype struct {
	name     string
	cuda     int32
	size     int
	minArch  int
	fromF32  func(dst []byte, src []float32)
	kernelSx string
}

var dtypes = map[string]dtype{
	"f32": {"f32", cudaR32F, 4, MinComputeCapability, func(dst []byte, src []float32) {
		copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 4*len(src)))
	}, "f32"},
	"f16": {"f16", cudaR16F, 2, MinComputeCapability, func(dst []byte, src []float32) {
		for i, v := range src {
			h := safetensors.Float32ToFloat16(v)
			dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
		}
	}, "f16"},
	"bf16": {"bf16", cudaR16BF, 2, MinComputeCapabilityBF16, func(dst []byte, src []float32) {
		for i, v := range src {
			h := safetensors.Float32ToBFloat16(v)
			dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
		}
	}, "bf16"},
}

// Backend runs a GPT-2 on one GPU. It implements backend.Backend; its
// methods other than Info are called by one goroutine at a time.
type Backend struct {
	dev   device
	cfg   gpt2.Config
	conf  Config
	dt    dtype
	info  backend.Info
	owned []devPtr // every allocation, freed by Close

	layers []layer
	wte    devPtr // C × V in dt: the embedding and, tied, the LM head
	lmHead devPtr
	wpe    devPtr // maxT × C f32
	lnfG   devPtr
	lnfB   devPtr

	kcache, vcache devPtr // slots × L × maxT × C in dt
	mu             sync.Mutex
	freeSlots      []int
	live           []bool

	// The step's buffers, for MaxRows rows.
	meta                 devPtr // int32: tokens, positions, slots, logit rows
	x, y3, y, y4, logits devPtr // f32
	xn, q, att, h, head  devPtr // dt
	hostMeta             []int32
	hostLogits           []float32
	out                  [][]float32
}

type layer struct {
	ln1G, ln1B, ln2G, ln2B devPtr // f32 (C)
	qkv, proj, fc, proj2   devPtr // dt: (C,3C), (C,C), (C,4C), (4C,C)
	bQKV, bProj, bFC, bP2  devPtr // f32
}

// Open starts the backend for m on the GPU cfg names: it loads the CUDA
// libraries, checks the device, compiles the kernels, and puts the
// weights, the KV caches and the step's buffers on the GPU. Each failure
// is one error naming its cause: no driver, no device, an old GPU, a
// kernel that does not compile, not enough device memory.
func Open(cfg Config, m *gpt2.Model) (*Backend, error) {
	cfg = cfg.withDefaults()
	dt, ok := dtypes[cfg.DType]
	if !ok {
		return nil, fmt.Errorf("cuda: --dtype %q: want f16, bf16 or f32", cfg.DType)
	}
	g, info, err := openGPU(cfg.Device, dt)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(g, info, cfg, dt, m)
	if err != nil {
		g.close()
		return nil, err
	}
	return b, nil
}

// newBackend puts m on dev.
func newBackend(dev device, info backend.Info, cfg Config, dt dtype, m *gpt2.Model) (*Backend, error) {
	b := &Backend{dev: dev, cfg: m.Config, conf: cfg, dt: dt, info: info}
	leave := dev.enter()
	defer leave()
	if err := b.upload(m); err != nil {
		b.freeAll()
		return nil, err
	}
	if err := b.allocStep(); err != nil {
		b.freeAll()
		return nil, err
	}
	b.live = make([]bool, cfg.Slots)
	for s := cfg.Slots - 1; s >= 0; s-- {
		b.freeSlots = append(b.freeSlots, s)
	}
	return b, nil
}

// alloc allocates device memory for what, and keeps it for Close. Out of
// memory says how much the GPU had.
func (b *Backend) alloc(what string, bytes int64) (devPtr, error) {
	p, err := b.dev.alloc(bytes)
	if err != nil {
		free, total := b.dev.memInfo()
		if isCode(err, cudaErrorOutOfMemory) || errors.Is(err, errOutOfMemory) {
			return 0, fmt.Errorf("cuda: out of device memory for %s (%d MiB): %d MiB free of %d MiB", what, bytes>>20, free>>20, total>>20)
		}
		return 0, fmt.Errorf("cuda: allocate %s: %w", what, err)
	}
	b.owned = append(b.owned, p)
	return p, nil
}

// errOutOfMemory is what a fake device returns for a failed allocation.
var errOutOfMemory = errors.New("out of memory")

// put allocates and fills device memory with f32 values converted to t.
func (b *Backend) put(what string, src []float32, t dtype) (devPtr, error) {
	p, err := b.alloc(what, int64(len(src)*t.size))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, len(src)*t.size)
	if len(src) > 0 {
		t.fromF32(buf, src)
		if err := b.dev.upload(p, unsafe.Pointer(&buf[0]), int64(len(buf))); err != nil {
			return 0, fmt.Errorf("cuda: upload %s: %w", what, err)
		}
	}
	// The copy is asynchronous: wait before buf may go.
	if err := b.dev.download(nil, 0, 0); err != nil {
		return 0, fmt.Errorf("cuda: upload %s: %w", what, err)
	}
	return p, nil
}

func (b *Backend) upload(m *gpt2.Model) error {
	f32 := dtypes["f32"]
	c := m.Config
	C := c.NEmbd
	matrix := func(what string, p interface{ Rows([]float32) error }, k, n int) (devPtr, error) {
		rows := make([]float32, k*n)
		if err := p.Rows(rows); err != nil {
			return 0, fmt.Errorf("cuda: %s: %w", what, err)
		}
		return b.put(what, rows, b.dt)
	}
	var err error
	if b.wte, err = matrix("token embedding", m.WTE, C, c.VocabSize); err != nil {
		return err
	}
	b.lmHead = b.wte
	if m.LMHead != m.WTE {
		if b.lmHead, err = matrix("LM head", m.LMHead, C, c.VocabSize); err != nil {
			return err
		}
	}
	if b.wpe, err = b.put("position embedding", m.WPE.Data().([]float32), f32); err != nil {
		return err
	}
	if b.lnfG, err = b.put("final LayerNorm", m.LNFG, f32); err != nil {
		return err
	}
	if b.lnfB, err = b.put("final LayerNorm", m.LNFB, f32); err != nil {
		return err
	}
	b.layers = make([]layer, c.NLayer)
	for l, blk := range m.Blocks {
		ly := &b.layers[l]
		name := fmt.Sprintf("layer %d", l)
		for _, v := range []struct {
			dst *devPtr
			src []float32
		}{{&ly.ln1G, blk.LN1G}, {&ly.ln1B, blk.LN1B}, {&ly.ln2G, blk.LN2G}, {&ly.ln2B, blk.LN2B},
			{&ly.bQKV, blk.QKV.Bias[:3*C]}, {&ly.bProj, blk.AttnProj.Bias[:C]}, {&ly.bFC, blk.FC.Bias[:4*C]}, {&ly.bP2, blk.Proj.Bias[:C]}} {
			if *v.dst, err = b.put(name+" vectors", v.src, f32); err != nil {
				return err
			}
		}
		if ly.qkv, err = matrix(name+" c_attn", blk.QKV, C, 3*C); err != nil {
			return err
		}
		if ly.proj, err = matrix(name+" attn.c_proj", blk.AttnProj, C, C); err != nil {
			return err
		}
		if ly.fc, err = matrix(name+" mlp.c_fc", blk.FC, C, 4*C); err != nil {
			return err
		}
		if ly.proj2, err = matrix(name+" mlp.c_proj", blk.Proj, 4*C, C); err != nil {
			return err
		}
	}
	return nil
}

// allocStep allocates the KV caches and the step's buffers.
func (b *Backend) allocStep() error {
	c, M := b.cfg, b.conf.MaxRows
	C, V := int64(c.NEmbd), int64(c.VocabSize)
	kv := int64(b.conf.Slots) * int64(c.NLayer) * int64(c.NPositions) * C * int64(b.dt.size)
	var err error
	allocs := []struct {
		p     *devPtr
		what  string
		bytes int64
	}{
		{&b.kcache, "the KV cache (keys)", kv}, {&b.vcache, "the KV cache (values)", kv},
		{&b.meta, "the step's rows", 4 * int64(4*M)},
		{&b.x, "activations", 4 * int64(M) * C}, {&b.y3, "activations", 4 * 3 * int64(M) * C},
		{&b.y, "activations", 4 * int64(M) * C}, {&b.y4, "activations", 4 * 4 * int64(M) * C},
		{&b.xn, "activations", int64(b.dt.size) * int64(M) * C}, {&b.q, "activations", int64(b.dt.size) * int64(M) * C},
		{&b.att, "activations", int64(b.dt.size) * int64(M) * C}, {&b.h, "activations", int64(b.dt.size) * 4 * int64(M) * C},
		{&b.head, "activations", int64(b.dt.size) * int64(M) * C}, {&b.logits, "logits", 4 * int64(M) * V},
	}
	for _, a := range allocs {
		if *a.p, err = b.alloc(a.what, a.bytes); err != nil {
			return err
		}
	}
	b.hostMeta = make([]int32, 4*M)
	return nil
}

// Config implements backend.Backend.
func (b *Backend) Config() gpt2.Config { return b.cfg }

// Info implements backend.Backend: the GPU, the weights' type, and the
// device's memory now.
func (b *Backend) Info() backend.Info {
	in := b.info
	leave := b.dev.enter()
	free, total := b.dev.memInfo()
	leave()
	in.MemTotal, in.MemUsed = total, total-free
	return in
}

// cache is a KV-cache slot.
type cache struct {
	b        *Backend
	slot     int
	capacity int
	released bool
}

func (c *cache) Cap() int { return c.capacity }

// Release gives the slot back for the next sequence.
func (c *cache) Release() {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	c.b.live[c.slot] = false
	c.b.freeSlots = append(c.b.freeSlots, c.slot)
}

// NewCache implements backend.Backend: a slot of the preallocated KV
// cache, for up to the model's context.
func (b *Backend) NewCache(capacity int) (backend.Cache, error) {
	if capacity <= 0 || capacity > b.cfg.NPositions {
		return nil, fmt.Errorf("kv cache of %d positions: want 1..%d", capacity, b.cfg.NPositions)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.freeSlots) == 0 {
		return nil, fmt.Errorf("kv cache: all %d slots are taken (the engine's max batch is larger than the backend's slots)", b.conf.Slots)
	}
	s := b.freeSlots[len(b.freeSlots)-1]
	b.freeSlots = b.freeSlots[:len(b.freeSlots)-1]
	b.live[s] = true
	return &cache{b: b, slot: s, capacity: capacity}, nil
}

// Forward implements backend.Backend: one GPT-2 step over rows on the GPU.
func (b *Backend) Forward(rows []backend.Row) ([][]float32, error) {
	c := b.cfg
	M, C, V, L, NH := len(rows), c.NEmbd, c.VocabSize, c.NLayer, c.NHead
	if M == 0 {
		return nil, nil
	}
	if M > b.conf.MaxRows {
		return nil, fmt.Errorf("forward: %d rows, the backend holds %d", M, b.conf.MaxRows)
	}
	tokens, pos, slots, idx := b.hostMeta[:M], b.hostMeta[M:2*M], b.hostMeta[2*M:3*M], b.hostMeta[3*M:3*M]
	for i, r := range rows {
		kv, ok := r.Cache.(*cache)
		switch {
		case !ok || kv.b != b:
			return nil, fmt.Errorf("forward: row %d: not a cache of this backend", i)
		case kv.released:
			return nil, fmt.Errorf("forward: row %d: its cache was released", i)
		case r.Token < 0 || r.Token >= V:
			return nil, fmt.Errorf("forward: row %d: token %d outside the vocabulary of %d", i, r.Token, V)
		case r.Pos < 0 || r.Pos >= kv.capacity:
			return nil, fmt.Errorf("forward: row %d: position %d outside its cache", i, r.Pos)
		}
		tokens[i], pos[i], slots[i] = int32(r.Token), int32(r.Pos), int32(kv.slot)
		if r.Logits {
			idx = append(idx, int32(i))
		}
	}
	nL := len(idx)
	leave := b.dev.enter()
	defer leave()
	d := b.dev
	if err := d.upload(b.meta, unsafe.Pointer(&b.hostMeta[0]), int64(4*(3*M+nL))); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	dTok, dPos, dSlot, dIdx := b.meta, b.meta+devPtr(4*M), b.meta+devPtr(8*M), b.meta+devPtr(12*M)
	sx := b.dt.kernelSx
	rowsGrid := [3]uint32{uint32(M), 1, 1}
	threads := [3]uint32{256, 1, 1}
	total := int64(M) * int64(C)
	elementwise := [3]uint32{uint32(min((total+255)/256, 65535)), 1, 1}
	total4 := 4 * total
	elementwise4 := [3]uint32{uint32(min((total4+255)/256, 65535)), 1, 1}
	eps := float32(c.LNEps)
	scale := float32(1 / math.Sqrt(float64(c.HeadSize())))
	maxT := int32(c.NPositions)

	steps := []func() error{func() error {
		return d.launch("embed_"+sx, rowsGrid, threads, 0, b.x, dTok, dPos, b.wte, b.wpe, int32(C), int32(V))
	}}
	for l := range b.layers {
		ly := &b.layers[l]
		steps = append(steps,
			func() error {
				return d.launch("layernorm_"+sx, rowsGrid, threads, 0, b.xn, b.x, devPtr(0), ly.ln1G, ly.ln1B, int32(C), eps)
			},
			func() error { return d.gemm(3*C, M, C, ly.qkv, 3*C, b.xn, C, b.y3, 3*C, b.dt.cuda) },
			func() error {
				return d.launch("qkv_"+sx, rowsGrid, threads, 0, b.q, b.kcache, b.vcache, b.y3, ly.bQKV, dSlot, dPos,
					int32(C), int32(L), int32(l), maxT)
			},
			func() error {
				return d.launch("attention_"+sx, [3]uint32{uint32(M), uint32(NH), 1}, [3]uint32{128, 1, 1}, uint32(4*c.NPositions),
					b.att, b.q, b.kcache, b.vcache, dSlot, dPos, int32(C), int32(NH), int32(L), int32(l), maxT, scale)
			},
			func() error { return d.gemm(C, M, C, ly.proj, C, b.att, C, b.y, C, b.dt.cuda) },
			func() error {
				return d.launch("residual_add", elementwise, threads, 0, b.x, b.y, ly.bProj, int32(C), total)
			},
			func() error {
				return d.launch("layernorm_"+sx, rowsGrid, threads, 0, b.xn, b.x, devPtr(0), ly.ln2G, ly.ln2B, int32(C), eps)
			},
			func() error { return d.gemm(4*C, M, C, ly.fc, 4*C, b.xn, C, b.y4, 4*C, b.dt.cuda) },
			func() error {
				return d.launch("bias_gelu_"+sx, elementwise4, threads, 0, b.h, b.y4, ly.bFC, int32(4*C), total4)
			},
			func() error { return d.gemm(C, M, 4*C, ly.proj2, C, b.h, 4*C, b.y, C, b.dt.cuda) },
			func() error {
				return d.launch("residual_add", elementwise, threads, 0, b.x, b.y, ly.bP2, int32(C), total)
			},
		)
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
	}
	if nL == 0 {
		// Nothing to read back, but the step must be done before its rows'
		// caches can be reused.
		if err := d.download(nil, 0, 0); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		return nil, nil
	}
	if err := d.launch("layernorm_"+sx, [3]uint32{uint32(nL), 1, 1}, threads, 0, b.head, b.x, dIdx, b.lnfG, b.lnfB, int32(C), eps); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if err := d.gemm(V, nL, C, b.lmHead, V, b.head, C, b.logits, V, b.dt.cuda); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if need := nL * V; len(b.hostLogits) < need {
		b.hostLogits = make([]float32, need)
	}
	if err := d.download(unsafe.Pointer(&b.hostLogits[0]), b.logits, int64(4*nL*V)); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	b.out = b.out[:0]
	for j := range nL {
		b.out = append(b.out, b.hostLogits[j*V:(j+1)*V])
	}
	return b.out, nil
}

// Close frees the GPU memory and the device's resources.
func (b *Backend) Close() error {
	leave := b.dev.enter()
	b.freeAll()
	leave()
	b.dev.close()
	return nil
}

func (b *Backend) freeAll() {
	for _, p := range slices.Backward(b.owned) {
		b.dev.free(p)
	}
	b.owned = nil
}
