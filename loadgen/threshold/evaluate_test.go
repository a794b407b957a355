package threshold

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

func TestValidate(t *testing.T) {
	types := map[string]string{"reqs": "counter", "vus": "gauge", "ok": "rate", "ttft": "trend", "odd": "histogram"}
	typeOf := func(name string) (string, bool) { typ, ok := types[name]; return typ, ok }
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"counter", `{"reqs": ["count>1", "rate>1"], "reqs{scenario:a}": ["count>0"]}`, ""},
		{"gauge", `{"vus": ["value<10"]}`, ""},
		{"rate", `{"ok": ["rate>0.9"]}`, ""},
		{"trend", `{"ttft": ["avg<1", "min<1", "med<1", "max<1", "p(99.99)<1"]}`, ""},
		{"unknown metric", `{"nope{a:b}": ["count<1"]}`, `threshold nope{a:b} 'count<1': no metric "nope"`},
		{"trend aggregation on a counter", `{"reqs": ["p(95)<1"]}`, `threshold reqs 'p(95)<1': p(95) does not apply to counter "reqs" (want count, rate)`},
		{"count on a rate", `{"ok": ["count<1"]}`, `threshold ok 'count<1': count does not apply to rate "ok" (want rate)`},
		{"rate on a trend", `{"ttft": ["rate<1"]}`, `threshold ttft 'rate<1': rate does not apply to trend "ttft" (want avg, min, med, max, p(N))`},
		{"avg on a gauge", `{"vus": ["avg<1"]}`, `threshold vus 'avg<1': avg does not apply to gauge "vus" (want value)`},
		{"unknown type", `{"odd": ["avg<1"]}`, `threshold odd 'avg<1': metric "odd" has unknown type "histogram"`},
		{"all problems", `{"nope": ["count<1"], "vus": ["avg<1"]}`,
			`threshold nope 'count<1': no metric "nope"` + "\n" + `threshold vus 'avg<1': avg does not apply to gauge "vus" (want value)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := Parse(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(ts, typeOf)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	ts, err := Parse(json.RawMessage(`{
		"llm_ttft": ["p(95)<500", {"threshold": "p(99)<800", "abortOnFail": true, "delayAbortEval": "10s"}],
		"llm_errors": [{"threshold": "count<5", "abortOnFail": true}],
		"llm_ttft{scenario:chat}": ["p(95)<500"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator(ts)
	if got, want := e.Keys(), []string{"llm_ttft", "llm_errors", "llm_ttft{scenario:chat}"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys: got %v, want %v", got, want)
	}
	if got, want := e.TrendStats(), []string{"p(95)", "p(99)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TrendStats: got %v, want %v", got, want)
	}

	summary := func(p95, p99, errs float64) map[string]runfmt.Metric {
		return map[string]runfmt.Metric{
			"llm_ttft":                {Type: "trend", Values: map[string]float64{"p(95)": p95, "p(99)": p99}},
			"llm_errors":              {Type: "counter", Values: map[string]float64{"count": errs, "rate": 0}},
			"llm_ttft{scenario:chat}": {Type: "trend", Values: map[string]float64{"p(95)": p95, "p(99)": p99}},
		}
	}
	tests := []struct {
		name      string
		metrics   map[string]runfmt.Metric
		elapsed   time.Duration
		wantOK    []bool
		wantAbort string // Threshold.String of Result.Abort, "" for none
	}{
		{"all hold", summary(100, 200, 0), time.Minute, []bool{true, true, true, true}, ""},
		{"failing without abortOnFail does not abort", summary(600, 700, 0), time.Minute, []bool{false, true, true, false}, ""},
		{"abortOnFail before its delay does not abort", summary(100, 900, 0), 9 * time.Second, []bool{true, false, true, true}, ""},
		{"abortOnFail at its delay aborts", summary(100, 900, 0), 10 * time.Second, []bool{true, false, true, true}, "llm_ttft 'p(99)<800'"},
		{"no delay aborts at once", summary(100, 200, 5), 0, []bool{true, true, false, true}, "llm_errors 'count<5'"},
		{"the first of two aborts is named", summary(100, 900, 5), time.Minute, []bool{true, false, false, true}, "llm_ttft 'p(99)<800'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Evaluate(tt.metrics, tt.elapsed)
			var got []bool
			allOK := true
			for _, o := range res.Outcomes {
				got = append(got, o.OK)
				allOK = allOK && o.OK
				if o.Err != nil {
					t.Errorf("%s: got error %v, want none", o.Threshold, o.Err)
				}
			}
			if !reflect.DeepEqual(got, tt.wantOK) {
				t.Errorf("got outcomes %v, want %v", got, tt.wantOK)
			}
			if res.OK != allOK {
				t.Errorf("got OK %v, want %v", res.OK, allOK)
			}
			if len(res.Failed()) != countFalse(tt.wantOK) {
				t.Errorf("got %d failed, want %d", len(res.Failed()), countFalse(tt.wantOK))
			}
			gotAbort := ""
			if res.Abort != nil {
				gotAbort = res.Abort.String()
			}
			if gotAbort != tt.wantAbort {
				t.Errorf("got abort %q, want %q", gotAbort, tt.wantAbort)
			}
		})
	}

	t.Run("missing metric fails", func(t *testing.T) {
		m := summary(100, 200, 0)
		delete(m, "llm_errors")
		res := e.Evaluate(m, time.Minute)
		o := res.Outcomes[2]
		want := "check llm_errors 'count<5': no metric llm_errors in the summary"
		if o.OK || o.Err == nil || o.Err.Error() != want {
			t.Errorf("got %v, error %v, want false, %q", o.OK, o.Err, want)
		}
		if res.OK || res.Abort == nil {
			t.Errorf("got OK %v abort %v, want false and the errors threshold (it has abortOnFail)", res.OK, res.Abort)
		}
	})
}

func countFalse(bs []bool) int {
	n := 0
	for _, b := range bs {
		if !b {
			n++
		}
	}
	return n
}

func TestRecord(t *testing.T) {
	ts, err := Parse(json.RawMessage(`{
		"llm_ttft": ["p(95)<500", {"threshold": "p(99)<800", "abortOnFail": true}, "p(95)<500"],
		"llm_errors": ["count<5"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]runfmt.Metric{
		"llm_ttft": {Type: "trend", Values: map[string]float64{"p(95)": 100, "p(99)": 900}},
	}
	ok := NewEvaluator(ts).Evaluate(metrics, 0).Record(metrics)
	if ok {
		t.Errorf("got OK true, want false")
	}
	want := map[string]runfmt.Metric{
		"llm_ttft": {Type: "trend", Values: map[string]float64{"p(95)": 100, "p(99)": 900}, Thresholds: map[string]runfmt.Threshold{
			"p(95)<500": {OK: true},
			"p(99)<800": {OK: false, AbortOnFail: true},
		}},
		"llm_errors": {Thresholds: map[string]runfmt.Threshold{"count<5": {OK: false}}},
	}
	if !reflect.DeepEqual(metrics, want) {
		t.Errorf("got  %+v\nwant %+v", metrics, want)
	}
}
