// Package threshold parses and checks k6 thresholds: the pass/fail
// criteria in a script's options.thresholds, such as
//
//	thresholds: {
//	  llm_ttft: ['p(95)<1000'],
//	  'llm_ttft{scenario:chat}': [{ threshold: 'p(99) < 2000', abortOnFail: true, delayAbortEval: '10s' }],
//	  llm_errors: ['count<10'],
//	}
//
// Parse turns the options' JSON into Thresholds, Validate checks them
// against the run's metrics once the script's init has registered them,
// and an Evaluator checks them against the summary's values, during the
// run (to abort early) and at its end (for the exit code). Everything here
// is a pure function of its arguments: the runner owns the clock.
//
// Metric keys are kept in the canonical form that package metrics uses
// for its summary: name{tag:value,...} with the tags sorted by name and no
// spaces. Aggregations are the summary's value keys: count and rate for a
// counter, value for a gauge, rate for a rate, avg, min, med, max and
// p(N) for a trend, with N written the shortest way (p(95), p(99.9)).
package threshold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/llmbench/llmbench/loadgen/executor"
)

// Threshold is one threshold expression on one metric or sub-metric.
type Threshold struct {
	// Metric is the key the threshold is on, in canonical form:
	// "llm_ttft" or "llm_ttft{scenario:chat}".
	Metric string
	// Expr is the expression as the script wrote it; summary.json keys the
	// threshold's result by it.
	Expr string
	// Agg is the aggregation, as the summary's values name it: count, rate,
	// value, avg, min, med, max or p(N).
	Agg string
	// Pct is N of an aggregation p(N), from 0 to 100.
	Pct float64
	// Op is the comparison: <, <=, >, >=, ==, === or !=. (=== means ==.)
	Op string
	// Value is the number the aggregation is compared with.
	Value float64
	// AbortOnFail asks the runner to stop the run as soon as the threshold
	// fails, once DelayAbortEval has passed since the run started.
	AbortOnFail    bool
	DelayAbortEval time.Duration
}

// Name is the metric's name without a sub-metric's tags.
func (t Threshold) Name() string {
	name, _, _ := strings.Cut(t.Metric, "{")
	return name
}

// String is the threshold as the summary reports it: key 'expr'.
func (t Threshold) String() string { return t.Metric + " '" + t.Expr + "'" }

