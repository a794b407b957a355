//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// On an AVX-512 machine the AVX2 kernels are tested too.
func init() {
	if active.name == "avx512" && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		extraSets = append(extraSets, avx2Kernels())
	}
}
