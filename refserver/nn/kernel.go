package nn

import "math"

// panel is the width, in columns, of one packed weight panel.
const panel = 32

// kernelSet is the set of inner loops in use, chosen once at start-up from
// the CPU's features.
type kernelSet struct {
	name string
	mr   int // rows per tile call
	// tile computes C[0:mr][0:32] (+)= A[0:mr][0:k] · B + bias, B a packed panel (k×32).
	tile func(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool)
	// tileBF16 is tile for a panel of bfloat16 weights in pairs of rows,
	// summed in float32; tileF16 for IEEE half weights, row after row.
	tileBF16 func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool)
	tileF16  func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool)
	// tileI8 is tile for int8 weights in groups of 4 rows, with a scale
	// per column: C (+)= (A·Q)·scale + bias.
	tileI8 func(mr, k int, a []float32, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32)
	// tileBF16Dot multiplies bfloat16 activations (kp pairs a row) by a
	// bfloat16 panel; tileU8 multiplies int8 activations (kg groups of 4 a
	// row, quantized in blocks of ActBlock along k: info holds each block's
	// correction and scale for each row, see quantizeBlocks) by an int8
	// panel, at most 8 rows at once. dotBF16 and dotU8 say whether the CPU
	// runs them in hardware (VDPBF16PS, VPDPBUSD); the pure-Go versions
	// are references.
	tileBF16Dot func(mr, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool)
	tileU8      func(mr, kg int, a []int8, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32, info []uint32, istride int)
	dotBF16     bool
	dotU8       bool
	// cvtBF16 rounds src to bfloat16 into dst.
	cvtBF16 func(dst []uint16, src []float32)
	// quantBlocks quantizes a row of activations for tileU8.
	quantBlocks func(dst []int8, info []uint32, stride int, x []float32)
	// dot computes out[j] = scale · k[j*ldk:][:hd] · q for j < n.
	dot func(out, k []float32, ldk int, q []float32, hd, n int, scale float32)
	// axpy computes out[:hd] += Σ_j p[j] · v[j*ldv:][:hd] for j < n.
	axpy func(out, v []float32, ldv int, p []float32, hd, n int)
	// dotF16 and axpyF16 are dot and axpy over keys and values stored as
	// IEEE halves; cvtF16 rounds src to halves into dst.
	dotF16  func(out []float32, k []uint16, ldk int, q []float32, hd, n int, scale float32)
	axpyF16 func(out []float32, v []uint16, ldv int, p []float32, hd, n int)
	cvtF16  func(dst []uint16, src []float32)
	// dotI8 and axpyI8 are dot and axpy over keys and values stored as
	// int8 rows with a scale each (s[j] for row j); quantRow rounds src to
	// such a row in dst and returns its scale.
	dotI8    func(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32)
	axpyI8   func(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32)
	quantRow func(dst []int8, src []float32) float32
	// gelu applies gelu_new in place.
	gelu func(x []float32)
	// softmax and layerNorm are Softmax and LayerNorm.
	softmax   func(x []float32) bool
	layerNorm func(out, x, g, b []float32, eps float32)
	// sampleWeights is SampleWeights.
	sampleWeights func(dst []float64, x []float32, m, temp float64)
	// sum adds up x.
	sum func(x []float32) float32
	// argmax is Argmax.
	argmax func(x []float32) (int, float32)
}

// goKernels is the pure-Go kernel set: the fallback, and the reference the
// assembly is tested against.
var goKernels = kernelSet{name: "go", mr: 4, tile: tileGo, tileBF16: tileBF16Go, tileF16: tileF16Go, tileI8: tileI8Go,
	tileBF16Dot: tileBF16DotGo, tileU8: tileU8Go, cvtBF16: cvtBF16Go, quantBlocks: quantizeBlocksGo,
	dot: dotGo, axpy: axpyGo, dotF16: dotF16Go, axpyF16: axpyF16Go, cvtF16: cvtF16Go,
	dotI8: dotI8Go, axpyI8: axpyI8Go, quantRow: quantize, gelu: geluGo, sum: sumGo,
	softmax: softmaxGo, layerNorm: layerNormGo, sampleWeights: sampleWeightsGo, argmax: argmaxGo}

// active is the kernel set in use; the pure-Go one unless init finds better.
var active = goKernels

// Kernels names the kernel set in use: "avx512", "avx2" or "go".
func Kernels() string { return active.name }

func tileGo(mr, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias []float32, acc bool) {
	var t [panel]float32
	for r := 0; r < mr; r++ {
		crow := c[r*ldc : r*ldc+panel]
		if acc {
			copy(t[:], crow)
		} else {
			t = [panel]float32{}
		}
		arow := a[r*lda : r*lda+k]
		for kk, av := range arow {
			brow := b[kk*panel : kk*panel+panel]
			for j := range t {
				t[j] += av * brow[j]
			}
		}
		if bias != nil {
			for j := range t {
				t[j] += bias[j]
			}
		}
		copy(crow, t[:])
	}
}

