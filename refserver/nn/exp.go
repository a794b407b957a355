package nn

import "math"

// ExpNeg computes exp(d) for d <= 0 in float64 to within about 1 ulp of
// math.Exp, at about twice its speed: a sampler takes one exp per
// vocabulary entry. It splits d into k·ln2/128 + r with |r| <= ln2/256, so
// that exp(d) = 2^(k/128)·exp(r): a table holds 2^(j/128) and a degree-5
// polynomial gives exp(r). Where the result would be subnormal it calls
// math.Exp. Every product is rounded before its sum (the float64
// conversions forbid fused multiply-adds), so that the vector version in
// SampleWeights gives the same bits on any GOAMD64 level.
func ExpNeg(d float64) float64 {
	if !(d > -700) {
		return math.Exp(d)
	}
	// Adding shift rounds d·128/ln2 to the integer k in the low bits.
	t := float64(d*expInvLn2N) + expShift
	k := int64(math.Float64bits(t) - math.Float64bits(expShift))
	kd := t - expShift
	r := d - float64(kd*expLn2HiN) - float64(kd*expLn2LoN)
	// 2^(k/128) = 2^(k>>7) · 2^((k&127)/128): add k>>7 to the exponent.
	s := math.Float64frombits(expTable[k&(expN-1)] + uint64(k>>expBits)<<52)
	p := float64(r * (1. / 120))
	p = float64(r * (1./24 + p))
	p = float64(r * (1./6 + p))
	p = float64(r * (1./2 + p))
	p = float64(r * (1 + p))
	return s + float64(s*p)
}

// SampleWeights sets dst[i] to exp((x[i] - m) / temp), the unnormalised
// probability of logit x[i] at temperature temp > 0 when m is the largest
// logit, in float64: 0 for NaN, -Inf and logits so far below m that the
// exp is below 1e-324 (d <= -746), ExpNeg otherwise. With AVX-512 eight at a
// time, bit for bit what the loop gives.
func SampleWeights(dst []float64, x []float32, m, temp float64) {
	active.sampleWeights(dst[:len(x)], x, m, temp)
}

func sampleWeightsGo(dst []float64, x []float32, m, temp float64) {
	for i, v := range x {
		d := (float64(v) - m) / temp
		if !(d > -746) {
			dst[i] = 0
			continue
		}
		dst[i] = ExpNeg(d)
	}
}

const (
	expBits    = 7
	expN       = 1 << expBits
	expInvLn2N = expN / math.Ln2
	expShift   = 0x1.8p52
	// ln2/128 split in two, as in fdlibm: the high part has enough
	// trailing zeros that kd·expLn2HiN is exact.
	expLn2HiN = 6.93147180369123816490e-01 / expN
	expLn2LoN = 1.90821492927058770002e-10 / expN
)

// expTable holds the bits of 2^(j/128) for j in [0, 128).
var expTable = func() (t [expN]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j) / expN))
	}
	return t
}()
