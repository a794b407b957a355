package safetensors

import (
	"fmt"
	"math"
	"testing"
)

// refFloat16 is the value of a half-precision number by the IEEE 754
// formula, computed in float64.
func refFloat16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	case 0:
		return sign * math.Ldexp(mant, -24)
	}
	return sign * math.Ldexp(1+mant/1024, exp-15)
}

func TestFloat16ToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := Float16ToFloat32(h)
		want := refFloat16(h)
		if math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Errorf("Float16ToFloat32(%#04x) = %v, want sign bit %v", h, got, h&0x8000 != 0)
		}
		if math.IsNaN(want) {
			// A NaN keeps its payload in the top mantissa bits.
			bits := math.Float32bits(got)
			if !math.IsNaN(float64(got)) || bits&0x7fffff != uint32(h&0x3ff)<<13 {
				t.Errorf("Float16ToFloat32(%#04x) = %#08x, want NaN with payload %#08x", h, bits, uint32(h&0x3ff)<<13)
			}
			continue
		}
		if float64(got) != want {
			t.Errorf("Float16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestFloat16ToFloat32Values(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0x3800, 0.5},
		{0xc000, -2},
		{0x7bff, 65504},
		{0x0400, 6.1035156e-05},  // smallest normal, 2^-14
		{0x03ff, 6.0975552e-05},  // largest subnormal
		{0x0001, 5.9604645e-08},  // smallest subnormal, 2^-24
		{0x8001, -5.9604645e-08}, // negative subnormal
		{0x3555, 0.33325195},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#04x", tt.h), func(t *testing.T) {
			if got := Float16ToFloat32(tt.h); got != tt.want {
				t.Errorf("Float16ToFloat32(%#04x) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestBFloat16ToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		b := uint16(i)
		got, want := math.Float32bits(BFloat16ToFloat32(b)), uint32(b)<<16
		if got != want {
			t.Errorf("BFloat16ToFloat32(%#04x) = %#08x, want %#08x", b, got, want)
		}
	}
}

// TestFloat32ToFloat16 checks that every half value round-trips, and that
// every midpoint between neighbouring half values rounds to the even one
// while the float32 values just beside it round to the nearer one.
func TestFloat32ToFloat16(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := Float16ToFloat32(h)
		got := Float32ToFloat16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 || got&0x8000 != h&0x8000 {
				t.Errorf("Float32ToFloat16(NaN %#04x) = %#04x, want a NaN of the same sign", h, got)
			}
			continue
		}
		if got != h {
			t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", f, got, h)
		}
	}
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := float64(Float16ToFloat32(h)), float64(Float16ToFloat32(h+1))
		if math.IsInf(hi, 1) {
			hi = 65536 // where the next binade would start
		}
		mid := float32((lo + hi) / 2)
		if float64(mid) != (lo+hi)/2 {
			t.Fatalf("midpoint of %#04x and %#04x is not a float32", h, h+1)
		}
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		for _, c := range []struct {
			f    float32
			want uint16
		}{
			{mid, even},
			{math.Nextafter32(mid, 0), h},
			{math.Nextafter32(mid, float32(math.Inf(1))), h + 1},
		} {
			if got := Float32ToFloat16(c.f); got != c.want {
				t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", c.f, got, c.want)
			}
			if got, want := Float32ToFloat16(-c.f), c.want|0x8000; got != want {
				t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", -c.f, got, want)
			}
		}
	}
}

func TestFloat32ToFloat16Values(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{0x1p-25, 0x0000},                          // half the smallest subnormal: tie to zero
		{math.Nextafter32(0x1p-25, 1), 0x0001},     // just above: up to the smallest subnormal
		{0x1p-26, 0x0000},                          // well below
		{math.SmallestNonzeroFloat32, 0x0000},      // float32 subnormal
		{-math.SmallestNonzeroFloat32, 0x8000},     // keeps the sign
		{0x1.ffcp-15, 0x0400},                      // rounds up out of the subnormals
		{65519.996, 0x7bff},                        // just below the overflow midpoint
		{65520, 0x7c00},                            // the overflow midpoint ties to infinity
		{1e10, 0x7c00},                             // far too large
		{-math.MaxFloat32, 0xfc00},                 // far too small
		{float32(math.Inf(1)), 0x7c00},             // infinity
		{math.Float32frombits(0x7f800001), 0x7e00}, // NaN with only a low payload bit stays NaN
		{math.Float32frombits(0xffc00000), 0xfe00}, // negative quiet NaN
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.f), func(t *testing.T) {
			if got := Float32ToFloat16(tt.f); got != tt.want {
				t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", tt.f, got, tt.want)
			}
		})
	}
}

// TestFloat32ToBFloat16 checks that every bfloat16 value round-trips and
// that midpoints round to even, as TestFloat32ToFloat16 does.
func TestFloat32ToBFloat16(t *testing.T) {
	for i := range 1 << 16 {
		b := uint16(i)
		f := BFloat16ToFloat32(b)
		got := Float32ToBFloat16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7f80 != 0x7f80 || got&0x7f == 0 || got&0x8000 != b&0x8000 {
				t.Errorf("Float32ToBFloat16(NaN %#04x) = %#04x, want a NaN of the same sign", b, got)
			}
			continue
		}
		if got != b {
			t.Errorf("Float32ToBFloat16(%v) = %#04x, want %#04x", f, got, b)
		}
	}
	for b := uint16(0); b < 0x7f80; b++ {
		mid := uint32(b)<<16 | 0x8000
		even := b
		if b&1 == 1 {
			even = b + 1
		}
		for _, c := range []struct {
			bits uint32
			want uint16
		}{
			{mid, even},
			{mid - 1, b},
			{mid + 1, b + 1},
			{mid | 0x80000000, even | 0x8000},
		} {
			if got := Float32ToBFloat16(math.Float32frombits(c.bits)); got != c.want {
				t.Errorf("Float32ToBFloat16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
			}
		}
	}
	// A NaN whose payload is only in the low bits must not truncate to
	// infinity.
	if got, want := Float32ToBFloat16(math.Float32frombits(0x7f800001)), uint16(0x7fc0); got != want {
		t.Errorf("Float32ToBFloat16(NaN 0x7f800001) = %#04x, want %#04x", got, want)
	}
}
