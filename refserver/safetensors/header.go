package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxHeaderLen bounds the JSON header. Real headers are kilobytes; a larger
// length prefix means the file is not a safetensors file.
const maxHeaderLen = 100 << 20

// metadataKey is the header entry that holds free-form string metadata
// rather than a tensor.
const metadataKey = "__metadata__"

// header is the validated content of a safetensors header.
type header struct {
	tensors  map[string]TensorInfo
	names    []string // sorted
	metadata map[string]string
}

// parseFile splits a whole file into its validated header and its data
// buffer. Its errors carry no "safetensors:" prefix; the callers add it.
func parseFile(data []byte) (*header, []byte, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file is %d bytes, shorter than 8 bytes", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderLen {
		return nil, nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, maxHeaderLen)
	}
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("file truncated: header length %d exceeds the %d bytes that follow it", n, len(data)-8)
	}
	buf := data[8+n:]
	h, err := parseHeader(data[8:8+n], int64(len(buf)))
	if err != nil {
		return nil, nil, err
	}
	return h, buf, nil
}

// parseHeader parses and validates the JSON header against a data buffer of
// bufLen bytes.
func parseHeader(text []byte, bufLen int64) (*header, error) {
	if !utf8.Valid(text) {
		return nil, fmt.Errorf("header is not valid UTF-8")
	}
	var top json.RawMessage
	if err := json.Unmarshal(text, &top); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if k := jsonKind(top); k != "an object" {
		return nil, fmt.Errorf("header is %s, not a JSON object", k)
	}
	fields, err := objectFields(top)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}

	h := &header{tensors: make(map[string]TensorInfo, len(fields))}
	for _, f := range fields {
		if f.key == metadataKey {
			if h.metadata, err = parseMetadata(f.value); err != nil {
				return nil, err
			}
			continue
		}
		h.names = append(h.names, f.key)
	}
	slices.Sort(h.names)
	byName := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		byName[f.key] = f.value
	}
	for _, name := range h.names {
		info, err := parseEntry(name, byName[name])
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if info.End > bufLen {
			return nil, fmt.Errorf("file truncated: tensor %q ends at byte %d but data has %d bytes", name, info.End, bufLen)
		}
		h.tensors[name] = info
	}
	if err := checkOverlap(h.tensors, h.names); err != nil {
		return nil, err
	}
	return h, nil
}

// parseMetadata parses the __metadata__ entry: an object of strings, or null.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	switch k := jsonKind(raw); k {
	case "null":
		return nil, nil
	case "an object":
	default:
		return nil, fmt.Errorf("%s is %s, want an object of strings", metadataKey, k)
	}
	fields, err := objectFields(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metadataKey, err)
	}
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		if k := jsonKind(f.value); k != "a string" {
			return nil, fmt.Errorf("%s key %q is %s, want a string", metadataKey, f.key, k)
		}
		var s string
		if err := json.Unmarshal(f.value, &s); err != nil {
			return nil, fmt.Errorf("%s key %q: %w", metadataKey, f.key, err)
		}
		m[f.key] = s
	}
	return m, nil
}

