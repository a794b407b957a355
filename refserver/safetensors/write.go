package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Tensor is one tensor to write: its name, dtype, shape and little-endian
// element bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // e.g. [768 2304]; empty for a scalar
	Data  []byte
}

// Write writes a safetensors file holding tensors, sorted by name and laid
// out back to back, and metadata if it is not empty. The header is padded
// with spaces so that the data starts 8-byte aligned. Write checks that
// names are unique and that each tensor's Data has the length its dtype and
// shape need (for a dtype whose Size is 0, any length).
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return cmp.Compare(a.Name, b.Name) })

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata)
		if err != nil {
			return fmt.Errorf("safetensors: write metadata: %w", err)
		}
		hdr.WriteString(`"` + metadataKey + `":`)
		hdr.Write(m)
	}
	var offset int64
	for i, t := range sorted {
		if err := checkTensor(t); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return fmt.Errorf("safetensors: write tensor %q: duplicate name", t.Name)
		}
		if i > 0 || len(metadata) > 0 {
			hdr.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name) // a string always marshals
		dtype, _ := json.Marshal(string(t.DType))
		hdr.Write(name)
		hdr.WriteString(`:{"dtype":`)
		hdr.Write(dtype)
		hdr.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				hdr.WriteByte(',')
			}
			hdr.WriteString(strconv.Itoa(d))
		}
		end := offset + int64(len(t.Data))
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > maxHeaderLen {
		return fmt.Errorf("safetensors: write: header is %d bytes, over the limit of %d", hdr.Len(), maxHeaderLen)
	}

	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(hdr.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, t := range sorted {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// checkTensor checks that t can be written and read back.
func checkTensor(t Tensor) error {
	if t.Name == metadataKey {
		return fmt.Errorf("name is reserved for metadata")
	}
	if t.DType == "" {
		return fmt.Errorf("dtype is empty")
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %v has negative dimension %d", t.Shape, d)
		}
	}
	count, ok := elementCount(t.Shape)
	if !ok {
		return fmt.Errorf("shape %v: element count overflows", t.Shape)
	}
	size := t.DType.Size()
	if size == 0 {
		return nil
	}
	if count > math.MaxInt/size {
		return fmt.Errorf("%s %v: byte count overflows", t.DType, t.Shape)
	}
	if len(t.Data) != count*size {
		return fmt.Errorf("data has %d bytes, %s %v needs %d", len(t.Data), t.DType, t.Shape, count*size)
	}
	return nil
}

// EncodeFloat32s returns the little-endian F32 bytes of v.
func EncodeFloat32s(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// EncodeFloat16s returns the little-endian F16 bytes of v, each value
// rounded to the nearest half-precision value, ties to even. Values beyond
// the half range become infinities.
func EncodeFloat16s(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToFloat16(x))
	}
	return b
}

// EncodeBFloat16s returns the little-endian BF16 bytes of v, each value
// rounded to the nearest bfloat16 value, ties to even.
func EncodeBFloat16s(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToBFloat16(x))
	}
	return b
}
