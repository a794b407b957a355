package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// The deploy files are YAML, read with go.yaml.in/yaml/v3 into plain Go
// values: a mapping is a map[string]any, a sequence a []any, a scalar a
// string (the tests convert where they need numbers), and an empty value
// nil. Anchors, aliases, explicit tags and duplicate keys are refused,
// so that a construct the tests would misread
// fails them instead.

// parseYAMLFile reads the documents of a YAML file.
func parseYAMLFile(t *testing.T, path string) []any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return docs
}

// parseYAML reads every document of src.
func parseYAML(src string) ([]any, error) {
	dec := yaml.NewDecoder(strings.NewReader(src))
	var docs []any
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, err
		}
		v, err := plain(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

// plain turns a YAML node into the Go values described above.
func plain(n *yaml.Node) (any, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: anchors and aliases are not used in llmbench's deploy files", n.Line)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		return nil, fmt.Errorf("line %d: explicit tag %s", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plain(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := plain(n.Content[i])
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("line %d: a key that is not a scalar", n.Content[i].Line)
			}
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("line %d: key %q again", n.Content[i].Line, key)
			}
			if m[key], err = plain(n.Content[i+1]); err != nil {
				return nil, err
			}
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plain(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

// yamlAt walks a parsed document along keys (for mappings) and indexes
// (for sequences) and fails the test when the path is not there.
func yamlAt(t *testing.T, doc any, path ...any) any {
	t.Helper()
	cur := doc
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %v", path[:i+1], path[:i])
			}
			v, ok := m[k]
			if !ok {
				t.Fatalf("%v: no key %q", path[:i+1], k)
			}
			cur = v
		case int:
			s, ok := cur.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: no item %d", path[:i+1], k)
			}
			cur = s[k]
		default:
			t.Fatalf("yamlAt: bad path element %v", p)
		}
	}
	return cur
}

// yamlString is yamlAt for a scalar.
func yamlString(t *testing.T, doc any, path ...any) string {
	t.Helper()
	v := yamlAt(t, doc, path...)
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%v: got %T, want a scalar", path, v)
	}
	return s
}

// yamlStrings is yamlAt for a sequence of scalars.
func yamlStrings(t *testing.T, doc any, path ...any) []string {
	t.Helper()
	v := yamlAt(t, doc, path...)
	s, ok := v.([]any)
	if !ok {
		t.Fatalf("%v: got %T, want a sequence", path, v)
	}
	out := make([]string, len(s))
	for i, e := range s {
		if out[i], ok = e.(string); !ok {
			t.Fatalf("%v[%d]: got %T, want a scalar", path, i, e)
		}
	}
	return out
}

// yamlMap is yamlAt for a mapping.
func yamlMap(t *testing.T, doc any, path ...any) map[string]any {
	t.Helper()
	v := yamlAt(t, doc, path...)
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v: got %T, want a mapping", path, v)
	}
	return m
}

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []any
	}{
		{"scalars", "a: 1\nb: 'it''s'\nc: \"x\\ty\"\nd:\ne: http://x:1/y # comment\nf: '#not a comment'\n",
			[]any{map[string]any{"a": "1", "b": "it's", "c": "x\ty", "d": nil, "e": "http://x:1/y", "f": "#not a comment"}}},
		{"nested", "a:\n  b:\n    c: d\n  e: f\n",
			[]any{map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}, "e": "f"}}}},
		{"sequences", "a:\n  - x\n  - \"127.0.0.1:80:80\"\nb:\n- y\n- z\n",
			[]any{map[string]any{"a": []any{"x", "127.0.0.1:80:80"}, "b": []any{"y", "z"}}}},
		{"mappings in a sequence", "c:\n  - name: a\n    image: i:1\n  - name: b\n    env:\n      - name: X\n        value: \"1\"\n",
			[]any{map[string]any{"c": []any{
				map[string]any{"name": "a", "image": "i:1"},
				map[string]any{"name": "b", "env": []any{map[string]any{"name": "X", "value": "1"}}},
			}}}},
		{"flow", "a: [x, \"y, z\", [1, 2]]\nb: {driver: nvidia, count: 1, capabilities: [gpu]}\nc: []\n",
			[]any{map[string]any{"a": []any{"x", "y, z", []any{"1", "2"}}, "b": map[string]any{"driver": "nvidia", "count": "1", "capabilities": []any{"gpu"}}, "c": []any{}}}},
		{"block scalar", "a: |\n  line 1\n    line 2\n\n  line 3\nb: |-\n  x\n",
			[]any{map[string]any{"a": "line 1\n  line 2\n\nline 3\n", "b": "x"}}},
		{"documents", "# head\n---\na: 1\n---\nb: 2\n",
			[]any{map[string]any{"a": "1"}, map[string]any{"b": "2"}}},
		{"top-level sequence", "- a\n- b: c\n  d: e\n-\n  - f\n",
			[]any{[]any{"a", map[string]any{"b": "c", "d": "e"}, []any{"f"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseYAML(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseYAMLRejects(t *testing.T) {
	tests := []struct{ name, src string }{
		{"duplicate key", "a: 1\na: 2\n"},
		{"anchor", "a: &x 1\n"},
		{"alias", "a: *x\n"},
		{"tag", "a: !!str 1\n"},
		{"unterminated flow", "a: [x, y\n"},
		{"unterminated quote", "a: \"x\n"},
		{"tab", "a:\n\tb: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseYAML(tt.src); err == nil {
				t.Errorf("got %#v and no error, want an error", got)
			}
		})
	}
}
