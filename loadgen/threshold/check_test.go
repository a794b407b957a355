package threshold

import (
	"encoding/json"
	"math"
	"testing"
)

func TestCheck(t *testing.T) {
	counter := map[string]float64{"count": 10, "rate": 0.5}
	gauge := map[string]float64{"value": 3, "min": 1, "max": 7}
	rate := map[string]float64{"rate": 0.95, "passes": 95, "fails": 5}
	trend := map[string]float64{"avg": 120, "min": 5, "med": 100, "max": 900, "p(90)": 300, "p(95)": 450, "p(99)": 800, "p(99.9)": 890}
	tests := []struct {
		expr   string
		values map[string]float64
		want   bool
	}{
		{"count < 11", counter, true},
		{"count < 10", counter, false},
		{"count <= 10", counter, true},
		{"count > 10", counter, false},
		{"count >= 10", counter, true},
		{"count == 10", counter, true},
		{"count === 10", counter, true},
		{"count != 10", counter, false},
		{"count != 9", counter, true},
		{"rate < 0.6", counter, true},
		{"value < 3", gauge, false},
		{"value == 3", gauge, true},
		{"rate > 0.9", rate, true},
		{"rate >= 0.96", rate, false},
		{"avg < 200", trend, true},
		{"min > 5", trend, false},
		{"med <= 100", trend, true},
		{"max < 900", trend, false},
		{"p(90) < 301", trend, true},
		{"p(95) < 450", trend, false},
		{"p(95.0) <= 450", trend, true},
		{"p(99) < 1000", trend, true},
		{"p(99.9) < 890", trend, false},
		{"avg != 1", map[string]float64{"avg": math.NaN()}, false},
		{"avg < 1", map[string]float64{"avg": math.NaN()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			th := mustParseOne(t, "m", tt.expr)
			got, err := th.Check(tt.values)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckMissingValue(t *testing.T) {
	th := mustParseOne(t, "llm_ttft", "p(99.9)<5")
	ok, err := th.Check(map[string]float64{"p(99)": 1})
	if want := "check llm_ttft 'p(99.9)<5': no p(99.9) value"; ok || err == nil || err.Error() != want {
		t.Errorf("got %v, error %v, want false, %q", ok, err, want)
	}
}

func mustParseOne(t *testing.T, key, expr string) Threshold {
	t.Helper()
	ts, err := Parse(json.RawMessage(`{` + mustJSON(key) + `: [` + mustJSON(expr) + `]}`))
	if err != nil || len(ts) != 1 {
		t.Fatalf("parse %s %q: got %v, %v, want one threshold", key, expr, ts, err)
	}
	return ts[0]
}
