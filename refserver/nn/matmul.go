package nn

import (
	"cmp"
	"math"
	"sync"
	"sync/atomic"
)

// MatMul computes C = A·W + bias for A of m rows of W.K floats (row stride
// lda) and C of m rows of W.N floats (row stride ldc). With acc it adds to C
// instead: C += A·W + bias, which folds a residual connection into the
// product. The work is split by weight panel across the pool's workers, and
// each worker streams its panels once for all m rows. Converted weights
// stream fewer bytes; the sums stay float32 (or int32, for int8 weights
// with int8 activations).
func MatMul(p *Pool, c []float32, ldc int, a []float32, lda int, m int, w *Packed, acc bool) {
	if m == 0 {
		return
	}
	ks := active
	tile := w.tiler(p, ks, a, lda, m)
	if tile.release != nil {
		defer tile.release()
	}
	rows := cmp.Or(tile.mr, ks.mr)
	np := w.Panels()
	// Each worker streams its own contiguous share, and one that finishes
	// early takes half of what is left of another's: on a shared host one
	// thread is often late (steal, an interrupt). Measured in interleaved
	// steps on this 2-CPU host against equal halves, then against chunks
	// handed out in turn (docs/BENCHMARKS.md): 5 to 12 % off a decode step.
	q := newPanelQueue(np, p.Workers())
	p.For(p.Workers(), func(wk, _, _ int) {
		var scratch []float32 // the partial last panel's tile, made when needed
		for {
			lo, hi, ok := q.take(wk)
			if !ok {
				return
			}
			for pi := lo; pi < hi; pi++ {
				col := pi * panel
				full := col+panel <= w.N
				for i0 := 0; i0 < m; i0 += rows {
					mr := min(rows, m-i0)
					if full {
						tile.run(pi, i0, mr, c[i0*ldc+col:], ldc, acc)
						continue
					}
					// A partial last panel goes through a scratch tile so the
					// kernel never writes past column N.
					valid := w.N - col
					if scratch == nil {
						scratch = make([]float32, rows*panel)
					}
					for r := 0; r < mr; r++ {
						t := scratch[r*panel : (r+1)*panel]
						clear(t)
						if acc {
							copy(t, c[(i0+r)*ldc+col:(i0+r)*ldc+col+valid])
						}
					}
					tile.run(pi, i0, mr, scratch, panel, acc)
					for r := 0; r < mr; r++ {
						copy(c[(i0+r)*ldc+col:(i0+r)*ldc+col+valid], scratch[r*panel:r*panel+valid])
					}
				}
			}
		}
	})
}

// panelQueue hands out a product's panels: each worker owns a contiguous
// range, which it takes from the front one panel at a time, so that its
// reads stay one stream; a worker whose range is done steals half of what
// is left of another's, from the back. Each range is one atomic word: its
// first panel in the low half, its end in the high half, alone on its
// cache line so that one worker's takes do not evict another's.
type panelQueue []paddedRange

type paddedRange struct {
	atomic.Uint64
	_ [56]byte
}

func newPanelQueue(n, workers int) panelQueue {
	q := make(panelQueue, workers)
	for w := range q {
		q[w].Store(uint64(w*n/workers) | uint64((w+1)*n/workers)<<32)
	}
	return q
}

// take returns the next panels [lo, hi) for worker w, false when none is left.
func (q panelQueue) take(w int) (lo, hi int, ok bool) {
	for {
		v := q[w].Load()
		l, h := uint32(v), uint32(v>>32)
		if l >= h {
			break
		}
		if q[w].CompareAndSwap(v, uint64(l+1)|uint64(h)<<32) {
			return int(l), int(l) + 1, true
		}
	}
	for i := 1; i < len(q); i++ {
		o := &q[(w+i)%len(q)]
		for {
			v := o.Load()
			l, h := uint32(v), uint32(v>>32)
			if l >= h {
				break
			}
			n := max(1, (h-l)/2)
			if o.CompareAndSwap(v, uint64(l)|uint64(h-n)<<32) {
				return int(h - n), int(h), true
			}
		}
	}
	return 0, 0, false
}

