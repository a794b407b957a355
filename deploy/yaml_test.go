package deploy_test

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The deploy files are YAML, and go.mod requires no YAML module directly
// (go.yaml.in/yaml is only an indirect dependency, and importing it would
// change go.mod). So the tests read them with parseYAML, a strict reader of
// the subset those files are written in:
//
//   - block mappings and block sequences (also a sequence at its key's
//     indentation, as Kubernetes manifests often write it);
//   - plain, 'single-quoted' and "double-quoted" scalars, all read as
//     strings (the tests convert where they need numbers);
//   - one-line flow collections: [a, b] and {k: v, l: [x]};
//   - literal block scalars (| and |-);
//   - comments and "---" between documents.
//
// Anything else (anchors, aliases, tags, folded scalars, multi-line flow
// collections, complex keys, tabs for indentation, duplicate keys) is an
// error, so a construct this reader does not know fails the test instead of
// being misread. A mapping is a map[string]any, a sequence a []any, a scalar
// a string, and an empty value nil.

// yamlLine is one line of the input with its indentation.
type yamlLine struct {
	no     int    // 1-based line number
	indent int    // leading spaces
	text   string // without the indentation and the comment
	raw    string // the whole line, for block scalars
}

type yamlParser struct {
	lines []yamlLine
	pos   int
}

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
	var docs []any
	var cur []yamlLine
	flush := func() error {
		p := &yamlParser{lines: cur}
		cur = nil
		if p.skipBlank(); p.pos == len(p.lines) {
			return nil
		}
		v, err := p.node(0)
		if err != nil {
			return err
		}
		if p.skipBlank(); p.pos < len(p.lines) {
			l := p.lines[p.pos]
			return fmt.Errorf("line %d: unexpected %q (bad indentation?)", l.no, l.text)
		}
		docs = append(docs, v)
		return nil
	}
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		if raw == "---" || strings.HasPrefix(raw, "--- ") {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		body := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(body, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		text, err := stripComment(body)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		cur = append(cur, yamlLine{no: i + 1, indent: len(raw) - len(body), text: strings.TrimRight(text, " \t"), raw: raw})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

// stripComment cuts a " #" comment that is outside quotes.
func stripComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
			} else {
				quote = 0
			}
		case quote == '"' && c == '\\':
			i++
		case quote == '"' && c == '"':
			quote = 0
		case quote != 0:
		case (c == '\'' || c == '"') && (i == 0 || strings.ContainsRune(" [{,:-", rune(s[i-1]))):
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i], nil
		}
	}
	return s, nil
}

func (p *yamlParser) skipBlank() {
	for p.pos < len(p.lines) && p.lines[p.pos].text == "" {
		p.pos++
	}
}

// node reads the block node that starts at the current line, whose
// indentation must be at least min.
func (p *yamlParser) node(min int) (any, error) {
	p.skipBlank()
	if p.pos == len(p.lines) {
		return nil, nil
	}
	l := p.lines[p.pos]
	if l.indent < min {
		return nil, nil
	}
	if isSeqItem(l.text) {
		return p.seq(l.indent)
	}
	if _, _, ok, err := splitKey(l.text); err != nil {
		return nil, fmt.Errorf("line %d: %w", l.no, err)
	} else if ok {
		return p.mapping(l.indent)
	}
	p.pos++
	v, err := inline(l.text)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", l.no, err)
	}
	return v, nil
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// mapping reads the block mapping whose keys are at indent.
func (p *yamlParser) mapping(indent int) (any, error) {
	m := map[string]any{}
	for p.skipBlank(); p.pos < len(p.lines); p.skipBlank() {
		l := p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && isSeqItem(l.text)) {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.no)
		}
		key, rest, ok, err := splitKey(l.text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.no, err)
		}
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", l.no, l.text)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.no, key)
		}
		p.pos++
		v, err := p.value(l, indent, rest)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	return m, nil
}

