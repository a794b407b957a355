//go:build amd64 && !purego

package nn

import (
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func gemm512x1(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x2(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x3(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x4(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x5(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x6(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x7(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512x8(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256x1(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256x2(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256x3(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x1(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x2(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x3(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x4(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x5(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x6(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x7(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16x8(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256bf16x1(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256bf16x2(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256bf16x3(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x1(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x2(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x3(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x4(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x5(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x6(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x7(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512f16x8(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256f16x1(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256f16x2(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm256f16x3(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512i8x1(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x2(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x3(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x4(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x5(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x6(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x7(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512i8x8(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm256i8x1(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm256i8x2(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm256i8x3(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)

//go:noescape
func gemm512bf16dx1(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx2(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx3(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx4(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx5(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx6(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx7(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512bf16dx8(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

//go:noescape
func gemm512u8x1(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x2(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x3(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x4(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x5(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x6(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x7(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func gemm512u8x8(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)

//go:noescape
func cvtBF16(dst *uint16, src *float32, n int)

//go:noescape
func quantAct(dst *int8, info *uint32, istride int, src *float32, n int)

//go:noescape
func dotRows256(out *float32, k *float32, ldk int, q *float32, hd int, n int, scale float32)

//go:noescape
func axpyRows256(out *float32, v *float32, ldv int, p *float32, hd int, n int)

//go:noescape
func dotRows512(out *float32, k *float32, ldk int, q *float32, hd int, n int, scale float32)

//go:noescape
func axpyRows512(out *float32, v *float32, ldv int, p *float32, hd int, n int)

//go:noescape
func dotRows512h(out *float32, k *uint16, ldk int, q *float32, hd int, n int, scale float32)

//go:noescape
func dotRows256h(out *float32, k *uint16, ldk int, q *float32, hd int, n int, scale float32)

//go:noescape
func axpyRows512h(out *float32, v *uint16, ldv int, p *float32, hd int, n int)

//go:noescape
func axpyRows256h(out *float32, v *uint16, ldv int, p *float32, hd int, n int)

//go:noescape
func dotRows512q(out *float32, k *int8, ldk int, q *float32, hd int, n int, scale float32, s *float32)

//go:noescape
func dotRows256q(out *float32, k *int8, ldk int, q *float32, hd int, n int, scale float32, s *float32)

//go:noescape
func axpyRows512q(out *float32, v *int8, ldv int, p *float32, hd int, n int, s *float32)

//go:noescape
func axpyRows256q(out *float32, v *int8, ldv int, p *float32, hd int, n int, s *float32)

//go:noescape
func quantRow512(dst *int8, src *float32, n int) float32

//go:noescape
func cvtF16x512(dst *uint16, src *float32, n int)

//go:noescape
func cvtF16x256(dst *uint16, src *float32, n int)

//go:noescape
func gelu512(x *float32, n int)

//go:noescape
func softmax512(x *float32, n int) float32

//go:noescape
func layerNorm512(out *float32, x *float32, gain *float32, bias *float32, n int, invN float32, eps float32)

//go:noescape
func layerNorm256(out *float32, x *float32, gain *float32, bias *float32, n int, invN float32, eps float32)

//go:noescape
func max256(x *float32, n int, c *float32) float32

//go:noescape
func expSum256(x *float32, n int, m float32, c *float32) float32

//go:noescape
func scale256(x *float32, n int, s float32)

//go:noescape
func sampleWeights256(dst *float64, x *float32, n int, m float64, temp float64, table *uint64, c *uint64) int

//go:noescape
func sampleWeights512(dst *float64, x *float32, n int, m float64, temp float64, table *uint64) int

//go:noescape
func sum256(x *float32, n int) float32

//go:noescape
func sum512(x *float32, n int) float32

//go:noescape
func argmax512(x *float32, n int) (i int, m float32)

//go:noescape
func argmax256(x *float32, n int) (i int, m float32)

//go:noescape
func prefetchLines(p unsafe.Pointer, n int)

// prefetchAhead is how far ahead, in bytes, the AVX-512 kernels of 5 rows
// or more (int8: 4) prefetch their panel (asmgen says what each gained). All 124M int8 products at 8 rows
// with int8 activations, interleaved in one process: 8 KiB took 0.85–0.90×
// the time of 2 KiB (4 KiB 0.91–1.00×, 16 KiB 0.91×), 5 rows 0.93×, 4 rows
// and the f32-activation kernel at 8 rows alike (1.00×, 1.01×).
var prefetchAhead int64 = 8192

type (
	tileFunc    func(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)
	tile16Func  func(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)
	tileI8Func  func(k int, a *float32, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32)
	tileDotFunc func(k int, a *uint16, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)
	tileU8Func  func(k int, a *int8, lda int, b *int8, c *float32, ldc int, bias *float32, acc bool, scale *float32, info *uint32, istride int)
)

var (
	tiles512      = [...]tileFunc{nil, gemm512x1, gemm512x2, gemm512x3, gemm512x4, gemm512x5, gemm512x6, gemm512x7, gemm512x8}
	tiles256      = [...]tileFunc{nil, gemm256x1, gemm256x2, gemm256x3}
	tiles512bf16  = [...]tile16Func{nil, gemm512bf16x1, gemm512bf16x2, gemm512bf16x3, gemm512bf16x4, gemm512bf16x5, gemm512bf16x6, gemm512bf16x7, gemm512bf16x8}
	tiles256bf16  = [...]tile16Func{nil, gemm256bf16x1, gemm256bf16x2, gemm256bf16x3}
	tiles512f16   = [...]tile16Func{nil, gemm512f16x1, gemm512f16x2, gemm512f16x3, gemm512f16x4, gemm512f16x5, gemm512f16x6, gemm512f16x7, gemm512f16x8}
	tiles256f16   = [...]tile16Func{nil, gemm256f16x1, gemm256f16x2, gemm256f16x3}
	tiles512i8    = [...]tileI8Func{nil, gemm512i8x1, gemm512i8x2, gemm512i8x3, gemm512i8x4, gemm512i8x5, gemm512i8x6, gemm512i8x7, gemm512i8x8}
	tiles256i8    = [...]tileI8Func{nil, gemm256i8x1, gemm256i8x2, gemm256i8x3}
	tiles512bf16d = [...]tileDotFunc{nil, gemm512bf16dx1, gemm512bf16dx2, gemm512bf16dx3, gemm512bf16dx4, gemm512bf16dx5, gemm512bf16dx6, gemm512bf16dx7, gemm512bf16dx8}
	tiles512u8    = [...]tileU8Func{nil, gemm512u8x1, gemm512u8x2, gemm512u8x3, gemm512u8x4, gemm512u8x5, gemm512u8x6, gemm512u8x7, gemm512u8x8}
)

// avx2Kernels is the AVX2 set; on an AVX-512 machine the tests run it too.
func avx2Kernels() kernelSet {
	ks := goKernels
	ks.name, ks.mr = "avx2", 3
	ks.tile, ks.tileBF16, ks.tileF16 = asmTile(tiles256[:]), asmTile16(tiles256bf16[:]), asmTile16(tiles256f16[:])
	ks.tileI8 = asmTileI8(tiles256i8[:])
	ks.dot, ks.axpy = asmDotRows(dotRows256, 8, dotGo), asmAxpyRows(axpyRows256, 8, axpyGo)
	ks.dotF16, ks.axpyF16 = asmDotRows(dotRows256h, 8, dotF16Go), asmAxpyRows(axpyRows256h, 8, axpyF16Go)
	ks.dotI8, ks.axpyI8 = asmDotRowsQ(dotRows256q, 8, dotI8Go), asmAxpyRowsQ(axpyRows256q, 8, axpyI8Go)
	ks.cvtF16, ks.sum = asmCvtF16(cvtF16x256, 8), asmSum
	ks.softmax, ks.layerNorm = asmSoftmax256, asmLayerNorm(layerNorm256, 8)
	if cpu.X86.HasPOPCNT {
		ks.sampleWeights = asmSampleWeights256
	}
	ks.argmax = asmArgmax256
	return ks
}

// avx512Kernels is the AVX-512 set, with VDPBF16PS and VPDPBUSD where the
// CPU has them.
func avx512Kernels() kernelSet {
	ks := goKernels
	ks.name, ks.mr = "avx512", 8
	ks.tile, ks.tileBF16, ks.tileF16 = asmTile(tiles512[:]), asmTile16(tiles512bf16[:]), asmTile16(tiles512f16[:])
	ks.tileI8 = asmTileI8(tiles512i8[:])
	// Heads of a multiple of 8 but not 16 floats go through the AVX2 kernels.
	avx2 := avx2Kernels()
	ks.dot, ks.axpy = asmDotRows(dotRows512, 16, avx2.dot), asmAxpyRows(axpyRows512, 16, avx2.axpy)
	ks.dotF16, ks.axpyF16 = asmDotRows(dotRows512h, 16, avx2.dotF16), asmAxpyRows(axpyRows512h, 16, avx2.axpyF16)
	ks.dotI8, ks.axpyI8 = asmDotRowsQ(dotRows512q, 16, avx2.dotI8), asmAxpyRowsQ(axpyRows512q, 16, avx2.axpyI8)
	ks.quantRow = asmQuantRow
	ks.cvtF16, ks.gelu, ks.sum = asmCvtF16(cvtF16x512, 16), asmGELU512, asmSum512
	ks.softmax, ks.layerNorm = asmSoftmax512, asmLayerNorm(layerNorm512, 16)
	if cpu.X86.HasAVX512DQ && cpu.X86.HasPOPCNT {
		ks.sampleWeights = asmSampleWeights512
	}
	if cpu.X86.HasAVX512BF16 {
		ks.tileBF16Dot, ks.cvtBF16, ks.dotBF16 = asmTileDot(tiles512bf16d[:]), asmCvtBF16, true
	}
	if cpu.X86.HasAVX512VNNI {
		ks.tileU8, ks.dotU8 = asmTileU8(tiles512u8[:]), true
	}
	ks.quantBlocks = asmQuantBlocks
	ks.argmax = asmArgmax512
	return ks
}

func init() {
	if os.Getenv("LLMBENCH_KERNELS") == "go" {
		return
	}
	hasAVX2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && hasAVX2:
		active = avx512Kernels()
	case hasAVX2:
		active = avx2Kernels()
	}
}

func biasPtr(bias []float32) *float32 {
	if bias == nil {
		return nil
	}
	return &bias[0]
}

func asmTile(tiles []tileFunc) func(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool) {
	return func(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool) {
		// Bounds the assembly relies on: the last row's k floats, the panel, and the tile.
		_ = a[(mr-1)*lda+k-1]
		_ = b[k*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		tiles[mr](k, &a[0], lda, &b[0], &c[0], ldc, biasPtr(bias), acc)
	}
}

func asmTile16(tiles []tile16Func) func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	return func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
		_ = a[(mr-1)*lda+k-1]
		_ = b[k*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		tiles[mr](k, &a[0], lda, &b[0], &c[0], ldc, biasPtr(bias), acc)
	}
}

func asmTileI8(tiles []tileI8Func) func(mr, k int, a []float32, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32) {
	return func(mr, k int, a []float32, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32) {
		_ = a[(mr-1)*lda+k-1]
		_ = b[(k+3)/4*4*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		_ = scale[panel-1]
		tiles[mr](k, &a[0], lda, &b[0], &c[0], ldc, biasPtr(bias), acc, &scale[0])
	}
}

func asmTileDot(tiles []tileDotFunc) func(mr, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	return func(mr, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
		_ = a[(mr-1)*lda+2*kp-1]
		_ = b[kp*2*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		tiles[mr](kp, &a[0], lda, &b[0], &c[0], ldc, biasPtr(bias), acc)
	}
}

func asmTileU8(tiles []tileU8Func) func(mr, kg int, a []int8, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32, info []uint32, istride int) {
	return func(mr, kg int, a []int8, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32, info []uint32, istride int) {
		_ = a[(mr-1)*lda+4*kg-1]
		_ = b[kg*4*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		_ = scale[panel-1]
		blocks := (4*kg + ActBlock - 1) / ActBlock
		_ = info[(blocks-1)*istride/4+2*mr-1]
		tiles[mr](kg, &a[0], lda, &b[0], &c[0], ldc, biasPtr(bias), acc, &scale[0], &info[0], istride)
	}
}

// asmQuantBlocks is quantizeBlocksGo with the full blocks in assembly.
func asmQuantBlocks(dst []int8, info []uint32, stride int, x []float32) {
	full := len(x) / ActBlock
	if full > 0 {
		_ = dst[full*ActBlock-1]
		_ = info[(full-1)*stride+1]
		quantAct(&dst[0], &info[0], stride, &x[0], full)
	}
	if len(dst) > full*ActBlock {
		quantizeBlocksGo(dst[full*ActBlock:], info[full*stride:], stride, x[full*ActBlock:])
	}
}

func asmCvtBF16(dst []uint16, src []float32) {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1]
		cvtBF16(&dst[0], &src[0], n)
	}
	cvtBF16Go(dst[n:len(src)], src[n:])
}

// kvElem is a KV cache's element: a float32, or an IEEE half's bits.
type kvElem interface{ float32 | uint16 }

// asmDotRows wraps a dot kernel that takes heads of a multiple of lanes
// floats; other heads go to fallback.
func asmDotRows[E kvElem](kernel func(out *float32, k *E, ldk int, q *float32, hd int, n int, scale float32), lanes int,
	fallback func(out []float32, k []E, ldk int, q []float32, hd, n int, scale float32)) func(out []float32, k []E, ldk int, q []float32, hd, n int, scale float32) {
	return func(out []float32, k []E, ldk int, q []float32, hd, n int, scale float32) {
		if n == 0 || hd%lanes != 0 {
			fallback(out, k, ldk, q, hd, n, scale)
			return
		}
		_ = out[n-1]
		_ = k[(n-1)*ldk+hd-1]
		_ = q[hd-1]
		kernel(&out[0], &k[0], ldk, &q[0], hd, n, scale)
	}
}

// asmAxpyRows is asmDotRows for an axpy kernel.
func asmAxpyRows[E kvElem](kernel func(out *float32, v *E, ldv int, p *float32, hd int, n int), lanes int,
	fallback func(out []float32, v []E, ldv int, p []float32, hd, n int)) func(out []float32, v []E, ldv int, p []float32, hd, n int) {
	return func(out []float32, v []E, ldv int, p []float32, hd, n int) {
		if n == 0 || hd%lanes != 0 {
			fallback(out, v, ldv, p, hd, n)
			return
		}
		_ = out[hd-1]
		_ = v[(n-1)*ldv+hd-1]
		_ = p[n-1]
		kernel(&out[0], &v[0], ldv, &p[0], hd, n)
	}
}

// asmDotRowsQ is asmDotRows for the kernels over an int8 cache.
func asmDotRowsQ(kernel func(out *float32, k *int8, ldk int, q *float32, hd int, n int, scale float32, s *float32), lanes int,
	fallback func(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32)) func(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32) {
	return func(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32) {
		if n == 0 || hd%lanes != 0 {
			fallback(out, k, ldk, q, hd, n, scale, s)
			return
		}
		_ = out[n-1]
		_ = s[n-1]
		_ = k[(n-1)*ldk+hd-1]
		_ = q[hd-1]
		kernel(&out[0], &k[0], ldk, &q[0], hd, n, scale, &s[0])
	}
}

// asmAxpyRowsQ is asmAxpyRows for the kernels over an int8 cache.
func asmAxpyRowsQ(kernel func(out *float32, v *int8, ldv int, p *float32, hd int, n int, s *float32), lanes int,
	fallback func(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32)) func(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32) {
	return func(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32) {
		if n == 0 || hd%lanes != 0 {
			fallback(out, v, ldv, p, hd, n, s)
			return
		}
		_ = out[hd-1]
		_ = s[n-1]
		_ = v[(n-1)*ldv+hd-1]
		_ = p[n-1]
		kernel(&out[0], &v[0], ldv, &p[0], hd, n, &s[0])
	}
}

// asmQuantRow is quantize in AVX-512 for rows of a multiple of 16.
func asmQuantRow(dst []int8, src []float32) float32 {
	n := len(src)
	if n == 0 || n%16 != 0 {
		return quantize(dst[:n], src)
	}
	_ = dst[n-1]
	return quantRow512(&dst[0], &src[0], n)
}

func asmCvtF16(kernel func(dst *uint16, src *float32, n int), lanes int) func(dst []uint16, src []float32) {
	return func(dst []uint16, src []float32) {
		n := len(src) / lanes * lanes
		if n > 0 {
			_ = dst[n-1]
			kernel(&dst[0], &src[0], n)
		}
		cvtF16Go(dst[n:len(src)], src[n:])
	}
}

func asmGELU512(x []float32) {
	n := len(x) &^ 15
	if n > 0 {
		gelu512(&x[0], n)
	}
	geluGo(x[n:])
}

func asmSoftmax512(x []float32) bool {
	if len(x) == 0 {
		return false
	}
	m := softmax512(&x[0], len(x))
	return !math.IsInf(float64(m), -1)
}

type layerNormFunc func(out *float32, x *float32, gain *float32, bias *float32, n int, invN float32, eps float32)

// asmLayerNorm wraps a LayerNorm kernel for rows of a multiple of lanes
// floats; other widths go to Go.
func asmLayerNorm(kernel layerNormFunc, lanes int) func(out, x, g, b []float32, eps float32) {
	return func(out, x, g, b []float32, eps float32) {
		n := len(g)
		if n%lanes != 0 || n == 0 {
			layerNormGo(out, x, g, b, eps)
			return
		}
		x, out, b = x[:n], out[:n], b[:n]
		kernel(&out[0], &x[0], &g[0], &b[0], n, 1/float32(n), eps)
	}
}

// softmaxConsts256 are the AVX2 softmax's constants, each in 8 lanes (see
// asmgen's softmax256).
var softmaxConsts256 = func() (t [15][8]float32) {
	for i, v := range []float32{88.72283905206835, -87.33654475055310898657, 1.44269504088896341, 0.5,
		0.693359375, -2.12194440e-4, 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
		4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1, math.Float32frombits(127), float32(math.Inf(-1))} {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}()

// asmSoftmax256 is Softmax with the AVX2 kernels over the whole vectors and
// Go over the last len(x)%8.
func asmSoftmax256(x []float32) bool {
	n := len(x)
	if n == 0 {
		return false
	}
	n8 := n &^ 7
	c := &softmaxConsts256[0][0]
	m := float32(math.Inf(-1))
	if n8 > 0 {
		m = max256(&x[0], n8, c)
	}
	for _, v := range x[n8:] {
		if v > m {
			m = v
		}
	}
	if math.IsInf(float64(m), -1) {
		return false
	}
	var sum float32
	if n8 > 0 {
		sum = expSum256(&x[0], n8, m, c)
	}
	for i := n8; i < n; i++ {
		x[i] = Exp(x[i] - m)
		sum += x[i]
	}
	inv := 1 / sum
	if n8 > 0 {
		scale256(&x[0], n8, inv)
	}
	for i := n8; i < n; i++ {
		x[i] *= inv
	}
	return true
}

func asmSampleWeights512(dst []float64, x []float32, m, temp float64) {
	if len(x) == 0 {
		return
	}
	if sampleWeights512(&dst[0], &x[0], len(x), m, temp, &expTable[0]) > 0 {
		subnormalWeights(dst, x, m, temp)
	}
}

// sampleConsts256 are sampleWeights256's constants, each in 4 lanes.
var sampleConsts256 = func() (t [12][4]uint64) {
	for i, v := range []uint64{math.Float64bits(expInvLn2N), math.Float64bits(expShift), math.Float64bits(expLn2HiN),
		math.Float64bits(expLn2LoN), math.Float64bits(1. / 120), math.Float64bits(1. / 24), math.Float64bits(1. / 6),
		math.Float64bits(1. / 2), math.Float64bits(1), math.Float64bits(-700), math.Float64bits(-746), expN - 1} {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}()

func asmSampleWeights256(dst []float64, x []float32, m, temp float64) {
	n4 := len(x) &^ 3
	if n4 > 0 && sampleWeights256(&dst[0], &x[0], n4, m, temp, &expTable[0], &sampleConsts256[0][0]) > 0 {
		subnormalWeights(dst[:n4], x[:n4], m, temp)
	}
	sampleWeightsGo(dst[n4:len(x)], x[n4:], m, temp)
}

// subnormalWeights redoes, with math.Exp as ExpNeg does, the weights whose
// exp is subnormal (-746 < d <= -700): rare, so a kernel only counts them.
func subnormalWeights(dst []float64, x []float32, m, temp float64) {
	for i, v := range x {
		if d := (float64(v) - m) / temp; d > -746 && !(d > -700) {
			dst[i] = math.Exp(d)
		}
	}
}

func asmSum(x []float32) float32 {
	n := len(x) &^ 31
	var s float32
	if n > 0 {
		s = sum256(&x[0], n)
	}
	return s + sumGo(x[n:])
}

func asmArgmax512(x []float32) (int, float32) {
	return argmax512(&x[0], len(x))
}

// asmArgmax256 runs argmax256 over the whole vectors of x and looks at the
// rest here; a later value wins only if it is greater, so ties keep the
// lowest index.
func asmArgmax256(x []float32) (int, float32) {
	n := len(x) &^ 7
	if n == 0 {
		return argmaxGo(x)
	}
	i, m := argmax256(&x[0], n)
	for j, v := range x[n:] {
		if v > m {
			i, m = n+j, v
		}
	}
	return i, m
}

func asmSum512(x []float32) float32 {
	n := len(x) &^ 127
	var s float32
	if n > 0 {
		s = sum512(&x[0], n)
	}
	return s + sumGo(x[n:])
}