// u8TileRows is the most rows a VPDPBUSD tile takes in a product of m
// rows. Tiles of 7 and 8 rows keep their float32 sums on the stack, which
// costs a load and a store per sum and block; they pay when the rows are
// few and the weights stream from memory once, not when many passes
// reuse a panel from L1. All 124M int8 products, 8-row tiles against
// 4-row ones, interleaved in one process: m = 5: 0.87×, 8: 0.86×, 12:
// 0.94×, 16: 0.99×, 24: 1.01×, 32: 1.10×, 128: 1.13× the time. Past 16
// rows (prefills), 6-row tiles, whose 12 chains of sums and their float32
// sums all stay in registers: int8 prefills through Runner.Forward, against
// 4-row tiles, alternated in one process (30 rounds, medians, two runs):
// 8 prompts of 32 tokens 0.941–0.952×, one of 128 0.952–0.959×, one of 512
// 0.967–0.970× the time; 5-row tiles 0.97×.
func u8TileRows(m int) int {
	if m <= 16 {
		return 8
	}
	return 6
}

// tiler is one product's tile call: run computes rows i0..i0+mr of panel
// pi into c. release returns the converted activations' buffer, if any.
type tiler struct {
	run     func(pi, i0, mr int, c []float32, ldc int, acc bool)
	release func()
	mr      int // rows a call takes at most; 0: the kernel set's
}

// actBuf is the scratch space of activations converted for a dot product.
type actBuf struct {
	u16  []uint16
	i8   []int8
	info []uint32
}

var actBufs = sync.Pool{New: func() any { return new(actBuf) }}

// tiler picks the kernel for w's type and, for the low-precision
// activation products, converts A once for every panel (a prefill's rows
// on the pool's workers).
func (w *Packed) tiler(p *Pool, ks kernelSet, a []float32, lda, m int) tiler {
	rows := func(fn func(r int)) {
		if m < 16 {
			for r := range m {
				fn(r)
			}
			return
		}
		p.For(m, func(_, lo, hi int) {
			for r := lo; r < hi; r++ {
				fn(r)
			}
		})
	}
	k := w.K
	kp := w.rowsPadded()
	stride := kp * panel
	bias := func(pi int) []float32 {
		if w.Bias == nil {
			return nil
		}
		return w.Bias[pi*panel : (pi+1)*panel]
	}
	switch w.DType() {
	case BF16:
		if !w.lowAct {
			return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
				ks.tileBF16(mr, k, a[i0*lda:], lda, w.data16[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc)
			}}
		}
		buf := actBufs.Get().(*actBuf)
		if cap(buf.u16) < m*kp {
			buf.u16 = make([]uint16, m*kp)
		}
		a16 := buf.u16[:m*kp]
		rows(func(r int) {
			ks.cvtBF16(a16[r*kp:r*kp+k], a[r*lda:r*lda+k])
			if kp > k {
				a16[r*kp+k] = 0
			}
		})
		return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
			ks.tileBF16Dot(mr, kp/2, a16[i0*kp:], kp, w.data16[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc)
		}, release: func() { actBufs.Put(buf) }}
	case F16:
		return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
			ks.tileF16(mr, k, a[i0*lda:], lda, w.data16[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc)
		}}
	case Int8:
		scale := func(pi int) []float32 { return w.scale[pi*panel : (pi+1)*panel] }
		if !w.lowAct {
			return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
				ks.tileI8(mr, k, a[i0*lda:], lda, w.data8[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc, scale(pi))
			}}
		}
		kb := (k + ActBlock - 1) / ActBlock * ActBlock
		blocks := kb / ActBlock
		buf := actBufs.Get().(*actBuf)
		if cap(buf.i8) < m*kb {
			buf.i8 = make([]int8, m*kb)
		}
		if cap(buf.info) < blocks*2*m {
			buf.info = make([]uint32, blocks*2*m)
		}
		a8, info := buf.i8[:m*kb], buf.info[:blocks*2*m]
		rows(func(r int) { ks.quantBlocks(a8[r*kb:(r+1)*kb], info[2*r:], 2*m, a[r*lda:r*lda+k]) })
		return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
			ks.tileU8(mr, kp/4, a8[i0*kb:], kb, w.data8[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc,
				scale(pi), info[2*i0:], 8*m)
		}, release: func() { actBufs.Put(buf) }, mr: u8TileRows(m)}
	}
	return tiler{run: func(pi, i0, mr int, c []float32, ldc int, acc bool) {
		ks.tile(mr, k, a[i0*lda:], lda, w.data[pi*stride:(pi+1)*stride], c, ldc, bias(pi), acc)
	}}
}

