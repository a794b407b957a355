package threshold_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
)

// The runner's use of thresholds: parse the options, validate them
// against the registered metrics, track their keys, and evaluate them
// against the summary.
func Example() {
	r := metrics.NewRegistry()
	ttft, _ := r.Get("llm_ttft", metrics.Trend, metrics.Time)
	errs, _ := r.Get("llm_errors", metrics.Counter, metrics.Default)

	ts, err := threshold.Parse(json.RawMessage(`{
		"llm_ttft{ scenario: chat }": [{"threshold": "p(99.9) < 250", "abortOnFail": true, "delayAbortEval": "10s"}],
		"llm_errors": ["count < 1"]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := threshold.Validate(ts, r.TypeOf); err != nil {
		fmt.Println(err)
		return
	}
	e := threshold.NewEvaluator(ts)
	for _, key := range e.Keys() {
		if err := r.Track(key); err != nil {
			fmt.Println(err)
			return
		}
	}

	start := time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC)
	for i := range 100 {
		ttft.Add(start, float64(100+i), map[string]string{"scenario": "chat"})
	}
	ttft.Add(start, 900, map[string]string{"scenario": "chat"}) // one slow first token
	ttft.Add(start, 400, map[string]string{"scenario": "completions"})
	_ = errs // no errors: the counter stays at 0, and is in the summary because it is tracked

	// The runner evaluates every few seconds: the threshold fails at once,
	// but may abort the run only from 10s on.
	var sum map[string]runfmt.Metric
	for _, elapsed := range []time.Duration{5 * time.Second, 10 * time.Second} {
		sum = r.Summary(start, start.Add(elapsed), e.TrendStats())
		res := e.Evaluate(sum, elapsed)
		fmt.Printf("after %v: ok=%v abort=%v\n", elapsed, res.OK, res.Abort)
		if res.Abort != nil {
			res.Record(sum)
			break
		}
	}
	err = metrics.WriteText(os.Stdout, &runfmt.Summary{Metrics: sum}, metrics.TextOptions{TrendStats: []string{"med", "p(99.9)"}})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// after 5s: ok=false abort=<nil>
	// after 10s: ok=false abort=llm_ttft{scenario:chat} 'p(99.9) < 250'
	//
	//    ✓ llm_errors............: 0 0/s
	//      llm_ttft..............: med=150.5ms p(99.9)=849.5ms
	//    ✗   { scenario:chat }...: med=150ms   p(99.9)=829.9ms
	//
	//      ✗ threshold crossed: llm_ttft{scenario:chat} 'p(99.9) < 250' p(99.9)=829.9ms (abortOnFail)
}

// TestAgreesWithMetrics checks that thresholds name metrics and values
// the way package metrics writes them in the summary.
func TestAgreesWithMetrics(t *testing.T) {
	for _, key := range []string{
		"llm_ttft",
		" llm_ttft { status : 200 , scenario : chat } ",
		"group_duration{group:::chat::stream}",
		`checks{check:"status is 200"}`,
		"checks{check:'a'}",
		`m{a:"'b'"}`,
		`m{a:" b "}`,
	} {
		ts, err := threshold.Parse(json.RawMessage(`{` + quote(key) + `: ["avg<1"]}`))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want, err := metrics.CanonicalKey(key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got := ts[0].Metric; got != want {
			t.Errorf("%q: got key %q, want the metrics package's %q", key, got, want)
		}
		// The runner hands the canonical key back to the registry.
		if again, err := metrics.CanonicalKey(ts[0].Metric); err != nil || again != ts[0].Metric {
			t.Errorf("%q: canonical key %q parses to %q (%v), want itself", key, ts[0].Metric, again, err)
		}
	}
	for _, agg := range []string{"p(95)", "p(95.0)", "p( 99.90 )", "p(0)", "p(100)", "p(0.1)", "p(33.333)"} {
		ts, err := threshold.Parse(json.RawMessage(`{"m": [` + quote(agg+"<1") + `]}`))
		if err != nil {
			t.Fatalf("%s: %v", agg, err)
		}
		want, err := metrics.TrendStatKey(agg)
		if err != nil {
			t.Fatalf("%s: %v", agg, err)
		}
		if got := ts[0].Agg; got != want {
			t.Errorf("%q: got value key %q, want the metrics package's %q", agg, got, want)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
