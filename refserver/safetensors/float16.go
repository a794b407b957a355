package safetensors

import "math"

// Float16ToFloat32 converts an IEEE 754 half-precision value, given as its
// bits, to float32. Every half value is exactly representable as a float32,
// so the conversion is exact: subnormals are normalized, infinities keep
// their sign, and NaNs keep their sign and payload.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24. Shift the leading one up to the implicit bit
	// position, lowering the exponent once per shift.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// BFloat16ToFloat32 converts a bfloat16 value, given as its bits, to
// float32. A bfloat16 is the top 16 bits of a float32, so the conversion is
// exact.
func BFloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// Float32ToFloat16 converts f to half precision, rounding to nearest with
// ties to even. Values too large for a half become infinity, values too
// small become signed zero, and NaNs stay NaN (quiet) with their sign and
// the top of their payload.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7c00 | 0x200 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // half exponent field before rounding
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// Subnormal or zero in half precision. The value is
		// m * 2^(e-14) units of the smallest subnormal, 2^-24.
		if e < -10 {
			return sign // below half the smallest subnormal
		}
		m := mant | 0x800000
		return sign | uint16(roundShift(m, uint32(14-e)))
	}
	// Normal. Rounding up may carry into the exponent, and from the largest
	// finite value into infinity; both are the right answer.
	h := uint32(e)<<10 | mant>>13
	return sign | uint16(h+roundBit(mant, 13, h))
}

// roundShift returns m >> s rounded to nearest, ties to even.
func roundShift(m, s uint32) uint32 {
	q := m >> s
	return q + roundBit(m, s, q)
}

// roundBit returns 1 if q, the value of m with its low s bits dropped,
// must be rounded up to nearest with ties to even, and 0 otherwise.
func roundBit(m, s, q uint32) uint32 {
	rem := m & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || rem == half && q&1 == 1 {
		return 1
	}
	return 0
}

// Float32ToBFloat16 converts f to bfloat16, rounding to nearest with ties to
// even. NaNs stay NaN (quiet) with their sign.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