// ActBlock is the number of activations along k that share a scale when
// int8 weights meet int8 activations (llama.cpp's q8_0 blocks are as
// long). One scale a row follows the row's largest activation, and GPT-2's
// rows have outliers: on the fixture the logits' error was 29 % of the
// largest logit with one scale a row, 9.4 % with blocks of 32, against
// 8.6 % with f32 activations. Blocks of 64 halve the VPDPBUSD tiles'
// block ends and made 8 sequences 2–7 % faster, for the same error on the
// synthetic 124M model; but on one with three outlier dimensions (as
// GPT-2's LayerNorm outputs have) the mean error over weight-only int8
// rose from 39 % with blocks of 32 to 109 % (docs/BENCHMARKS.md,
// "Activation blocks: 32, 64 or 128"), so they stay 32. asmgen's actBlock
// is the same.
const ActBlock = 32

// quantizeBlocksGo quantizes x symmetrically to int8 in blocks of ActBlock,
// each block with its own scale (its largest |x| over 127), into dst (len
// a multiple of ActBlock; past len(x) zeros). For block b it stores in
// info[b*stride] the block's correction, 128 times the sum of its values
// (the VPDPBUSD kernel's weights are offset by 128), and in
// info[b*stride+1] its scale's bits: x[i] ≈ dst[i] · scale.
func quantizeBlocksGo(dst []int8, info []uint32, stride int, x []float32) {
	for b := 0; b*ActBlock < len(dst); b++ {
		lo, hi := b*ActBlock, min(len(x), (b+1)*ActBlock)
		out := dst[b*ActBlock : (b+1)*ActBlock]
		var in []float32
		if lo < hi {
			in = x[lo:hi]
		}
		var sum int32
		s := quantize(out[:len(in)], in)
		clear(out[len(in):])
		for _, q := range out[:len(in)] {
			sum += int32(q)
		}
		info[b*stride] = uint32(128 * sum)
		info[b*stride+1] = math.Float32bits(s)
	}
}

// quantize rounds x to int8 with one scale, the largest |x| over 127, and
// returns the scale. All zero: zeros and scale 0. NaN or Inf: zeros and a
// NaN scale, so that the product is NaN as a float32 one would be.
func quantize(dst []int8, x []float32) float32 {
	// The largest |x| by its bits: the sign bit cleared, a float's order
	// is its bits' order, and a NaN sorts above +Inf.
	var mb uint32
	for _, v := range x {
		mb = max(mb, math.Float32bits(v)&0x7fffffff)
	}
	m := math.Float32frombits(mb)
	if m == 0 || mb >= 0x7f800000 {
		clear(dst)
		if m == 0 {
			return 0
		}
		return float32(math.NaN())
	}
	inv := 127 / m
	for i, v := range x {
		// v·inv lies in [-127, 127]; to nearest, ties to even, as the
		// assembly's VCVTPS2DQ rounds.
		dst[i] = int8(math.RoundToEven(float64(v * inv)))
	}
	return m / 127
}
