package safetensors

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// can be read back and survives a round trip through Write.
func FuzzParse(f *testing.F) {
	good := testFile(f)
	f.Add(good)
	for _, n := range []int{0, 7, 8, 9, 16, len(good) / 2, len(good) - 1} {
		f.Add(good[:n])
	}
	bad := bytes.Clone(good)
	binary.LittleEndian.PutUint64(bad, uint64(len(good)))
	f.Add(bad)
	f.Add(rawFile(`{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F4", "shape": [3], "data_offsets": [12, 14]}}`, 16))
	f.Add(rawFile(`{"__metadata__": {"k": "v"}, "s": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}}`, 2))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		var tensors []Tensor
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) not found for a name from Names", name)
			}
			raw, err := file.Raw(name)
			if err != nil {
				t.Fatalf("Raw(%q): %v", name, err)
			}
			if got, want := int64(len(raw)), info.End-info.Begin; got != want {
				t.Fatalf("len(Raw(%q)) = %d, want %d", name, got, want)
			}
			switch info.DType {
			case F32, F16, BF16:
				if err := file.Float32s(name, make([]float32, info.NumElements())); err != nil {
					t.Fatalf("Float32s(%q): %v", name, err)
				}
			}
			tensors = append(tensors, Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: raw})
		}

		var buf bytes.Buffer
		if err := Write(&buf, tensors, file.Metadata()); err != nil {
			t.Fatalf("Write of parsed tensors: %v", err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("Parse of rewritten file: %v", err)
		}
		if got, want := again.Names(), file.Names(); !slices.Equal(got, want) {
			t.Fatalf("rewritten Names() = %q, want %q", got, want)
		}
		if got, want := again.Metadata(), file.Metadata(); !maps.Equal(got, want) {
			t.Fatalf("rewritten Metadata() = %q, want %q", got, want)
		}
		for _, tt := range tensors {
			info, _ := again.Info(tt.Name)
			raw, err := again.Raw(tt.Name)
			if err != nil {
				t.Fatalf("rewritten Raw(%q): %v", tt.Name, err)
			}
			if info.DType != tt.DType || !slices.Equal(info.Shape, tt.Shape) || !bytes.Equal(raw, tt.Data) {
				t.Fatalf("rewritten tensor %q = %s %v %x, want %s %v %x", tt.Name, info.DType, info.Shape, raw, tt.DType, tt.Shape, tt.Data)
			}
		}
	})
}
