package threshold

import (
	"errors"
	"fmt"
	"strings"
)

// aggsByType are the aggregations each metric type allows, as k6 has them.
var aggsByType = map[string][]string{
	"counter": {"count", "rate"},
	"gauge":   {"value"},
	"rate":    {"rate"},
	"trend":   {"avg", "min", "med", "max", "p(N)"},
}

// Validate checks every threshold against the run's metrics: the metric
// must exist, and the aggregation must fit its type (see the package
// comment). typeOf returns a metric's type (counter, gauge, rate or trend)
// by its name without tags, and whether it exists; metrics.Registry's
// TypeOf fits. It reports every problem, joined.
func Validate(ts []Threshold, typeOf func(metric string) (typ string, ok bool)) error {
	var errs []error
	for _, t := range ts {
		typ, ok := typeOf(t.Name())
		if !ok {
			errs = append(errs, fmt.Errorf("threshold %s: no metric %q", t, t.Name()))
			continue
		}
		allowed, known := aggsByType[typ]
		if !known {
			errs = append(errs, fmt.Errorf("threshold %s: metric %q has unknown type %q", t, t.Name(), typ))
			continue
		}
		if !fits(t.Agg, allowed) {
			errs = append(errs, fmt.Errorf("threshold %s: %s does not apply to %s %q (want %s)", t, t.Agg, typ, t.Name(), strings.Join(allowed, ", ")))
		}
	}
	return errors.Join(errs...)
}

func fits(agg string, allowed []string) bool {
	for _, a := range allowed {
		if a == agg || a == "p(N)" && strings.HasPrefix(agg, "p(") {
			return true
		}
	}
	return false
}