// tileWidenGo is the pure-Go tile for weights of any type, read through
// weight(kk, j), summed in float32 and then scaled (scale nil: by 1).
func tileWidenGo(mr, k int, a []float32, lda int, weight func(kk, j int) float32, c []float32, ldc int, bias []float32, acc bool, scale []float32) {
	for r := 0; r < mr; r++ {
		var t [panel]float32
		arow := a[r*lda : r*lda+k]
		for kk, av := range arow {
			for j := range t {
				t[j] += av * weight(kk, j)
			}
		}
		finishGo(t[:], c[r*ldc:r*ldc+panel], bias, acc, scale, 1)
	}
}

// finishGo writes a tile row's sums t to crow: t·scale·rowScale (scale nil:
// 1) plus crow when acc, plus the bias.
func finishGo(t, crow, bias []float32, acc bool, scale []float32, rowScale float32) {
	for j := range t {
		v := t[j]
		if scale != nil {
			v *= scale[j] * rowScale
		}
		if acc {
			v += crow[j]
		}
		if bias != nil {
			v += bias[j]
		}
		crow[j] = v
	}
}

func tileBF16Go(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	tileWidenGo(mr, k, a, lda, func(kk, j int) float32 { return BF16ToF32(b[kk/2*2*panel+2*j+kk%2]) }, c, ldc, bias, acc, nil)
}

func tileF16Go(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	tileWidenGo(mr, k, a, lda, func(kk, j int) float32 { return F16ToF32(b[kk*panel+j]) }, c, ldc, bias, acc, nil)
}

func tileI8Go(mr, k int, a []float32, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32) {
	tileWidenGo(mr, k, a, lda, func(kk, j int) float32 { return float32(b[kk/4*4*panel+4*j+kk%4]) }, c, ldc, bias, acc, scale)
}

// tileBF16DotGo does what VDPBF16PS does: each lane adds the products of
// its pair, the odd one first. A product of two bfloat16s is exact in
// float32.
func tileBF16DotGo(mr, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
	for r := 0; r < mr; r++ {
		var t [panel]float32
		crow := c[r*ldc : r*ldc+panel]
		if acc {
			copy(t[:], crow)
		}
		arow := a[r*lda : r*lda+2*kp]
		for p := 0; p < kp; p++ {
			a0, a1 := BF16ToF32(arow[2*p]), BF16ToF32(arow[2*p+1])
			pair := b[p*2*panel : (p+1)*2*panel]
			for j := range t {
				t[j] += a1 * BF16ToF32(pair[2*j+1])
				t[j] += a0 * BF16ToF32(pair[2*j])
			}
		}
		finishGo(t[:], crow, bias, false, nil, 1)
	}
}

// tileU8Go does what the VPDPBUSD kernel does: for each block of k, the
// exact int32 sum of the products of int8 weights and int8 activations,
// times the block's activation scale, summed in float32; then times the
// column's scale. (The kernel sums (w+128)·a and subtracts the block's
// correction, 128·Σa, which is the same integer.)
func tileU8Go(mr, kg int, a []int8, lda int, b []int8, c []float32, ldc int, bias []float32, acc bool, scale []float32, info []uint32, istride int) {
	for r := 0; r < mr; r++ {
		var f [panel]float32
		arow := a[r*lda : r*lda+4*kg]
		for g0, blk := 0, 0; g0 < kg; g0, blk = g0+ActBlock/4, blk+1 {
			var t [panel]int32
			for g := g0; g < min(kg, g0+ActBlock/4); g++ {
				grp := b[g*4*panel : (g+1)*4*panel]
				for j := range t {
					for i := 0; i < 4; i++ {
						t[j] += int32(arow[4*g+i]) * int32(grp[4*j+i])
					}
				}
			}
			s := math.Float32frombits(info[blk*istride/4+2*r+1])
			for j := range f {
				f[j] += float32(t[j]) * s
			}
		}
		finishGo(f[:], c[r*ldc:r*ldc+panel], bias, acc, scale, 1)
	}
}

func cvtBF16Go(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = F32ToBF16(v)
	}
}

// F16ToF32 is the float32 value of an IEEE 754 half, exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0: // zero or subnormal: mant × 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// F32ToF16 rounds x to the nearest IEEE 754 half, ties to even: values
// beyond 65504 become Inf, those below 2^-25 zero, and NaN stays NaN.
func F32ToF16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // a subnormal half, or zero
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - e)
		r, rem, half := mant>>shift, mant&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r, rem := uint32(e)<<10|mant>>13, mant&0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // a carry into the exponent rounds up to the next binade, or Inf
	}
	return sign | uint16(r)
}

