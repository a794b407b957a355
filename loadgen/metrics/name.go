package metrics

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MaxNameLen is the longest metric name k6 accepts.
const MaxNameLen = 128

// ValidName reports whether name is a valid metric name: 1 to 128
// characters of a-z, A-Z, 0-9 and _, not starting with a digit (k6's rule).
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Tag is one name:value pair of a sub-metric selector.
type Tag struct {
	Key, Value string
}

// ParseKey splits a metric key, either a plain name ("llm_ttft") or a
// sub-metric selector in k6's syntax ("llm_ttft{scenario:chat,status:200}"),
// into the metric name and its tag pairs, sorted by tag name. Whitespace
// around names, keys and values is ignored, a value may be wrapped in one
// pair of matching quotes, and only the first colon of a pair separates
// the key from the value, so "group_duration{group:::chat}" selects the
// group "::chat". As in k6, a value cannot contain a comma or a closing
// brace.
func ParseKey(key string) (name string, tags []Tag, err error) {
	s := strings.TrimSpace(key)
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if !ValidName(s) {
			return "", nil, fmt.Errorf("metric %q: %w", key, errBadName)
		}
		return s, nil, nil
	}
	name = strings.TrimSpace(s[:open])
	if !ValidName(name) {
		return "", nil, fmt.Errorf("metric %q: %w", key, errBadName)
	}
	if !strings.HasSuffix(s, "}") {
		return "", nil, fmt.Errorf("metric %q: selector does not end with }", key)
	}
	inner := strings.TrimSpace(s[open+1 : len(s)-1])
	if inner == "" {
		return "", nil, fmt.Errorf("metric %q: empty selector {}", key)
	}
	for _, pair := range strings.Split(inner, ",") {
		k, v, ok := strings.Cut(pair, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return "", nil, fmt.Errorf("metric %q: tag %q: want name:value", key, strings.TrimSpace(pair))
		}
		if strings.ContainsAny(k, "{}") {
			return "", nil, fmt.Errorf("metric %q: tag name %q has a brace", key, k)
		}
		v = unquote(strings.TrimSpace(v))
		for _, t := range tags {
			if t.Key == k {
				return "", nil, fmt.Errorf("metric %q: tag %q given twice", key, k)
			}
		}
		tags = append(tags, Tag{Key: k, Value: v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return name, tags, nil
}

var errBadName = errors.New("invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)")

// quoteIfNeeded wraps v in double quotes when ParseKey would otherwise
// change it (it has spaces at an end, or is itself quoted), so that
// parsing a canonical key gives it back unchanged.
func quoteIfNeeded(v string) string {
	if v != strings.TrimSpace(v) || unquote(v) != v {
		return `"` + v + `"`
	}
	return v
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// Key is the canonical key of a metric or sub-metric: the name alone when
// there are no tags, else name{k1:v1,k2:v2} with the tags in the given
// order and no spaces; a value that has spaces at an end, or is itself
// wrapped in quotes, is wrapped in double quotes, so that ParseKey gives
// it back. With tags from ParseKey it is the form the summary uses for its
// map keys, and the form package threshold gives Threshold.Metric.
func Key(name string, tags []Tag) string {
	if len(tags) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Key)
		b.WriteByte(':')
		b.WriteString(quoteIfNeeded(t.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// CanonicalKey parses key with ParseKey and returns its canonical form.
func CanonicalKey(key string) (string, error) {
	name, tags, err := ParseKey(key)
	if err != nil {
		return "", err
	}
	return Key(name, tags), nil
}
