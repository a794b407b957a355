package threshold

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []Threshold
	}{
		{name: "empty", raw: ``},
		{name: "null", raw: `null`},
		{name: "empty object", raw: `{}`},
		{
			name: "short form, in order",
			raw:  `{"llm_ttft": ["p(95)<500", "avg <= 200"], "llm_errors": ["count<10"]}`,
			want: []Threshold{
				{Metric: "llm_ttft", Expr: "p(95)<500", Agg: "p(95)", Pct: 95, Op: "<", Value: 500},
				{Metric: "llm_ttft", Expr: "avg <= 200", Agg: "avg", Op: "<=", Value: 200},
				{Metric: "llm_errors", Expr: "count<10", Agg: "count", Op: "<", Value: 10},
			},
		},
		{
			name: "whitespace everywhere",
			raw:  `{" llm_ttft { status : 200 , scenario : chat } ": ["  p( 99.9 )   >=   -1.5e3  "]}`,
			want: []Threshold{{Metric: "llm_ttft{scenario:chat,status:200}", Expr: "  p( 99.9 )   >=   -1.5e3  ", Agg: "p(99.9)", Pct: 99.9, Op: ">=", Value: -1500}},
		},
		{
			name: "every operator",
			raw:  `{"m": ["rate<1", "rate<=1", "rate>1", "rate>=1", "rate==1", "rate===1", "rate!=1"]}`,
			want: []Threshold{
				{Metric: "m", Expr: "rate<1", Agg: "rate", Op: "<", Value: 1},
				{Metric: "m", Expr: "rate<=1", Agg: "rate", Op: "<=", Value: 1},
				{Metric: "m", Expr: "rate>1", Agg: "rate", Op: ">", Value: 1},
				{Metric: "m", Expr: "rate>=1", Agg: "rate", Op: ">=", Value: 1},
				{Metric: "m", Expr: "rate==1", Agg: "rate", Op: "==", Value: 1},
				{Metric: "m", Expr: "rate===1", Agg: "rate", Op: "===", Value: 1},
				{Metric: "m", Expr: "rate!=1", Agg: "rate", Op: "!=", Value: 1},
			},
		},
		{
			name: "every aggregation",
			raw:  `{"m": ["count>0", "value>0", "min>0", "max>0", "med>0", "p(0)>0", "p(100)>0", "p(95.0)>0"]}`,
			want: []Threshold{
				{Metric: "m", Expr: "count>0", Agg: "count", Op: ">"},
				{Metric: "m", Expr: "value>0", Agg: "value", Op: ">"},
				{Metric: "m", Expr: "min>0", Agg: "min", Op: ">"},
				{Metric: "m", Expr: "max>0", Agg: "max", Op: ">"},
				{Metric: "m", Expr: "med>0", Agg: "med", Op: ">"},
				{Metric: "m", Expr: "p(0)>0", Agg: "p(0)", Op: ">"},
				{Metric: "m", Expr: "p(100)>0", Agg: "p(100)", Pct: 100, Op: ">"},
				{Metric: "m", Expr: "p(95.0)>0", Agg: "p(95)", Pct: 95, Op: ">"},
			},
		},
		{
			name: "long form",
			raw: `{"llm_ttft{scenario:chat}": [
				{"threshold": "p(99) < 10", "abortOnFail": true, "delayAbortEval": "10s"},
				{"threshold": "med<5", "delayAbortEval": 1500},
				{"threshold": "max<50", "abortOnFail": false, "delayAbortEval": null},
				{"threshold": "max<60", "abortonfail": true},
				{"threshold": "max<70", "delayAbortEval": "1d"},
				{"threshold": "max<80", "delayAbortEval": "250"},
				"min<1"
			]}`,
			want: []Threshold{
				{Metric: "llm_ttft{scenario:chat}", Expr: "p(99) < 10", Agg: "p(99)", Pct: 99, Op: "<", Value: 10, AbortOnFail: true, DelayAbortEval: 10 * time.Second},
				{Metric: "llm_ttft{scenario:chat}", Expr: "med<5", Agg: "med", Op: "<", Value: 5, DelayAbortEval: 1500 * time.Millisecond},
				{Metric: "llm_ttft{scenario:chat}", Expr: "max<50", Agg: "max", Op: "<", Value: 50},
				{Metric: "llm_ttft{scenario:chat}", Expr: "max<60", Agg: "max", Op: "<", Value: 60, AbortOnFail: true},
				{Metric: "llm_ttft{scenario:chat}", Expr: "max<70", Agg: "max", Op: "<", Value: 70, DelayAbortEval: 24 * time.Hour},
				{Metric: "llm_ttft{scenario:chat}", Expr: "max<80", Agg: "max", Op: "<", Value: 80, DelayAbortEval: 250 * time.Millisecond},
				{Metric: "llm_ttft{scenario:chat}", Expr: "min<1", Agg: "min", Op: "<", Value: 1},
			},
		},
		{
			name: "group and quoted tag values",
			raw:  `{"group_duration{group:::chat::stream}": ["avg<400"], "checks{check:'status is 200'}": ["rate>0.99"]}`,
			want: []Threshold{
				{Metric: "group_duration{group:::chat::stream}", Expr: "avg<400", Agg: "avg", Op: "<", Value: 400},
				{Metric: "checks{check:status is 200}", Expr: "rate>0.99", Agg: "rate", Op: ">", Value: 0.99},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const wantOps = "(want one of <, <=, >, >=, ==, ===, !=)"
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"not an object", `["p(95)<1"]`, `parse thresholds: want an object of metric keys, got ["p(95)<1"]`},
		{"bad JSON", `{"m": [`, `parse thresholds: thresholds["m"]: unexpected EOF`},
		{"duplicate key", `{"m": ["count<1"], "m": ["count<2"]}`, `parse thresholds: thresholds["m"]: key given twice`},
		{"not an array", `{"llm_ttft": "p(95)<500"}`, `thresholds["llm_ttft"]: want an array of expressions, got "p(95)<500"`},
		{"null array", `{"llm_ttft": null}`, `thresholds["llm_ttft"]: want an array of expressions, got null`},
		{"p95", `{"llm_ttft": ["avg<1", "p95<500"]}`, `thresholds["llm_ttft"][1] "p95<500": unknown aggregation "p95" (want p(95))`},
		{"p99.9", `{"llm_ttft": ["p99.9 < 500"]}`, `thresholds["llm_ttft"][0] "p99.9 < 500": unknown aggregation "p99.9" (want p(99.9))`},
		{"unknown aggregation", `{"m": ["average<1"]}`, `thresholds["m"][0] "average<1": unknown aggregation "average" (want count, rate, value, avg, min, med, max or p(N))`},
		{"percentile out of range", `{"m": ["p(101)<1"]}`, `thresholds["m"][0] "p(101)<1": aggregation "p(101)": percentile 101 out of range [0, 100]`},
		{"negative percentile", `{"m": ["p(-1)<1"]}`, `thresholds["m"][0] "p(-1)<1": aggregation "p(-1)": percentile -1 out of range [0, 100]`},
		{"NaN percentile", `{"m": ["p(NaN)<1"]}`, `thresholds["m"][0] "p(NaN)<1": aggregation "p(NaN)": percentile NaN out of range [0, 100]`},
		{"percentile not a number", `{"m": ["p(x)<1"]}`, `thresholds["m"][0] "p(x)<1": aggregation "p(x)": percentile "x" is not a number`},
		{"unclosed p(", `{"m": ["p(95<1"]}`, `thresholds["m"][0] "p(95<1": aggregation "p(95": want p(N)`},
		{"no operator", `{"m": ["p(95) 500"]}`, `thresholds["m"][0] "p(95) 500": no operator ` + wantOps},
		{"single =", `{"m": ["avg = 5"]}`, `thresholds["m"][0] "avg = 5": unknown operator "=" ` + wantOps},
		{"=>", `{"m": ["avg => 5"]}`, `thresholds["m"][0] "avg => 5": unknown operator "=>" ` + wantOps},
		{"two operators", `{"m": ["avg <> 5"]}`, `thresholds["m"][0] "avg <> 5": value "> 5" is not a number`},
		{"unit on the value", `{"m": ["avg<500ms"]}`, `thresholds["m"][0] "avg<500ms": value "500ms" is not a number`},
		{"no value", `{"m": ["avg<"]}`, `thresholds["m"][0] "avg<": no value after <`},
		{"infinite value", `{"m": ["avg<Inf"]}`, `thresholds["m"][0] "avg<Inf": value "Inf" is not a number`},
		{"no aggregation", `{"m": ["<5"]}`, `thresholds["m"][0] "<5": no aggregation before the operator`},
		{"empty expression", `{"m": ["  "]}`, `thresholds["m"][0] "  ": empty expression`},
		{"null expression", `{"m": [null]}`, `thresholds["m"][0]: want an expression string or an object, got null`},
		{"number expression", `{"m": [5]}`, `thresholds["m"][0]: want an expression string or an object, got 5`},
		{"object without threshold", `{"m": [{"abortOnFail": true}]}`, `thresholds["m"][0]: object has no "threshold" field`},
		{"misspelt field", `{"m": [{"threshold": "avg<1", "abortOnFailure": true}]}`, `thresholds["m"][0]: unknown field "abortOnFailure" (want threshold, abortOnFail, delayAbortEval)`},
		{"abortOnFail not a boolean", `{"m": [{"threshold": "avg<1", "abortOnFail": "yes"}]}`, `thresholds["m"][0]: field abortOnFail: want a boolean, got string`},
		{"threshold not a string", `{"m": [{"threshold": 5}]}`, `thresholds["m"][0]: field threshold: want a string, got number`},
		{"bad delay", `{"m": [{"threshold": "avg<1", "delayAbortEval": "ten seconds"}]}`, `thresholds["m"][0] "avg<1": delayAbortEval "ten seconds": want a duration like "10s" or a number of milliseconds`},
		{"negative delay", `{"m": [{"threshold": "avg<1", "delayAbortEval": "-1s"}]}`, `thresholds["m"][0] "avg<1": delayAbortEval "-1s": negative`},
		{"bad metric name", `{"llm-ttft": ["avg<1"]}`, `thresholds["llm-ttft"]: invalid metric name "llm-ttft" (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{"empty selector", `{"llm_ttft{}": ["avg<1"]}`, `thresholds["llm_ttft{}"]: empty selector {}`},
		{"unclosed selector", `{"llm_ttft{a:b": ["avg<1"]}`, `thresholds["llm_ttft{a:b"]: selector does not end with }`},
		{"tag without value", `{"llm_ttft{a}": ["avg<1"]}`, `thresholds["llm_ttft{a}"]: tag "a": want name:value`},
		{"tag twice", `{"llm_ttft{a:1, a:2}": ["avg<1"]}`, `thresholds["llm_ttft{a:1, a:2}"]: tag "a" given twice`},
		{
			"every problem is reported",
			`{"a": ["p95<1", "avg<1"], "b-c": ["avg<1"], "d": ["avg=1"]}`,
			`thresholds["a"][0] "p95<1": unknown aggregation "p95" (want p(95))` + "\n" +
				`thresholds["b-c"]: invalid metric name "b-c" (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)` + "\n" +
				`thresholds["d"][0] "avg=1": unknown operator "=" ` + wantOps,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(json.RawMessage(tt.raw))
			if err == nil {
				t.Fatalf("got %+v, want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got error\n%s\nwant\n%s", err, tt.want)
			}
			if got != nil {
				t.Errorf("got %+v with the error, want nil", got)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"llm_ttft": ["p(95)<500"]}`,
		`{"llm_ttft{scenario:chat}": [{"threshold": "p(99.9) >= 1", "abortOnFail": true, "delayAbortEval": "10s"}]}`,
		`{"m": ["rate!=0", "count===1", "value <= -2"]}`,
		`{"m": [5, null, {}]}`,
		`{"m{a:'b', c:\"d\"}": ["med>1e3"]}`,
		`[]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ts, err := Parse(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, th := range ts {
			// Whatever parses must check without panicking and re-parse
			// to the same threshold from its canonical key.
			_, _ = th.Check(map[string]float64{th.Agg: th.Value})
			again, err := Parse(json.RawMessage(`{` + mustJSON(th.Metric) + `: [` + mustJSON(th.Expr) + `]}`))
			if err != nil {
				t.Fatalf("re-parse %s: %v", th, err)
			}
			th.AbortOnFail, th.DelayAbortEval = false, 0
			if !reflect.DeepEqual(again[0], th) {
				t.Fatalf("re-parse: got %+v, want %+v", again[0], th)
			}
		}
	})
}

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
