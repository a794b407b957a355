package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Packed is a weight matrix W of K rows and N columns (the Hugging Face
// Conv1D layout: in × out) with an optional bias, stored for the matrix
// kernels: as panels of 32 columns, panel p holding W[0:K][32p:32p+32] row
// after row, so that one pass over memory streams each weight exactly once
// for all the rows of a batch. The last panel is zero-padded.
//
// A Packed is float32 until ToBF16 turns its weights into bfloat16 (the
// bias stays float32). It is read-only once built and safe for
// concurrent use.
type Packed struct {
	K, N int
	// T is the packed weight, shape (ceil(N/32), K, 32); nil once the
	// weights are bfloat16.
	T *tensor.Dense
	// Bias is nil or a (ceil(N/32)*32) vector, zero-padded.
	Bias   []float32
	data   []float32
	data16 []uint16 // the weights as bfloat16, in the same layout; nil for float32
}

// DType names how a Packed keeps its weights.
type DType string

// The weight types a Packed takes.
const (
	F32  DType = "f32"
	BF16 DType = "bf16"
)

// DType is how the weights are kept.
func (p *Packed) DType() DType {
	if p.data16 != nil {
		return BF16
	}
	return F32
}

// Bytes is the size of the weights a product streams.
func (p *Packed) Bytes() int64 {
	if p.data16 != nil {
		return int64(len(p.data16)) * 2
	}
	return int64(len(p.data)) * 4
}

// ToBF16 rounds the weights to bfloat16 (to nearest, ties to even) and
// keeps only those: half the bytes for every product to stream, sums
// still in float32. Set, SetRows and SetCols must not be called after.
func (p *Packed) ToBF16() {
	if p.data16 != nil {
		return
	}
	p.data16 = make([]uint16, len(p.data))
	for i, v := range p.data {
		p.data16[i] = F32ToBF16(v)
	}
	p.data, p.T = nil, nil
}

// NewPacked allocates a zero K×N packed matrix, with a zero bias if withBias.
func NewPacked(k, n int, withBias bool) *Packed {
	np := (n + panel - 1) / panel
	data := make([]float32, np*k*panel)
	p := &Packed{K: k, N: n, data: data,
		T: tensor.New(tensor.WithShape(np, k, panel), tensor.WithBacking(data))}
	if withBias {
		p.Bias = make([]float32, np*panel)
	}
	return p
}

// Panels reports the number of 32-column panels.
func (p *Packed) Panels() int { return (p.N + panel - 1) / panel }

// Set stores W[k][n] = v.
func (p *Packed) Set(k, n int, v float32) {
	p.data[(n/panel)*p.K*panel+k*panel+n%panel] = v
}

// At returns W[k][n].
func (p *Packed) At(k, n int) float32 {
	i := (n/panel)*p.K*panel + k*panel + n%panel
	if p.data16 != nil {
		return BF16ToF32(p.data16[i])
	}
	return p.data[i]
}

// SetRows fills W from src, K rows of N floats (row-major, in × out).
func (p *Packed) SetRows(src []float32) error {
	if len(src) != p.K*p.N {
		return fmt.Errorf("pack %d×%d: got %d values", p.K, p.N, len(src))
	}
	for k := 0; k < p.K; k++ {
		row := src[k*p.N : (k+1)*p.N]
		for n0 := 0; n0 < p.N; n0 += panel {
			end := min(n0+panel, p.N)
			copy(p.data[(n0/panel)*p.K*panel+k*panel:], row[n0:end])
		}
	}
	return nil
}

// SetCols fills W from src holding W transposed: N rows of K floats. GPT-2's
// token embedding wte (vocab × C) is the LM head's W = wteᵀ (C × vocab).
func (p *Packed) SetCols(src []float32) error {
	if len(src) != p.K*p.N {
		return fmt.Errorf("pack %d×%d from its transpose: got %d values", p.K, p.N, len(src))
	}
	for n := 0; n < p.N; n++ {
		base := (n/panel)*p.K*panel + n%panel
		col := src[n*p.K : (n+1)*p.K]
		for k, v := range col {
			p.data[base+k*panel] = v
		}
	}
	return nil
}

// Col copies column n of W (K floats) into dst: a token's embedding row when
// W is the tied LM head.
func (p *Packed) Col(dst []float32, n int) {
	base := (n/panel)*p.K*panel + n%panel
	if p.data16 != nil {
		for k := range dst[:p.K] {
			dst[k] = BF16ToF32(p.data16[base+k*panel])
		}
		return
	}
	for k := range dst[:p.K] {
		dst[k] = p.data[base+k*panel]
	}
}

// SetBias copies b (N floats) into the bias.
func (p *Packed) SetBias(b []float32) error {
	if p.Bias == nil {
		return fmt.Errorf("pack %d×%d: no bias", p.K, p.N)
	}
	if len(b) != p.N {
		return fmt.Errorf("bias of %d: got %d values", p.N, len(b))
	}
	copy(p.Bias, b)
	return nil
}

// Rows writes W into dst row after row (K rows of N floats, in × out), the
// layout a device's matrix library reads.
func (p *Packed) Rows(dst []float32) error {
	if len(dst) != p.K*p.N {
		return fmt.Errorf("rows of a %d×%d matrix: got %d floats, want %d", p.K, p.N, len(dst), p.K*p.N)
	}
	for pn := range p.Panels() {
		for k := range p.K {
			n0 := pn * panel
			row := dst[k*p.N+n0 : k*p.N+min(n0+panel, p.N)]
			if p.data16 != nil {
				for j := range row {
					row[j] = BF16ToF32(p.data16[(pn*p.K+k)*panel+j])
				}
				continue
			}
			copy(row, p.data[(pn*p.K+k)*panel:(pn*p.K+k+1)*panel])
		}
	}
	return nil
}

// Data returns the packed float32 backing slice, for filling with
// synthetic values; nil once the weights are bfloat16.
func (p *Packed) Data() []float32 { return p.data }
