// Package nn holds the numerical kernels of the GPT-2 forward pass: the
// matrix product over packed weight panels, layer normalisation, GELU,
// softmax and the attention inner loops, and the worker pool that runs them
// on several cores.
//
// Tensors live in gorgonia.org/tensor Dense values; the kernels here work on
// their float32 backing slices. Go does not vectorise loops, and a plain BLAS
// call reads the weights once per row of a small batch, so the hot loops are
// generated AVX-512 and AVX2 assembly (see internal/asmgen) with pure-Go
// fallbacks. Build with the purego tag, or set LLMBENCH_KERNELS=go, to use
// the fallbacks only.
package nn

//go:generate go run ./internal/asmgen
