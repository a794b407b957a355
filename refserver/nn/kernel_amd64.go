//go:build amd64 && !purego

package nn

import (
	"os"

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
func dotRows(out *float32, k *float32, ldk int, q *float32, hd int, n int, scale float32)

//go:noescape
func axpyRows(out *float32, v *float32, ldv int, p *float32, hd int, n int)

//go:noescape
func gelu512(x *float32, n int)

//go:noescape
func sum256(x *float32, n int) float32

//go:noescape
func sum512(x *float32, n int) float32

type tileFunc func(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, acc bool)

type tile16Func func(k int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, acc bool)

var (
	tiles512     = [...]tileFunc{nil, gemm512x1, gemm512x2, gemm512x3, gemm512x4, gemm512x5, gemm512x6, gemm512x7, gemm512x8}
	tiles256     = [...]tileFunc{nil, gemm256x1, gemm256x2, gemm256x3}
	tiles512bf16 = [...]tile16Func{nil, gemm512bf16x1, gemm512bf16x2, gemm512bf16x3, gemm512bf16x4, gemm512bf16x5, gemm512bf16x6, gemm512bf16x7, gemm512bf16x8}
	tiles256bf16 = [...]tile16Func{nil, gemm256bf16x1, gemm256bf16x2, gemm256bf16x3}
)

func init() {
	if os.Getenv("LLMBENCH_KERNELS") == "go" {
		return
	}
	hasAVX2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	switch {
	case cpu.X86.HasAVX512F && hasAVX2:
		active = kernelSet{name: "avx512", mr: 8, tile: asmTile(tiles512[:]), tileBF16: asmTile16(tiles512bf16[:]),
			dot: asmDot, axpy: asmAxpy, gelu: asmGELU512, sum: asmSum512}
	case hasAVX2:
		active = kernelSet{name: "avx2", mr: 3, tile: asmTile(tiles256[:]), tileBF16: asmTile16(tiles256bf16[:]),
			dot: asmDot, axpy: asmAxpy, gelu: geluGo, sum: asmSum}
	}
}

func asmTile(tiles []tileFunc) func(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool) {
	return func(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool) {
		var bp *float32
		if bias != nil {
			bp = &bias[0]
		}
		// Bounds the assembly relies on: the last row's k floats, the panel, and the tile.
		_ = a[(mr-1)*lda+k-1]
		_ = b[k*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		tiles[mr](k, &a[0], lda, &b[0], &c[0], ldc, bp, acc)
	}
}

func asmTile16(tiles []tile16Func) func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	return func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
		var bp *float32
		if bias != nil {
			bp = &bias[0]
		}
		_ = a[(mr-1)*lda+k-1]
		_ = b[k*panel-1]
		_ = c[(mr-1)*ldc+panel-1]
		tiles[mr](k, &a[0], lda, &b[0], &c[0], ldc, bp, acc)
	}
}

func asmDot(out, k []float32, ldk int, q []float32, hd, n int, scale float32) {
	if n == 0 {
		return
	}
	if hd%8 != 0 {
		dotGo(out, k, ldk, q, hd, n, scale)
		return
	}
	_ = out[n-1]
	_ = k[(n-1)*ldk+hd-1]
	_ = q[hd-1]
	dotRows(&out[0], &k[0], ldk, &q[0], hd, n, scale)
}

func asmAxpy(out, v []float32, ldv int, p []float32, hd, n int) {
	if n == 0 {
		return
	}
	if hd%8 != 0 {
		axpyGo(out, v, ldv, p, hd, n)
		return
	}
	_ = out[hd-1]
	_ = v[(n-1)*ldv+hd-1]
	_ = p[n-1]
	axpyRows(&out[0], &v[0], ldv, &p[0], hd, n)
}

func asmGELU512(x []float32) {
	n := len(x) &^ 15
	if n > 0 {
		gelu512(&x[0], n)
	}
	geluGo(x[n:])
}

func asmSum(x []float32) float32 {
	n := len(x) &^ 31
	var s float32
	if n > 0 {
		s = sum256(&x[0], n)
	}
	return s + sumGo(x[n:])
}

func asmSum512(x []float32) float32 {
	n := len(x) &^ 127
	var s float32
	if n > 0 {
		s = sum512(&x[0], n)
	}
	return s + sumGo(x[n:])
}
