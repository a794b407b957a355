package loadgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
)

// scriptOptions are the parts of a script's options the runner reads
// itself; the executors read the scenarios.
type scriptOptions struct {
	Thresholds        json.RawMessage `json:"thresholds"`
	SetupTimeout      string          `json:"setupTimeout"`
	TeardownTimeout   string          `json:"teardownTimeout"`
	SummaryTrendStats []string        `json:"summaryTrendStats"`
	// MaxRedirects is how many redirects k6/http follows (k6's default 10).
	MaxRedirects *int `json:"maxRedirects"`
	// NoCookiesReset keeps each VU's cookies across its iterations.
	NoCookiesReset bool `json:"noCookiesReset"`
	// SLO sets the service-level objectives of goodput, in milliseconds:
	// {ttft: 500, tpot: 50, e2e: 10000}. A request is good when it
	// succeeded and met every one given. (An llmbench option; k6 has none.)
	SLO map[string]float64 `json:"slo"`
}

func (o scriptOptions) setupTimeout() time.Duration {
	return durationOr(o.SetupTimeout, 60*time.Second)
}
func (o scriptOptions) teardownTimeout() time.Duration {
	return durationOr(o.TeardownTimeout, 60*time.Second)
}

// trendStats are the trend values the summary computes: k6's defaults or
// summaryTrendStats, and the percentiles the thresholds need.
func (o scriptOptions) trendStats(ths []threshold.Threshold) []string {
	stats := append([]string(nil), o.SummaryTrendStats...)
	return append(stats, threshold.NewEvaluator(ths).TrendStats()...)
}

func durationOr(s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// override applies -vus, -duration and -iterations the way k6 does: they
// replace the script's scenarios and shortcut options with one default
// scenario.
func (c *Config) override(opts json.RawMessage) (json.RawMessage, error) {
	var o map[string]any
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if o == nil {
		o = map[string]any{}
	}
	if slo, ok := o["slo"].(map[string]any); ok {
		for k := range slo {
			if !slices.Contains(runfmt.SLOKeys, k) {
				return nil, fmt.Errorf("options.slo.%s: unknown objective (want ttft, ttst, tpot or e2e, in milliseconds)", k)
			}
		}
	}
	if c.VUs == 0 && c.Duration == 0 && c.Iter == 0 {
		return opts, nil
	}
	for _, k := range []string{"scenarios", "stages", "vus", "duration", "iterations"} {
		delete(o, k)
	}
	if c.VUs > 0 {
		o["vus"] = c.VUs
	}
	if c.Duration > 0 {
		o["duration"] = c.Duration.String()
	}
	if c.Iter > 0 {
		o["iterations"] = c.Iter
	}
	return json.Marshal(o)
}
