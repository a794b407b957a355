package script

import (
	"fmt"
	"math"

	"github.com/dop251/goja"
)

// expectedStatuses is what http.expectedStatuses() returns: the statuses
// a response may have to count as expected
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/expected-statuses/).
// A request with a response callback is tagged expected_response and
// emits http_req_failed; with none (null), it does neither
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/set-response-callback/).
type expectedStatuses struct {
	ranges [][2]int // inclusive
}

// defaultExpected is k6's default response callback: 200 to 399.
var defaultExpected = &expectedStatuses{ranges: [][2]int{{200, 399}}}

// expected reports whether status is one of the expected ones.
func (e *expectedStatuses) expected(status int) bool {
	for _, r := range e.ranges {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return false
}

// newExpectedStatuses is http.expectedStatuses(...statuses): each argument
// an integer status or an object {min, max}.
func (vu *VU) newExpectedStatuses(c goja.FunctionCall) goja.Value {
	rt := vu.rt
	e := &expectedStatuses{}
	for i, a := range c.Arguments {
		switch x := a.Export().(type) {
		case int64:
			e.ranges = append(e.ranges, [2]int{int(x), int(x)})
		case float64:
			if x != math.Trunc(x) {
				panic(rt.NewTypeError(fmt.Sprintf("http.expectedStatuses: argument %d is %v, not an integer status", i+1, x)))
			}
			e.ranges = append(e.ranges, [2]int{int(x), int(x)})
		case map[string]any:
			lo, okLo := asInt(x["min"])
			hi, okHi := asInt(x["max"])
			if !okLo || !okHi || lo > hi {
				panic(rt.NewTypeError(fmt.Sprintf("http.expectedStatuses: argument %d: want {min, max} with integer min ≤ max, got %v", i+1, x)))
			}
			e.ranges = append(e.ranges, [2]int{lo, hi})
		default:
			panic(rt.NewTypeError(fmt.Sprintf("http.expectedStatuses: argument %d is %v: want an integer status or {min, max}", i+1, a)))
		}
	}
	if len(e.ranges) == 0 {
		panic(rt.NewTypeError("http.expectedStatuses: no status given"))
	}
	return rt.ToValue(e)
}

// responseCallback reads a response callback: nil for null or undefined
// (none: no expected_response tag, no http_req_failed), else the
// expectedStatuses object it must be; what names it goes into errors.
func (vu *VU) responseCallback(v goja.Value, what string) *expectedStatuses {
	if isNil(v) {
		return nil
	}
	if e, ok := v.Export().(*expectedStatuses); ok {
		return e
	}
	panic(vu.rt.NewTypeError(what + ": want an object from http.expectedStatuses() or null (k6 takes no other callback)"))
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	}
	return 0, false
}