// value reads what follows "key:" or "- " on line l, whose parent node is at
// indent: an inline value, a block scalar, or a nested block.
func (p *yamlParser) value(l yamlLine, indent int, rest string) (any, error) {
	switch {
	case rest == "|" || rest == "|-":
		return p.blockScalar(indent, rest == "|-"), nil
	case rest != "":
		v, err := inline(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.no, err)
		}
		return v, nil
	}
	p.skipBlank()
	if p.pos == len(p.lines) {
		return nil, nil
	}
	next := p.lines[p.pos]
	if next.indent > indent {
		return p.node(indent + 1)
	}
	if next.indent == indent && isSeqItem(next.text) && !isSeqItem(l.text) {
		return p.seq(indent) // a sequence at its key's indentation
	}
	return nil, nil
}

// seq reads the block sequence whose dashes are at indent.
func (p *yamlParser) seq(indent int) (any, error) {
	s := []any{}
	for p.skipBlank(); p.pos < len(p.lines); p.skipBlank() {
		l := p.lines[p.pos]
		if l.indent != indent || !isSeqItem(l.text) {
			if l.indent > indent {
				return nil, fmt.Errorf("line %d: unexpected indentation", l.no)
			}
			break
		}
		content := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if content == "" {
			p.pos++
			v, err := p.value(l, indent, "")
			if err != nil {
				return nil, err
			}
			s = append(s, v)
			continue
		}
		col := indent + len(l.text) - len(content)
		_, _, isKey, err := splitKey(content)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.no, err)
		}
		if isKey || isSeqItem(content) {
			// "- key: v" or "- - v": the item is a block node whose first
			// line starts at the content's column.
			p.lines[p.pos] = yamlLine{no: l.no, indent: col, text: content, raw: l.raw}
			v, err := p.node(col)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
			continue
		}
		p.pos++
		v, err := p.value(yamlLine{no: l.no, text: "- " + content}, indent, content)
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

// blockScalar reads the lines of a literal block scalar, more indented than
// indent, keeping their relative indentation.
func (p *yamlParser) blockScalar(indent int, strip bool) string {
	var lines []string
	blockIndent := -1
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		body := strings.TrimLeft(l.raw, " ")
		if body != "" && len(l.raw)-len(body) <= indent {
			break
		}
		if blockIndent < 0 && body != "" {
			blockIndent = len(l.raw) - len(body)
		}
		if len(l.raw) >= blockIndent && blockIndent >= 0 {
			lines = append(lines, l.raw[blockIndent:])
		} else {
			lines = append(lines, "")
		}
		p.pos++
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	s := strings.Join(lines, "\n")
	if !strip && s != "" {
		s += "\n"
	}
	return s
}

// splitKey splits "key: rest" (or "key:"); ok is false when text is not a
// mapping entry.
func splitKey(text string) (key, rest string, ok bool, err error) {
	if strings.HasPrefix(text, "? ") {
		return "", "", false, fmt.Errorf("complex keys are not supported")
	}
	i := 0
	if text != "" && (text[0] == '"' || text[0] == '\'') {
		end, err := quotedEnd(text)
		if err != nil {
			return "", "", false, err
		}
		i = end
		if i < len(text) && text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ') {
			k, err := unquote(text[:i])
			return k, strings.TrimSpace(text[i+1:]), true, err
		}
		return "", "", false, nil
	}
	if text != "" && strings.ContainsRune("[{", rune(text[0])) {
		return "", "", false, nil
	}
	for ; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ') {
			return strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+1:]), true, nil
		}
	}
	return "", "", false, nil
}