// parseEntry parses one tensor entry and checks it on its own. Its errors
// do not name the tensor; the caller adds it.
func parseEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	if k := jsonKind(raw); k != "an object" {
		return TensorInfo{}, fmt.Errorf("entry is %s, want an object", k)
	}
	fields, err := objectFields(raw)
	if err != nil {
		return TensorInfo{}, err
	}
	var dtypeRaw, shapeRaw, offsetsRaw json.RawMessage
	for _, f := range fields {
		switch f.key {
		case "dtype":
			dtypeRaw = f.value
		case "shape":
			shapeRaw = f.value
		case "data_offsets":
			offsetsRaw = f.value
		}
	}
	for _, req := range []struct {
		key string
		raw json.RawMessage
	}{{"dtype", dtypeRaw}, {"shape", shapeRaw}, {"data_offsets", offsetsRaw}} {
		if req.raw == nil {
			return TensorInfo{}, fmt.Errorf("missing %q", req.key)
		}
	}

	if k := jsonKind(dtypeRaw); k != "a string" {
		return TensorInfo{}, fmt.Errorf("dtype is %s, want a string", k)
	}
	var dtype string
	if err := json.Unmarshal(dtypeRaw, &dtype); err != nil {
		return TensorInfo{}, fmt.Errorf("dtype: %w", err)
	}
	if dtype == "" {
		return TensorInfo{}, fmt.Errorf("dtype is empty")
	}

	dims, err := intArray(shapeRaw, "shape")
	if err != nil {
		return TensorInfo{}, err
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("shape %v has negative dimension %d", dims, d)
		}
		if d > math.MaxInt {
			return TensorInfo{}, fmt.Errorf("shape %v: element count overflows", dims)
		}
		shape[i] = int(d)
	}
	n, ok := elementCount(shape)
	if !ok {
		return TensorInfo{}, fmt.Errorf("shape %v: element count overflows", dims)
	}
	count := int64(n)

	offsets, err := intArray(offsetsRaw, "data_offsets")
	if err != nil {
		return TensorInfo{}, err
	}
	if len(offsets) != 2 {
		return TensorInfo{}, fmt.Errorf("data_offsets has %d elements, want 2", len(offsets))
	}
	begin, end := offsets[0], offsets[1]
	if begin < 0 || end < 0 {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d) are negative", begin, end)
	}
	if begin > end {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d) are reversed", begin, end)
	}

	info := TensorInfo{Name: name, DType: DType(dtype), Shape: shape, Begin: begin, End: end}
	if size := int64(info.DType.Size()); size > 0 {
		if count > math.MaxInt64/size {
			return TensorInfo{}, fmt.Errorf("%s %v: byte count overflows", dtype, dims)
		}
		if need := count * size; end-begin != need {
			return TensorInfo{}, fmt.Errorf("holds %d bytes, %s %v needs %d", end-begin, dtype, dims, need)
		}
	}
	return info, nil
}

// elementCount returns the product of the dimensions in shape, and false if
// a dimension is negative or the product does not fit in an int. A zero
// dimension makes the count zero however large the others are.
func elementCount(shape []int) (int, bool) {
	if slices.Contains(shape, 0) {
		return 0, true
	}
	n := 1
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// checkOverlap reports the first two tensors, in offset order, whose byte
// ranges share a byte. Empty tensors share no bytes with anything.
func checkOverlap(tensors map[string]TensorInfo, names []string) error {
	var spans []TensorInfo
	for _, name := range names {
		if t := tensors[name]; t.End > t.Begin {
			spans = append(spans, t)
		}
	}
	slices.SortFunc(spans, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.Name, b.Name))
	})
	// Sorted by begin, if no adjacent pair overlaps then ends are increasing
	// too, so no pair overlaps at all.
	for i := 1; i < len(spans); i++ {
		a, b := spans[i-1], spans[i]
		if b.Begin < a.End {
			return fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap", a.Name, a.Begin, a.End, b.Name, b.Begin, b.End)
		}
	}
	return nil
}

// field is one key and value of a JSON object, in input order.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a valid JSON object into its fields, rejecting
// duplicate keys, which encoding/json would otherwise resolve silently.
func objectFields(obj json.RawMessage) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	var fields []field
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		fields = append(fields, field{key, value})
	}
	return fields, nil
}

// intArray decodes a JSON array of integers. what names the array in errors.
func intArray(raw json.RawMessage, what string) ([]int64, error) {
	if k := jsonKind(raw); k != "an array" {
		return nil, fmt.Errorf("%s is %s, want an array of integers", what, k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ints := make([]int64, len(elems))
	for i, e := range elems {
		if k := jsonKind(e); k != "a number" {
			return nil, fmt.Errorf("%s element %d is %s, want an integer", what, i, k)
		}
		v, err := strconv.ParseInt(string(e), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s element %d is %s, want an integer that fits in 64 bits", what, i, e)
		}
		ints[i] = v
	}
	return ints, nil
}

// jsonKind describes the type of a valid JSON value for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
