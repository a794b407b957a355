package loadgen

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// writeSummaryExport writes k6's --summary-export file
// (https://grafana.com/docs/k6/latest/results-output/end-of-test/#summary-export-to-a-json-file):
// each metric's values flat, as k6 wrote them before handleSummary (a
// counter's count and rate, a gauge's value, min and max, a rate's value
// with passes and fails, a trend's stats), with "thresholds" mapping each
// expression to whether it failed; and the root group with its checks.
func writeSummaryExport(path string, s *runfmt.Summary) error {
	metrics := map[string]map[string]any{}
	for name, m := range s.Metrics {
		v := map[string]any{}
		for k, x := range m.Values {
			if m.Type == "rate" && k == "rate" {
				k = "value"
			}
			v[k] = x
		}
		if len(m.Thresholds) > 0 {
			th := map[string]bool{}
			for expr, t := range m.Thresholds {
				th[expr] = !t.OK
			}
			v["thresholds"] = th
		}
		metrics[name] = v
	}
	b, err := json.MarshalIndent(map[string]any{"root_group": s.Root, "metrics": metrics}, "", "    ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