// quotedEnd is the index just past the quoted scalar that text starts with.
func quotedEnd(text string) (int, error) {
	q := text[0]
	for i := 1; i < len(text); i++ {
		switch {
		case q == '"' && text[i] == '\\':
			i++
		case text[i] == q && q == '\'' && i+1 < len(text) && text[i+1] == '\'':
			i++
		case text[i] == q:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quoted scalar %s", text)
}

func unquote(s string) (string, error) {
	if s[0] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	v, err := strconv.Unquote(s)
	if err != nil {
		return "", fmt.Errorf("double-quoted scalar %s: %w", s, err)
	}
	return v, nil
}

// inline reads a one-line value: a flow collection or a scalar.
func inline(text string) (any, error) {
	switch {
	case text == "" || text == "~" || text == "null":
		return nil, nil
	case strings.ContainsRune("&*!>|%@`", rune(text[0])):
		return nil, fmt.Errorf("unsupported YAML construct %q", text)
	case text[0] == '[' || text[0] == '{':
		f := &flowParser{s: text}
		v, err := f.value()
		if err != nil {
			return nil, err
		}
		if f.skipSpace(); f.i != len(f.s) {
			return nil, fmt.Errorf("trailing text after %q", f.s[:f.i])
		}
		return v, nil
	case text[0] == '"' || text[0] == '\'':
		end, err := quotedEnd(text)
		if err != nil {
			return nil, err
		}
		if end != len(text) {
			return nil, fmt.Errorf("text after quoted scalar %q", text)
		}
		return unquote(text)
	}
	return text, nil
}

// flowParser reads one-line flow collections.
type flowParser struct {
	s string
	i int
}

func (f *flowParser) skipSpace() {
	for f.i < len(f.s) && f.s[f.i] == ' ' {
		f.i++
	}
}

func (f *flowParser) value() (any, error) {
	f.skipSpace()
	if f.i == len(f.s) {
		return nil, fmt.Errorf("unterminated flow collection %q", f.s)
	}
	switch f.s[f.i] {
	case '[':
		f.i++
		out := []any{}
		for {
			if f.skipSpace(); f.i < len(f.s) && f.s[f.i] == ']' {
				f.i++
				return out, nil
			}
			v, err := f.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			if err := f.sep(']'); err != nil {
				return nil, err
			}
		}
	case '{':
		f.i++
		out := map[string]any{}
		for {
			if f.skipSpace(); f.i < len(f.s) && f.s[f.i] == '}' {
				f.i++
				return out, nil
			}
			kv, err := f.scalar(true)
			if err != nil {
				return nil, err
			}
			k, _ := kv.(string)
			if f.skipSpace(); f.i == len(f.s) || f.s[f.i] != ':' {
				return nil, fmt.Errorf("flow mapping %q: want ':' after key %q", f.s, k)
			}
			f.i++
			v, err := f.value()
			if err != nil {
				return nil, err
			}
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("flow mapping %q: duplicate key %q", f.s, k)
			}
			out[k] = v
			if err := f.sep('}'); err != nil {
				return nil, err
			}
		}
	}
	return f.scalar(false)
}

// sep consumes a ',' or leaves the closing bracket for the caller.
func (f *flowParser) sep(closing byte) error {
	f.skipSpace()
	switch {
	case f.i < len(f.s) && f.s[f.i] == ',':
		f.i++
		return nil
	case f.i < len(f.s) && f.s[f.i] == closing:
		return nil
	}
	return fmt.Errorf("flow collection %q: want ',' or %q at column %d", f.s, closing, f.i+1)
}

// scalar reads a flow scalar; a key ends at ':', a value at ',' or a
// closing bracket.
func (f *flowParser) scalar(key bool) (any, error) {
	f.skipSpace()
	if f.i < len(f.s) && (f.s[f.i] == '"' || f.s[f.i] == '\'') {
		end, err := quotedEnd(f.s[f.i:])
		if err != nil {
			return nil, err
		}
		v, err := unquote(f.s[f.i : f.i+end])
		f.i += end
		return v, err
	}
	start := f.i
	for f.i < len(f.s) {
		c := f.s[f.i]
		if c == ',' || c == ']' || c == '}' || (key && c == ':') || (!key && c == ':' && f.i+1 < len(f.s) && f.s[f.i+1] == ' ') {
			break
		}
		f.i++
	}
	v := strings.TrimSpace(f.s[start:f.i])
	if v == "" && !key {
		return nil, nil
	}
	if v != "" && strings.ContainsRune("&*!|>[{", rune(v[0])) {
		return nil, fmt.Errorf("unsupported flow scalar %q", v)
	}
	return v, nil
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
		{"folded", "a: >\n  x\n"},
		{"unterminated flow", "a: [x, y\n"},
		{"unterminated quote", "a: \"x\n"},
		{"bad indentation", "a:\n    b: 1\n  c: 2\n"},
		{"tab", "a:\n\tb: 1\n"},
		{"complex key", "? a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseYAML(tt.src); err == nil {
				t.Errorf("got %#v and no error, want an error", got)
			}
		})
	}
}