// Parse reads options.thresholds: a JSON object that maps a metric key to
// an array of expressions, each a string or an object with the fields
// threshold, abortOnFail and delayAbortEval (a duration string such as
// "10s", or a number of milliseconds; field names match regardless of
// case, as Go's encoding/json matches them, and an unknown field is an
// error). It returns the thresholds in the
// order the object lists them. Empty input or null gives none. Errors
// name the key, the index and the expression, e.g.
//
//	thresholds["llm_ttft"][1] "p95<500": unknown aggregation "p95" (want p(95))
func Parse(raw json.RawMessage) ([]Threshold, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	keys, values, err := objectInOrder(raw)
	if err != nil {
		return nil, fmt.Errorf("parse thresholds: %w", err)
	}
	var out []Threshold
	var errs []error
	for i, key := range keys {
		canon, err := canonicalKey(key)
		if err != nil {
			errs = append(errs, fmt.Errorf("thresholds[%q]: %w", key, err))
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(values[i], &items); err != nil || items == nil {
			errs = append(errs, fmt.Errorf("thresholds[%q]: want an array of expressions, got %s", key, brief(values[i])))
			continue
		}
		for j, item := range items {
			t, expr, err := parseItem(item)
			if err != nil && expr != "" {
				errs = append(errs, fmt.Errorf("thresholds[%q][%d] %q: %w", key, j, expr, err))
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("thresholds[%q][%d]: %w", key, j, err))
				continue
			}
			t.Metric = canon
			out = append(out, t)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// objectInOrder splits a JSON object into its keys, in order, and values.
// A key given twice is an error: JavaScript would keep only the last one,
// silently.
func objectInOrder(raw []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("want an object of metric keys, got %s", brief(raw))
	}
	var keys []string
	var values []json.RawMessage
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("thresholds[%q]: %w", key, err)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("thresholds[%q]: key given twice", key)
		}
		seen[key] = true
		keys, values = append(keys, key), append(values, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if dec.More() {
		return nil, nil, errors.New("trailing data after the object")
	}
	return keys, values, nil
}

// longForm is an expression in its object form.
type longForm struct {
	Threshold      *string         `json:"threshold"`
	AbortOnFail    bool            `json:"abortOnFail"`
	DelayAbortEval json.RawMessage `json:"delayAbortEval"`
}

// parseItem parses one array entry. It returns the expression, when it got
// that far, for the error message.
func parseItem(item json.RawMessage) (t Threshold, expr string, err error) {
	if string(bytes.TrimSpace(item)) == "null" {
		return Threshold{}, "", errors.New("want an expression string or an object, got null")
	}
	if json.Unmarshal(item, &expr) == nil {
		t, err := parseExpr(expr)
		return t, expr, err
	}
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.DisallowUnknownFields()
	var lf longForm
	if err := dec.Decode(&lf); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return Threshold{}, "", fmt.Errorf("want an expression string or an object, got %s", brief(item))
		case errors.As(err, &typeErr):
			return Threshold{}, "", fmt.Errorf("field %s: want a %s, got %s", typeErr.Field, kindOf(typeErr.Field), typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Threshold{}, "", fmt.Errorf("%s (want threshold, abortOnFail, delayAbortEval)", strings.TrimPrefix(err.Error(), "json: "))
		}
		return Threshold{}, "", err
	}
	if lf.Threshold == nil {
		return Threshold{}, "", errors.New(`object has no "threshold" field`)
	}
	expr = *lf.Threshold
	if t, err = parseExpr(expr); err != nil {
		return Threshold{}, expr, err
	}
	t.AbortOnFail = lf.AbortOnFail
	if t.DelayAbortEval, err = parseDelay(lf.DelayAbortEval); err != nil {
		return Threshold{}, expr, fmt.Errorf("delayAbortEval %s: %w", brief(lf.DelayAbortEval), err)
	}
	return t, expr, nil
}

func kindOf(field string) string {
	switch field {
	case "threshold":
		return "string"
	case "abortOnFail":
		return "boolean"
	}
	return "value"
}

// parseDelay reads delayAbortEval as k6 reads durations
// (executor.ParseDurationJSON): a string such as "10s" or "1d", or a number
// of milliseconds. Absent or null is zero.
func parseDelay(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	d, err := executor.ParseDurationJSON(raw)
	if err != nil {
		return 0, errors.New("want a duration like \"10s\" or a number of milliseconds")
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

// brief shortens raw JSON for an error message.
func brief(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

// canonicalKey checks a metric key and returns it in the canonical form
// (see the package comment). It follows package metrics' ParseKey, which
// this package does not import: names are 1 to 128 characters of a-z,
// A-Z, 0-9 and _, not starting with a digit; tags are name:value pairs,
// split at the first colon, trimmed of spaces and of one pair of matching
// quotes around the value, sorted by name; a value that parsing would
// change is written in double quotes.
func canonicalKey(key string) (string, error) {
	s := strings.TrimSpace(key)
	name, sel, hasSel := strings.Cut(s, "{")
	name = strings.TrimSpace(name)
	if !validName(name) {
		return "", fmt.Errorf("invalid metric name %q (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)", name)
	}
	if !hasSel {
		return name, nil
	}
	inner, ok := strings.CutSuffix(sel, "}")
	if !ok {
		return "", errors.New("selector does not end with }")
	}
	inner = strings.TrimSpace(inner)
	if inner == "" {
		return "", errors.New("empty selector {}")
	}
	type tag struct{ k, v string }
	var tags []tag
	for _, pair := range strings.Split(inner, ",") {
		k, v, ok := strings.Cut(pair, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return "", fmt.Errorf("tag %q: want name:value", strings.TrimSpace(pair))
		}
		if strings.ContainsAny(k, "{}") {
			return "", fmt.Errorf("tag name %q has a brace", k)
		}
		v = unquote(strings.TrimSpace(v))
		for _, t := range tags {
			if t.k == k {
				return "", fmt.Errorf("tag %q given twice", k)
			}
		}
		tags = append(tags, tag{k, v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].k < tags[j].k })
	var b strings.Builder
	b.WriteString(name + "{")
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.k + ":")
		// Quote a value that parsing would change, so that a canonical
		// key parses back to itself.
		if t.v != strings.TrimSpace(t.v) || unquote(t.v) != t.v {
			b.WriteString(`"` + t.v + `"`)
		} else {
			b.WriteString(t.v)
		}
	}
	b.WriteByte('}')
	return b.String(), nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
