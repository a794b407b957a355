package threshold

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/llmbench/llmbench/internal/stats"
)

// ops are the comparison operators, longest first so that the longest
// match wins.
var ops = []string{"===", "==", "!=", "<=", ">=", "<", ">"}

// parseExpr parses "<aggregation> <op> <number>", spaces anywhere between
// the parts (and inside p( N )).
func parseExpr(expr string) (Threshold, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return Threshold{}, errors.New("empty expression")
	}
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return Threshold{}, errors.New("no operator (want one of <, <=, >, >=, ==, ===, !=)")
	}
	var op string
	for _, o := range ops {
		if strings.HasPrefix(s[i:], o) {
			op = o
			break
		}
	}
	if op == "" {
		j := i
		for j < len(s) && strings.IndexByte("<>=!", s[j]) >= 0 {
			j++
		}
		return Threshold{}, fmt.Errorf("unknown operator %q (want one of <, <=, >, >=, ==, ===, !=)", s[i:j])
	}
	t := Threshold{Expr: expr, Op: op}
	var err error
	if t.Agg, t.Pct, err = parseAgg(s[:i]); err != nil {
		return Threshold{}, err
	}
	num := strings.TrimSpace(s[i+len(op):])
	if strings.ContainsAny(num, "<>=!") {
		return Threshold{}, fmt.Errorf("value %q is not a number", num)
	}
	t.Value, err = strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
		if num == "" {
			return Threshold{}, fmt.Errorf("no value after %s", op)
		}
		return Threshold{}, fmt.Errorf("value %q is not a number", num)
	}
	return t, nil
}

// parseAgg reads the aggregation and returns its summary value key.
func parseAgg(s string) (agg string, pct float64, err error) {
	a := strings.Join(strings.Fields(s), "")
	switch a {
	case "count", "rate", "value", "avg", "min", "max", "med":
		return a, 0, nil
	case "":
		return "", 0, errors.New("no aggregation before the operator")
	}
	if inner, ok := strings.CutPrefix(a, "p("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return "", 0, fmt.Errorf("aggregation %q: want p(N)", a)
		}
		pct, err := strconv.ParseFloat(inner, 64)
		if err != nil {
			return "", 0, fmt.Errorf("aggregation %q: percentile %q is not a number", a, inner)
		}
		if !(pct >= 0 && pct <= 100) {
			return "", 0, fmt.Errorf("aggregation %q: percentile %s out of range [0, 100]", a, inner)
		}
		return stats.PercentileKey(pct), pct, nil
	}
	if rest, ok := strings.CutPrefix(a, "p"); ok {
		if _, err := strconv.ParseFloat(rest, 64); err == nil {
			return "", 0, fmt.Errorf("unknown aggregation %q (want p(%s))", a, rest)
		}
	}
	return "", 0, fmt.Errorf("unknown aggregation %q (want count, rate, value, avg, min, med, max or p(N))", a)
}

// Check reports whether the threshold holds for a metric's summary values
// (runfmt.Metric.Values). It fails with an error when values has no entry
// for the threshold's aggregation. A NaN value never holds.
func (t Threshold) Check(values map[string]float64) (bool, error) {
	v, ok := values[t.Agg]
	if !ok {
		return false, fmt.Errorf("check %s: no %s value", t, t.Agg)
	}
	switch t.Op {
	case "<":
		return v < t.Value, nil
	case "<=":
		return v <= t.Value, nil
	case ">":
		return v > t.Value, nil
	case ">=":
		return v >= t.Value, nil
	case "==", "===":
		return v == t.Value, nil
	case "!=":
		return v != t.Value && !math.IsNaN(v), nil
	}
	return false, fmt.Errorf("check %s: unknown operator %q", t, t.Op)
}
