package loadgen

import (
	"encoding/json"
	"time"

	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
)

// applyThresholds checks every threshold against the summary's metrics,
// records each result beside its metric, and reports whether all held.
func applyThresholds(ms map[string]runfmt.Metric, ths []threshold.Threshold, elapsed time.Duration) (bool, []threshold.Outcome) {
	res := threshold.NewEvaluator(ths).Evaluate(ms, elapsed)
	return res.Record(ms), res.Failed()
}

// handleSummaryData is the object handleSummary(data) receives: k6's shape
// (metrics with type, contains, values and thresholds; root_group; options;
// state), plus llm, the headline numbers.
func handleSummaryData(s *runfmt.Summary, run *runfmt.Run) ([]byte, error) {
	type threshOut struct {
		OK bool `json:"ok"`
	}
	type metricOut struct {
		Type       string               `json:"type"`
		Contains   string               `json:"contains"`
		Values     map[string]float64   `json:"values"`
		Thresholds map[string]threshOut `json:"thresholds,omitempty"`
	}
	ms := map[string]metricOut{}
	for k, m := range s.Metrics {
		mo := metricOut{Type: m.Type, Contains: m.Contains, Values: m.Values}
		if len(m.Thresholds) > 0 {
			mo.Thresholds = map[string]threshOut{}
			for e, t := range m.Thresholds {
				mo.Thresholds[e] = threshOut{OK: t.OK}
			}
		}
		ms[k] = mo
	}
	var opts any = map[string]any{}
	if len(run.Options) > 0 {
		_ = json.Unmarshal(run.Options, &opts)
	}
	return json.Marshal(map[string]any{
		"metrics":    ms,
		"root_group": s.Root,
		"options":    opts,
		"state": map[string]any{
			"testRunDurationMs": s.Duration * 1e3,
			"isStdOutTTY":       false,
			"isStdErrTTY":       false,
		},
		"llm":     s.LLM,
		"run":     map[string]any{"id": run.ID, "dir": run.ID, "scenario": run.Scenario, "target": run.Target},
		"summary": s,
	})
}
