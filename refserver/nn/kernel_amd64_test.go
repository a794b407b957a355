//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// On an AVX-512 machine the AVX2 kernels are tested too.
func init() {
	if active.name == "avx512" && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		extraSets = append(extraSets, kernelSet{name: "avx2", mr: 3, tile: asmTile(tiles256[:]), tileBF16: asmTile16(tiles256bf16[:]),
			dot: asmDot, axpy: asmAxpy, gelu: geluGo, sum: asmSum})
	}
}