// BF16ToF32 is the float32 value of a bfloat16: its bits are the high half.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds x to the nearest bfloat16, ties to even; NaN stays NaN.
func F32ToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it one
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func argmaxGo(x []float32) (int, float32) {
	// The largest value first, in 4 independent running maxima (one
	// loop-carried compare would take 50k compares in a row), then the
	// first index that holds it. NaN never compares greater.
	inf := float32(math.Inf(-1))
	m0, m1, m2, m3 := inf, inf, inf, inf
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		m0, m1, m2, m3 = greater(v[0], m0), greater(v[1], m1), greater(v[2], m2), greater(v[3], m3)
	}
	best := greater(greater(m0, m1), greater(m2, m3))
	for _, v := range x[i:] {
		best = greater(v, best)
	}
	if math.IsInf(float64(best), -1) {
		return 0, best
	}
	for i, v := range x {
		if v == best {
			return i, best
		}
	}
	return 0, best
}

// greater returns x if it is greater than m, else m (so a NaN x gives m).
func greater(x, m float32) float32 {
	if x > m {
		return x
	}
	return m
}

func sumGo(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

func dotGo(out, k []float32, ldk int, q []float32, hd, n int, scale float32) {
	q = q[:hd]
	for j := 0; j < n; j++ {
		row := k[j*ldk : j*ldk+hd]
		var s float32
		for d, x := range q {
			s += x * row[d]
		}
		out[j] = s * scale
	}
}

func axpyGo(out, v []float32, ldv int, p []float32, hd, n int) {
	out = out[:hd]
	for j := 0; j < n; j++ {
		row := v[j*ldv : j*ldv+hd]
		pj := p[j]
		for d := range out {
			out[d] += pj * row[d]
		}
	}
}

func dotF16Go(out []float32, k []uint16, ldk int, q []float32, hd, n int, scale float32) {
	q = q[:hd]
	for j := 0; j < n; j++ {
		row := k[j*ldk : j*ldk+hd]
		var s float32
		for d, x := range q {
			s += x * F16ToF32(row[d])
		}
		out[j] = s * scale
	}
}

func axpyF16Go(out []float32, v []uint16, ldv int, p []float32, hd, n int) {
	out = out[:hd]
	for j := 0; j < n; j++ {
		row := v[j*ldv : j*ldv+hd]
		pj := p[j]
		for d := range out {
			out[d] += pj * F16ToF32(row[d])
		}
	}
}

func dotI8Go(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32) {
	q = q[:hd]
	for j := 0; j < n; j++ {
		row := k[j*ldk : j*ldk+hd]
		var sum float32
		for d, x := range q {
			sum += x * float32(row[d])
		}
		out[j] = sum * scale * s[j]
	}
}

func axpyI8Go(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32) {
	out = out[:hd]
	for j := 0; j < n; j++ {
		row := v[j*ldv : j*ldv+hd]
		pj := p[j] * s[j]
		for d := range out {
			out[d] += pj * float32(row[d])
		}
	}
}

func cvtF16Go(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = F32ToF16(v)
	}
}

// gelu_new constants.
const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

func geluGo(x []float32) {
	for i, v := range x {
		u := geluC * (v + geluA*v*v*v)
		x[i] = 0.5 * v * (1 + Tanh(u))
	}
}

// Tanh is a float32 tanh: the rational approximation Eigen uses, within a
// few ulp of math.Tanh. The assembly GELU uses the same formula.
func Tanh(x float32) float32 {
	const clamp = 7.99881172180175781
	if x > clamp {
		x = clamp
	} else if x < -clamp {
		x = -clamp
	}
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = p*x2 + 2.00018790482477e-13
	p = p*x2 + -8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	p *= x
	q := float32(1.19825839466702e-06)
	q = q*x2 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return p / q
}

// Exp is a float32 e^x (Cephes expf: range reduction by ln 2 and a degree-5
// polynomial), within 2 ulp of math.Exp over the range softmax uses. It
// returns 0 below -87.3 and +Inf above 88.7.
func Exp(x float32) float32 {
	const (
		hi    = 88.72283905206835
		lo    = -87.33654475055310898657
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	if x != x {
		return x
	}
	if x > hi {
		return float32(math.Inf(1))
	}
	if x < lo {
		return 0
	}
	fx := float32(math.Floor(float64(x*log2e + 0.5)))
	x = x - fx*c1 - fx*c2
	z := x * x
	y := float32(1.9875691500e-4)
	y = y*x + 1.3981999507e-3
	y = y*x + 8.3334519073e-3
	y = y*x + 4.1665795894e-2
	y = y*x + 1.6666665459e-1
	y = y*x + 5.0000001201e-1
	y = y*z + x + 1
	return y * math.Float32frombits(uint32(int32(fx)+127)<<23)
}
