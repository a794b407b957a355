package nn

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gorgonia.org/tensor"
)

// Packed is a weight matrix W of K rows and N columns (the Hugging Face
// Conv1D layout: in × out) with an optional bias, stored for the matrix
// kernels: as panels of 32 columns, so that one pass over memory streams
// each weight exactly once for all the rows of a batch. The last panel is
// zero-padded.
//
// A Packed is built in float32 (panel p holding W[0:K][32p:32p+32] row
// after row) and may then be converted once to a smaller type (Convert):
// bf16 and f16 keep 16 bits a weight, int8 one byte and a scale per
// column. The bias stays float32. It is read-only once built and safe for
// concurrent use.
type Packed struct {
	K, N int
	// T is the packed float32 weight, shape (ceil(N/32), K, 32); nil once
	// the weights are converted.
	T *tensor.Dense
	// Bias is nil or a (ceil(N/32)*32) vector, zero-padded.
	Bias   []float32
	dtype  DType
	data   []float32
	data16 []uint16 // bf16: pairs of rows interleaved; f16: row after row
	data8  []int8   // int8: groups of 4 rows interleaved
	scale  []float32
	// lowAct: the products round the activations to the weights' type
	// too (bf16: VDPBF16PS; int8: quantized per row, VPDPBUSD).
	lowAct bool
}

// DType names how a Packed keeps its weights.
type DType string

// The weight types a Packed takes.
const (
	F32  DType = "f32"
	BF16 DType = "bf16"
	F16  DType = "f16"
	Int8 DType = "int8"
)

// DTypes lists the weight types, widest first.
var DTypes = []DType{F32, BF16, F16, Int8}

// ParseDType reads a weight type's name.
func ParseDType(s string) (DType, error) {
	for _, t := range DTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("weight type %q: want f32, bf16, f16 or int8", s)
}

// Activations says how a product treats the activations of converted weights.
type Activations int

const (
	// ActDefault is what docs/BENCHMARKS.md's measurements chose:
	// LowActivations where the CPU has the dot product, else
	// F32Activations. With VDPBF16PS bf16 decoded 1.2× and prefilled 1.5×
	// faster, for a logits' error of 0.8 % of the largest against 0.6 %;
	// with VPDPBUSD and a scale per 32 activations int8 decoded 1.3× and
	// prefilled 1.7× faster, for 9.4 % against 8.6 % on the fixture.
	ActDefault Activations = iota
	// F32Activations widens each weight to float32: the products are
	// exact and the sums float32, as with float32 weights.
	F32Activations
	// LowActivations rounds the activations too, for the CPU's dot
	// products: to bfloat16 for bf16 weights (VDPBF16PS), to int8 with a
	// scale per block of ActBlock along k for int8 weights (VPDPBUSD).
	// f16 has no such product.
	LowActivations
)

// DType is how the weights are kept.
func (p *Packed) DType() DType {
	if p.dtype == "" {
		return F32
	}
	return p.dtype
}

// Low reports whether products of weights of type t round the activations
// to t too with this setting on this CPU: LowActivations always (f16 has
// no such product: Convert refuses it), ActDefault where the CPU has the
// dot product (VDPBF16PS for bf16, VPDPBUSD for int8).
func (a Activations) Low(t DType) bool {
	if a == ActDefault {
		return t == BF16 && active.dotBF16 || t == Int8 && active.dotU8
	}
	return a == LowActivations
}

// LowActivations reports whether the products round the activations too.
func (p *Packed) LowActivations() bool { return p.lowAct }

