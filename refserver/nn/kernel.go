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
	// tileBF16 is tile for a panel of bfloat16 weights, summed in float32.
	tileBF16 func(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool)
	// dot computes out[j] = scale · k[j*ldk:][:hd] · q for j < n.
	dot func(out, k []float32, ldk int, q []float32, hd, n int, scale float32)
	// axpy computes out[:hd] += Σ_j p[j] · v[j*ldv:][:hd] for j < n.
	axpy func(out, v []float32, ldv int, p []float32, hd, n int)
	// gelu applies gelu_new in place.
	gelu func(x []float32)
	// sum adds up x.
	sum func(x []float32) float32
}

// active is the kernel set in use; the pure-Go one unless init finds better.
var active = kernelSet{name: "go", mr: 4, tile: tileGo, tileBF16: tileBF16Go, dot: dotGo, axpy: axpyGo, gelu: geluGo, sum: sumGo}

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

func tileBF16Go(mr, k int, a []float32, lda int, b []uint16, c []float32, ldc int, bias []float32, acc bool) {
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
				t[j] += av * BF16ToF32(brow[j])
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
