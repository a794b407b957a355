package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// rawFile builds a file from a header text and a data buffer of dataLen
// bytes, without any of the checks Write makes.
func rawFile(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want []string // substrings of the error
	}{
		{"empty file", nil, []string{"0 bytes, shorter than 8 bytes"}},
		{"shorter than 8 bytes", []byte{1, 2, 3}, []string{"3 bytes, shorter than 8 bytes"}},
		{
			"absurd header length",
			binary.LittleEndian.AppendUint64(nil, 200<<20),
			[]string{"header length 209715200 exceeds the limit"},
		},
		{
			"header length beyond file",
			append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...),
			[]string{"file truncated", "header length 100 exceeds the 2 bytes"},
		},
		{"empty header", rawFile("", 0), []string{"not valid JSON"}},
		{"header not JSON", rawFile(`{"w": {"dtype": "F32",`, 0), []string{"not valid JSON"}},
		{"header trailing garbage", rawFile(`{} x`, 0), []string{"not valid JSON"}},
		{"header padded with NULs", rawFile("{}\x00\x00", 0), []string{"not valid JSON"}},
		{"header is an array", rawFile(`[1, 2]`, 0), []string{"header is an array, not a JSON object"}},
		{"header is null", rawFile(`null`, 0), []string{"header is null, not a JSON object"}},
		{"header is a string", rawFile(`"w"`, 0), []string{"header is a string, not a JSON object"}},
		{"header not UTF-8", rawFile("{\"w\xff\": 1}", 0), []string{"not valid UTF-8"}},
		{
			"duplicate tensor",
			rawFile(`{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}`, 2),
			[]string{`duplicate key "w"`},
		},
		{
			"names that decode alike",
			rawFile(`{"\ud800": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}, "\udfff": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}`, 0),
			[]string{"duplicate key"},
		},
		{"entry not an object", rawFile(`{"w": 3}`, 0), []string{`tensor "w"`, "entry is a number, want an object"}},
		{"entry is null", rawFile(`{"w": null}`, 0), []string{`tensor "w"`, "entry is null, want an object"}},
		{
			"duplicate field",
			rawFile(`{"w": {"dtype": "U8", "dtype": "F32", "shape": [1], "data_offsets": [0, 1]}}`, 1),
			[]string{`tensor "w"`, `duplicate key "dtype"`},
		},
		{
			"missing dtype",
			rawFile(`{"w": {"shape": [1], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, `missing "dtype"`},
		},
		{
			"missing shape",
			rawFile(`{"w": {"dtype": "F32", "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, `missing "shape"`},
		},
		{
			"missing data_offsets",
			rawFile(`{"w": {"dtype": "F32", "shape": [1]}}`, 4),
			[]string{`tensor "w"`, `missing "data_offsets"`},
		},
		{
			"dtype not a string",
			rawFile(`{"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "dtype is a number, want a string"},
		},
		{
			"dtype empty",
			rawFile(`{"w": {"dtype": "", "shape": [1], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "dtype is empty"},
		},
		{
			"shape a string",
			rawFile(`{"w": {"dtype": "F32", "shape": "[1]", "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "shape is a string, want an array of integers"},
		},
		{
			"shape null",
			rawFile(`{"w": {"dtype": "F32", "shape": null, "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "shape is null, want an array of integers"},
		},
		{
			"shape element a string",
			rawFile(`{"w": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "shape element 0 is a string, want an integer"},
		},
		{
			"shape element a fraction",
			rawFile(`{"w": {"dtype": "F32", "shape": [2, 1.5], "data_offsets": [0, 12]}}`, 12),
			[]string{`tensor "w"`, "shape element 1 is 1.5, want an integer"},
		},
		{
			"shape element an exponent",
			rawFile(`{"w": {"dtype": "F32", "shape": [1e2], "data_offsets": [0, 400]}}`, 400),
			[]string{`tensor "w"`, "shape element 0 is 1e2, want an integer"},
		},
		{
			"shape element beyond int64",
			rawFile(`{"w": {"dtype": "F32", "shape": [9223372036854775808], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "shape element 0 is 9223372036854775808"},
		},
		{
			"negative dimension",
			rawFile(`{"w": {"dtype": "F32", "shape": [3, -1], "data_offsets": [0, 12]}}`, 12),
			[]string{`tensor "w"`, "shape [3 -1] has negative dimension -1"},
		},
		{
			"element count overflow",
			rawFile(`{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "shape [4294967296 4294967296]: element count overflows"},
		},
		{
			"byte count overflow",
			rawFile(`{"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensor "w"`, "F32 [4611686018427387904]: byte count overflows"},
		},
		{
			"data_offsets an object",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": {"begin": 0}}}`, 4),
			[]string{`tensor "w"`, "data_offsets is an object, want an array of integers"},
		},
		{
			"data_offsets one element",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}}`, 4),
			[]string{`tensor "w"`, "data_offsets has 1 elements, want 2"},
		},
		{
			"data_offsets three elements",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}`, 8),
			[]string{`tensor "w"`, "data_offsets has 3 elements, want 2"},
		},
		{
			"data_offsets negative",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}`, 4),
			[]string{`tensor "w"`, "data_offsets [-4, 0) are negative"},
		},
		{
			"data_offsets a boolean",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, true]}}`, 4),
			[]string{`tensor "w"`, "data_offsets element 1 is a boolean, want an integer"},
		},
		{
			"data_offsets reversed",
			rawFile(`{"h.0.mlp.c_fc.weight": {"dtype": "U8", "shape": [4], "data_offsets": [12, 8]}}`, 16),
			[]string{`tensor "h.0.mlp.c_fc.weight": data_offsets [12, 8) are reversed`},
		},
		{
			"size mismatch",
			rawFile(`{"h.0.attn.c_attn.weight": {"dtype": "F32", "shape": [16, 16], "data_offsets": [0, 1000]}}`, 1024),
			[]string{`tensor "h.0.attn.c_attn.weight": holds 1000 bytes, F32 [16 16] needs 1024`},
		},
		{
			"size mismatch F16",
			rawFile(`{"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 12]}}`, 12),
			[]string{`tensor "w": holds 12 bytes, F16 [3] needs 6`},
		},
		{
			"size mismatch scalar",
			rawFile(`{"w": {"dtype": "F64", "shape": [], "data_offsets": [0, 4]}}`, 8),
			[]string{`tensor "w": holds 4 bytes, F64 [] needs 8`},
		},
		{
			"truncated data",
			rawFile(`{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}, "wte": {"dtype": "F32", "shape": [16, 16], "data_offsets": [8, 1032]}}`, 1000),
			[]string{`file truncated: tensor "wte" ends at byte 1032 but data has 1000 bytes`},
		},
		{
			"truncated unknown dtype",
			rawFile(`{"w": {"dtype": "F4", "shape": [8], "data_offsets": [0, 4]}}`, 3),
			[]string{`file truncated: tensor "w" ends at byte 4 but data has 3 bytes`},
		},
		{
			"overlap",
			rawFile(`{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [12, 28]}}`, 28),
			[]string{`tensors "a" [0, 16) and "b" [12, 28) overlap`},
		},
		{
			"overlap contained",
			rawFile(`{"big": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}, "small": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}}`, 16),
			[]string{`tensors "big" [0, 16) and "small" [4, 6) overlap`},
		},
		{
			"overlap identical",
			rawFile(`{"x": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "y": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}`, 4),
			[]string{`tensors "x" [0, 4) and "y" [0, 4) overlap`},
		},
		{
			"metadata an array",
			rawFile(`{"__metadata__": ["pt"]}`, 0),
			[]string{"__metadata__ is an array, want an object of strings"},
		},
		{
			"metadata value a number",
			rawFile(`{"__metadata__": {"format": "pt", "step": 3}}`, 0),
			[]string{`__metadata__ key "step" is a number, want a string`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.file)
			if err == nil {
				t.Fatalf("Parse succeeded with tensors %v, want an error containing %q", f.Names(), tt.want)
			}
			got := err.Error()
			if !strings.HasPrefix(got, "safetensors: ") {
				t.Errorf("got error %q, want prefix %q", got, "safetensors: ")
			}
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("got error %q, want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name     string
		file     []byte
		want     []TensorInfo
		metadata map[string]string
	}{
		{"no tensors", rawFile(`{}`, 0), nil, nil},
		{"padded header", rawFile(`{}      `, 0), nil, nil},
		{"whitespace everywhere", rawFile(" \n{ \"w\" : { \"dtype\" : \"U8\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] } }\t ", 2),
			[]TensorInfo{{Name: "w", DType: U8, Shape: []int{2}, Begin: 0, End: 2}}, nil},
		{
			"metadata",
			rawFile(`{"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}`, 24),
			[]TensorInfo{{Name: "w", DType: F32, Shape: []int{2, 3}, Begin: 0, End: 24}},
			map[string]string{"format": "pt"},
		},
		{"null metadata", rawFile(`{"__metadata__": null}`, 0), nil, nil},
		{
			"unknown fields ignored",
			rawFile(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "note": [1, {}]}}`, 4),
			[]TensorInfo{{Name: "w", DType: F32, Shape: []int{1}, Begin: 0, End: 4}},
			nil,
		},
		{
			"scalar and empty tensors",
			rawFile(`{"s": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]}, "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [4, 4]}}`, 8),
			[]TensorInfo{
				{Name: "e", DType: F32, Shape: []int{0, 5}, Begin: 4, End: 4},
				{Name: "s", DType: F64, Shape: []int{}, Begin: 0, End: 8},
			},
			nil,
		},
		{
			"zero dimension beside huge ones",
			rawFile(`{"e": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}}`, 0),
			[]TensorInfo{{Name: "e", DType: F32, Shape: []int{4294967296, 4294967296, 0}}},
			nil,
		},
		{
			"unknown dtype skips the size check",
			rawFile(`{"q": {"dtype": "F4", "shape": [8], "data_offsets": [0, 4]}}`, 4),
			[]TensorInfo{{Name: "q", DType: "F4", Shape: []int{8}, Begin: 0, End: 4}},
			nil,
		},
		{
			"gaps and trailing bytes allowed",
			rawFile(`{"b": {"dtype": "I16", "shape": [2], "data_offsets": [8, 12]}, "a": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}`, 20),
			[]TensorInfo{
				{Name: "a", DType: BOOL, Shape: []int{1}, Begin: 0, End: 1},
				{Name: "b", DType: I16, Shape: []int{2}, Begin: 8, End: 12},
			},
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.file)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var wantNames []string
			for _, w := range tt.want {
				wantNames = append(wantNames, w.Name)
			}
			if got, want := f.Names(), wantNames; !slices.Equal(got, want) {
				t.Errorf("Names() = %q, want %q", got, want)
			}
			for _, want := range tt.want {
				got, ok := f.Info(want.Name)
				if !ok {
					t.Fatalf("Info(%q) not found", want.Name)
				}
				if got.Name != want.Name || got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || got.Begin != want.Begin || got.End != want.End {
					t.Errorf("Info(%q) = %+v, want %+v", want.Name, got, want)
				}
			}
			got, want := f.Metadata(), tt.metadata
			if len(got) != len(want) {
				t.Errorf("Metadata() = %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("Metadata()[%q] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestInfoReturnsCopy(t *testing.T) {
	f, err := Parse(rawFile(`{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"k": "v"}}`, 8))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Info("w")
	info.Shape[0] = 99
	f.Names()[0] = "changed"
	f.Metadata()["k"] = "changed"
	if got, _ := f.Info("w"); got.Shape[0] != 2 {
		t.Errorf("after changing a returned shape, Info shape = %v, want [2]", got.Shape)
	}
	if got, want := f.Names()[0], "w"; got != want {
		t.Errorf("after changing returned names, Names()[0] = %q, want %q", got, want)
	}
	if got, want := f.Metadata()["k"], "v"; got != want {
		t.Errorf("after changing returned metadata, Metadata()[k] = %q, want %q", got, want)
	}
	if _, ok := f.Info("__metadata__"); ok {
		t.Errorf("Info(__metadata__) found, want not found")
	}
}

func TestNumElements(t *testing.T) {
	tests := []struct {
		shape []int
		want  int
	}{
		{nil, 1},
		{[]int{}, 1},
		{[]int{7}, 7},
		{[]int{2, 3, 4}, 24},
		{[]int{5, 0, 3}, 0},
		{[]int{math.MaxInt32, 2}, 2 * math.MaxInt32},
		{[]int{math.MaxInt, math.MaxInt, 0}, 0},
		{[]int{math.MaxInt, 2}, 0},
		{[]int{3, -1}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.shape), func(t *testing.T) {
			if got := (TensorInfo{Shape: tt.shape}).NumElements(); got != tt.want {
				t.Errorf("NumElements(%v) = %d, want %d", tt.shape, got, tt.want)
			}
		})
	}
}