// Bytes is the size of the weights a product streams, scales included.
func (p *Packed) Bytes() int64 {
	return int64(len(p.data))*4 + int64(len(p.data16))*2 + int64(len(p.data8)) + int64(len(p.scale))*4
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

// rowsPadded is K rounded up to the rows a unit of the layout holds: 2 for
// bf16's pairs, 4 for int8's groups.
func (p *Packed) rowsPadded() int {
	switch p.DType() {
	case BF16:
		return (p.K + 1) &^ 1
	case Int8:
		return (p.K + 3) &^ 3
	}
	return p.K
}

// index is the position of W[k][n] in the backing slice of the current type.
func (p *Packed) index(k, n int) int {
	pn, j := n/panel, n%panel
	base := pn * p.rowsPadded() * panel
	switch p.DType() {
	case BF16:
		return base + k/2*2*panel + 2*j + k%2
	case Int8:
		return base + k/4*4*panel + 4*j + k%4
	}
	return base + k*panel + j
}

// Set stores W[k][n] = v. Only a float32 Packed can be set.
func (p *Packed) Set(k, n int, v float32) {
	p.data[p.index(k, n)] = v
}

// At returns W[k][n], as the products see it.
func (p *Packed) At(k, n int) float32 {
	i := p.index(k, n)
	switch p.DType() {
	case BF16:
		return BF16ToF32(p.data16[i])
	case F16:
		return F16ToF32(p.data16[i])
	case Int8:
		return float32(p.data8[i]) * p.scale[n]
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
// Each type walks its own layout, with At's arithmetic: 768 values through
// At took 6.4 µs in int8 (bf16 5.3, f16 6.5), this way 1.2 µs (1.0, 2.2);
// the embeddings were 1.6 % of an int8 prefill of 8 prompts of 32 tokens.
func (p *Packed) Col(dst []float32, n int) {
	dst = dst[:p.K]
	base, j := (n/panel)*p.rowsPadded()*panel, n%panel
	switch p.DType() {
	case BF16:
		col := p.data16[base+2*j:]
		for k := range dst {
			dst[k] = BF16ToF32(col[k/2*2*panel+k%2])
		}
	case F16:
		col := p.data16[base+j:]
		for k := range dst {
			dst[k] = F16ToF32(col[k*panel])
		}
	case Int8:
		s := p.scale[n]
		col := p.data8[base+4*j:]
		for k := range dst {
			dst[k] = float32(col[k/4*4*panel+k%4]) * s
		}
	default:
		col := p.data[base+j:]
		for k := range dst {
			dst[k] = col[k*panel]
		}
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
	if p.DType() == F32 {
		for pn := range p.Panels() {
			for k := range p.K {
				n0 := pn * panel
				copy(dst[k*p.N+n0:k*p.N+min(n0+panel, p.N)], p.data[(pn*p.K+k)*panel:])
			}
		}
		return nil
	}
	for k := range p.K {
		for n := range p.N {
			dst[k*p.N+n] = p.At(k, n)
		}
	}
	return nil
}

// Data returns the packed float32 backing slice, for filling with
// synthetic values; nil once the weights are converted.
func (p *Packed) Data() []float32 { return p.data }

// ToBF16 is Convert(BF16, ActDefault).
func (p *Packed) ToBF16() {
	if err := p.Convert(BF16, ActDefault); err != nil {
		panic(err)
	}
}

// Convert keeps the weights in type t from now on, and drops the float32
// ones: bf16 and f16 are rounded to nearest (ties to even); int8 is
// symmetric with one scale per column (per output), the largest |w| of the
// column over 127, rounded to nearest. act picks how products treat the
// activations. Converting to the current type does nothing; a converted
// Packed cannot be converted again, nor Set, SetRows or SetCols.
func (p *Packed) Convert(t DType, act Activations) error {
	if t == p.DType() {
		return nil
	}
	if p.DType() != F32 {
		return fmt.Errorf("weights already %s: cannot convert them to %s", p.DType(), t)
	}
	low := act.Low(t)
	if low && t == F16 {
		return fmt.Errorf("f16 weights have no low-precision activation product")
	}
	src := p.data
	np, kp := p.Panels(), 0
	switch t {
	case BF16:
		p.dtype = BF16
		kp = p.rowsPadded()
		p.data16 = make([]uint16, np*kp*panel)
		forPanels(np, func(pn int) {
			in, out := src[pn*p.K*panel:(pn+1)*p.K*panel], p.data16[pn*kp*panel:(pn+1)*kp*panel]
			for k := range p.K {
				for j := range panel {
					out[k/2*2*panel+2*j+k%2] = F32ToBF16(in[k*panel+j])
				}
			}
		})
	case F16:
		p.dtype = F16
		p.data16 = make([]uint16, len(src))
		forPanels(np, func(pn int) {
			for i := pn * p.K * panel; i < (pn+1)*p.K*panel; i++ {
				p.data16[i] = F32ToF16(src[i])
			}
		})
	case Int8:
		p.dtype = Int8
		kp = p.rowsPadded()
		p.scale = make([]float32, np*panel)
		p.data8 = make([]int8, np*kp*panel)
		forPanels(np, func(pn int) {
			in, out := src[pn*p.K*panel:(pn+1)*p.K*panel], p.data8[pn*kp*panel:(pn+1)*kp*panel]
			scale := p.scale[pn*panel : (pn+1)*panel]
			for k := range p.K {
				for j := range panel {
					scale[j] = max(scale[j], float32(math.Abs(float64(in[k*panel+j]))))
				}
			}
			for j := range scale {
				scale[j] /= 127
			}
			for k := range p.K {
				for j, s := range scale {
					var q int8
					if s > 0 {
						q = int8(max(-127, min(127, math.Round(float64(in[k*panel+j]/s)))))
					}
					out[k/4*4*panel+4*j+k%4] = q
				}
			}
		})
	default:
		return fmt.Errorf("convert to %q: want bf16, f16 or int8", t)
	}
	p.lowAct = low
	p.data, p.T = nil, nil
	return nil
}

// forPanels calls fn for each of n panels, on as many goroutines as Go
// may run at once: converting GPT-2 1.5B's weights takes seconds on one.
func forPanels(n int, fn func(pn int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for pn := int(next.Add(1) - 1); pn < n; pn = int(next.Add(1) - 1) {
				fn(pn)
			}
		})
	}
	wg.Wait()
}
