package sample

import "math"

// expNeg computes exp(d) for d <= 0 to within about 1 ulp of math.Exp, at
// about twice its speed, because Next takes one exp per vocabulary entry.
// It splits d into k·ln2/128 + r with |r| <= ln2/256, so that
// exp(d) = 2^(k/128)·exp(r): a table holds 2^(j/128) and a degree-5
// polynomial gives exp(r). Where the result would be subnormal it calls
// math.Exp.
func expNeg(d float64) float64 {
	if !(d > -700) {
		return math.Exp(d)
	}
	// Adding shift rounds d·128/ln2 to the integer k in the low bits.
	t := d*expInvLn2N + expShift
	k := int64(math.Float64bits(t) - math.Float64bits(expShift))
	kd := t - expShift
	r := d - kd*expLn2HiN - kd*expLn2LoN
	// 2^(k/128) = 2^(k>>7) · 2^((k&127)/128): add k>>7 to the exponent.
	s := math.Float64frombits(expTable[k&(expN-1)] + uint64(k>>expBits)<<52)
	p := r * (1 + r*(1./2+r*(1./6+r*(1./24+r*(1./120)))))
	return s + s*p
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
