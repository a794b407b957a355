package jsonerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	type doc struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name, data string
		want       string // in the error; "" for none
	}{
		{"fine", `{"name": "x", "count": 2}`, ""},
		{"cut short", `{"name": "x",`, ErrEndsEarly.Error()},
		{"cut short with a newline", "{\"name\": \"x\",\n", ErrEndsEarly.Error()},
		{"empty", ``, ErrEmpty.Error()},
		{"blank", " \n", ErrEmpty.Error()},
		{"a missing comma", "{\n  \"name\": \"x\"\n  \"count\": 2\n}", "line 3 column 3: invalid character"},
		{"a wrong type", "{\n  \"name\": \"x\",\n  \"count\": \"two\"\n}", "line 3 column 16: json: cannot unmarshal string"},
		{"trailing garbage", `{"name": "x"} }`, "line 1 column 15: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Both of encoding/json's entry points, whose errors differ at
			// the end of the input.
			var v doc
			errs := []error{json.Unmarshal([]byte(tt.data), &v)}
			dec := json.NewDecoder(bytes.NewReader([]byte(tt.data)))
			if err := dec.Decode(&v); err != nil || !strings.Contains(tt.name, "trailing") {
				errs = append(errs, err)
			}
			for i, err := range errs {
				got := Describe([]byte(tt.data), err)
				switch {
				case tt.want == "" && got != nil:
					t.Errorf("entry point %d: %v, want nil", i, got)
				case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
					t.Errorf("entry point %d: %v, want %q", i, got, tt.want)
				}
			}
		})
	}
	if other := errors.New("read failed"); Describe(nil, other) != other {
		t.Error("an error that is not encoding/json's came back changed")
	}
}

// TestDescribeUnknownField: a key that DisallowUnknownFields refuses is
// named with where it is, unless it appears more than once.
func TestDescribeUnknownField(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type doc struct {
		Name  string  `json:"name"`
		Items []inner `json:"items"`
	}
	for _, tt := range []struct{ name, data, want string }{
		{"at the top", "{\n  \"name\": \"x\",\n  \"entries\": []\n}", `line 3 column 3: unknown field "entries"`},
		{"nested", "{\"items\": [{\"name\": \"a\"}, {\"nmae\": \"b\"}]}", `line 1 column 28: unknown field "nmae"`},
		{"space before the colon", "{\"nmae\" : 1}", `line 1 column 2: unknown field "nmae"`},
		{"also a value", "{\"name\": \"nmae\", \"nmae\": 1}", `line 1 column 18: unknown field "nmae"`},
		{"twice: no position", "{\"items\": [{\"nmae\": \"a\"}, {\"nmae\": \"b\"}]}", `unknown field "nmae"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dec := json.NewDecoder(strings.NewReader(tt.data))
			dec.DisallowUnknownFields()
			var v doc
			got := Describe([]byte(tt.data), dec.Decode(&v))
			if got == nil || got.Error() != tt.want {
				t.Errorf("got %v, want %q", got, tt.want)
			}
		})
	}
}
