package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

// sameFloat32 reports whether a and b are the same value: equal bits, or
// both NaN.
func sameFloat32(a, b float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func TestRoundTrip(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := math.Float32frombits(0x80000000)
	tests := []struct {
		dtype  DType
		encode func([]float32) []byte
		values []float32 // each exactly representable in dtype
	}{
		{F32, EncodeFloat32s, []float32{0, negZero, 1, -2, 0.1, math.MaxFloat32, math.SmallestNonzeroFloat32, inf, -inf, nan}},
		{F16, EncodeFloat16s, []float32{0, negZero, 0.5, -2, 65504, -65504, 6.1035156e-05, 6.0975552e-05, 5.9604645e-08, 0.33325195, inf, -inf, nan}},
		{BF16, EncodeBFloat16s, []float32{0, negZero, 1, -2.5, 0.1015625, 3.3895314e+38, math.Float32frombits(0x00010000), inf, -inf, nan}},
	}
	for _, tt := range tests {
		t.Run(string(tt.dtype), func(t *testing.T) {
			var buf bytes.Buffer
			tensors := []Tensor{
				{Name: "values", DType: tt.dtype, Shape: []int{len(tt.values)}, Data: tt.encode(tt.values)},
				{Name: "matrix", DType: tt.dtype, Shape: []int{2, 3}, Data: tt.encode([]float32{1, 2, 3, 4, 5, 6})},
				{Name: "scalar", DType: tt.dtype, Shape: []int{}, Data: tt.encode([]float32{-1})},
				{Name: "empty", DType: tt.dtype, Shape: []int{0, 4}, Data: nil},
			}
			meta := map[string]string{"format": "pt", "dtype": string(tt.dtype)}
			if err := Write(&buf, tensors, meta); err != nil {
				t.Fatalf("Write: %v", err)
			}
			f, err := Parse(buf.Bytes())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := f.Names(), []string{"empty", "matrix", "scalar", "values"}; !slices.Equal(got, want) {
				t.Errorf("Names() = %q, want %q", got, want)
			}
			if got, want := f.Metadata()["dtype"], string(tt.dtype); got != want {
				t.Errorf("Metadata()[dtype] = %q, want %q", got, want)
			}
			for _, c := range []struct {
				name string
				want []float32
			}{
				{"values", tt.values},
				{"matrix", []float32{1, 2, 3, 4, 5, 6}},
				{"scalar", []float32{-1}},
				{"empty", []float32{}},
			} {
				got := make([]float32, len(c.want))
				if err := f.Float32s(c.name, got); err != nil {
					t.Fatalf("Float32s(%q): %v", c.name, err)
				}
				for i := range got {
					if !sameFloat32(got[i], c.want[i]) {
						t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", c.name, i, got[i], math.Float32bits(got[i]), c.want[i], math.Float32bits(c.want[i]))
					}
				}
				raw, err := f.Raw(c.name)
				if err != nil {
					t.Fatalf("Raw(%q): %v", c.name, err)
				}
				if got, want := raw, tt.encode(c.want); !bytes.Equal(got, want) {
					t.Errorf("Raw(%q) = %x, want %x", c.name, got, want)
				}
			}
		})
	}
}

func TestWriteLayout(t *testing.T) {
	for _, name := range []string{"", "a", "ab", "abc", "abcdefgh", `quote"and\backslash<>&`} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tensors := []Tensor{
				{Name: name, DType: U8, Shape: []int{3}, Data: []byte{1, 2, 3}},
				{Name: name + "z", DType: "F4", Shape: []int{2, 2}, Data: []byte{4, 5}},
			}
			if err := Write(&buf, tensors, nil); err != nil {
				t.Fatalf("Write: %v", err)
			}
			b := buf.Bytes()
			n := binary.LittleEndian.Uint64(b)
			if n%8 != 0 {
				t.Errorf("header length %d is not a multiple of 8", n)
			}
			if got, want := uint64(len(b)), 8+n+5; got != want {
				t.Errorf("file is %d bytes, want %d", got, want)
			}
			if got, want := b[8+n:], []byte{1, 2, 3, 4, 5}; !bytes.Equal(got, want) {
				t.Errorf("data = %v, want %v", got, want)
			}
			if strings.Contains(string(b[8:8+n]), "__metadata__") {
				t.Errorf("header %s has __metadata__, want none for nil metadata", b[8:8+n])
			}
			f, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			info, ok := f.Info(name + "z")
			if !ok {
				t.Fatalf("Info(%q) not found", name+"z")
			}
			if got, want := info, (TensorInfo{Name: name + "z", DType: "F4", Shape: []int{2, 2}, Begin: 3, End: 5}); got.DType != want.DType || got.Begin != want.Begin || got.End != want.End || !slices.Equal(got.Shape, want.Shape) {
				t.Errorf("Info(%q) = %+v, want %+v", name+"z", got, want)
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	f32 := EncodeFloat32s([]float32{1, 2, 3, 4})
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		w       *failWriter
		want    []string
	}{
		{
			"size mismatch",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{16, 16}, Data: make([]byte, 1000)}},
			nil, nil,
			[]string{`tensor "w"`, "data has 1000 bytes, F32 [16 16] needs 1024"},
		},
		{
			"negative dimension",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{-4}, Data: f32}},
			nil, nil,
			[]string{`tensor "w"`, "negative dimension -4"},
		},
		{
			"element count overflow",
			[]Tensor{{Name: "w", DType: U8, Shape: []int{math.MaxInt, 2}, Data: f32}},
			nil, nil,
			[]string{`tensor "w"`, "element count overflows"},
		},
		{
			"byte count overflow",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{math.MaxInt / 2}, Data: f32}},
			nil, nil,
			[]string{`tensor "w"`, "F32 [4611686018427387903]: byte count overflows"},
		},
		{
			"empty dtype",
			[]Tensor{{Name: "w", Shape: []int{4}, Data: f32}},
			nil, nil,
			[]string{`tensor "w"`, "dtype is empty"},
		},
		{
			"reserved name",
			[]Tensor{{Name: "__metadata__", DType: F32, Shape: []int{4}, Data: f32}},
			nil, nil,
			[]string{`tensor "__metadata__"`, "reserved"},
		},
		{
			"duplicate name",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{4}, Data: f32}, {Name: "v", DType: F32, Shape: []int{4}, Data: f32}, {Name: "w", DType: F32, Shape: []int{4}, Data: f32}},
			nil, nil,
			[]string{`tensor "w"`, "duplicate name"},
		},
		{
			"writer fails on header",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{4}, Data: f32}},
			nil, &failWriter{after: 1},
			[]string{"disk full"},
		},
		{
			"writer fails on data",
			[]Tensor{{Name: "w", DType: F32, Shape: []int{4}, Data: f32}},
			nil, &failWriter{after: 2},
			[]string{`tensor "w"`, "disk full"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w io.Writer = &bytes.Buffer{}
			if tt.w != nil {
				w = tt.w
			}
			err := Write(w, tt.tensors, tt.meta)
			if err == nil {
				t.Fatalf("Write succeeded, want an error containing %q", tt.want)
			}
			for _, want := range tt.want {
				if got := err.Error(); !strings.Contains(got, want) {
					t.Errorf("got error %q, want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestWriteDoesNotReorderInput(t *testing.T) {
	tensors := []Tensor{
		{Name: "b", DType: U8, Shape: []int{1}, Data: []byte{2}},
		{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}},
	}
	if err := Write(&bytes.Buffer{}, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := tensors[0].Name, "b"; got != want {
		t.Errorf("after Write, tensors[0].Name = %q, want %q", got, want)
	}
}

// TestWriteZeroDimension checks that Write, like Parse, accepts a tensor
// whose dimensions would overflow but for a zero among them.
func TestWriteZeroDimension(t *testing.T) {
	shape := []int{math.MaxInt, math.MaxInt, 0}
	var buf bytes.Buffer
	if err := Write(&buf, []Tensor{{Name: "w", DType: F32, Shape: shape}}, nil); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, _ := f.Info("w"); !slices.Equal(got.Shape, shape) || got.NumElements() != 0 {
		t.Errorf("Info(w) = %+v with %d elements, want shape %v with 0", got, got.NumElements(), shape)
	}
}
