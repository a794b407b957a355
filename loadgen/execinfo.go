package loadgen

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/llmbench/llmbench/loadgen/executor"
)

// scenarioProgress is k6/execution's scenario.progress for one scenario
// (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/#scenario):
// for the iteration-based executors the share of its iterations done, for
// the others the share of its duration gone by, from 0 to 1.
type scenarioProgress struct {
	s     executor.Scenario
	done  atomic.Int64 // iterations ended, interrupted ones included
	start func() time.Time
}

func (p *scenarioProgress) value() float64 {
	var total int64
	switch p.s.Executor {
	case executor.SharedIterations:
		total = p.s.Iterations
	case executor.PerVUIterations:
		total = p.s.Iterations * p.s.VUs
	}
	if total > 0 {
		return min(1, float64(p.done.Load())/float64(total))
	}
	l := p.s.Length()
	if l <= 0 {
		return 0
	}
	return max(0, min(1, float64(time.Since(p.start()))/float64(l)))
}

// consolidatedOptions is exec.test.options: the options the run uses,
// after the command line, with every scenario in full (the shortcuts
// vus, duration, iterations and stages become the "default" scenario, as
// in k6) and durations written as k6 writes them ("30s").
func consolidatedOptions(opts json.RawMessage, scenarios []executor.Scenario) (json.RawMessage, error) {
	var o map[string]any
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if o == nil {
		o = map[string]any{}
	}
	sc := map[string]any{}
	for _, s := range scenarios {
		sc[s.Name] = scenarioOptions(s)
	}
	o["scenarios"] = sc
	return json.Marshal(o)
}

func scenarioOptions(s executor.Scenario) map[string]any {
	m := map[string]any{
		"executor": s.Executor, "startTime": dur(s.StartTime), "gracefulStop": dur(s.GracefulStop),
		"exec": s.Exec,
	}
	if m["exec"] == "" {
		m["exec"] = "default"
	}
	if len(s.Env) > 0 {
		m["env"] = s.Env
	}
	if len(s.Tags) > 0 {
		m["tags"] = s.Tags
	}
	stages := func() []map[string]any {
		out := make([]map[string]any, len(s.Stages))
		for i, st := range s.Stages {
			out[i] = map[string]any{"duration": dur(st.Duration), "target": st.Target}
		}
		return out
	}
	switch s.Executor {
	case executor.SharedIterations, executor.PerVUIterations:
		m["vus"], m["iterations"], m["maxDuration"] = s.VUs, s.Iterations, dur(s.MaxDuration)
	case executor.ConstantVUs:
		m["vus"], m["duration"] = s.VUs, dur(s.Duration)
	case executor.RampingVUs:
		m["startVUs"], m["stages"], m["gracefulRampDown"] = s.StartVUs, stages(), dur(s.GracefulRampDown)
	case executor.ConstantArrivalRate:
		m["rate"], m["timeUnit"], m["duration"] = s.Rate, dur(s.TimeUnit), dur(s.Duration)
		m["preAllocatedVUs"], m["maxVUs"] = s.PreAllocatedVUs, s.MaxVUs
	case executor.RampingArrivalRate:
		m["startRate"], m["timeUnit"], m["stages"] = s.StartRate, dur(s.TimeUnit), stages()
		m["preAllocatedVUs"], m["maxVUs"] = s.PreAllocatedVUs, s.MaxVUs
	}
	if s.Arrival != "" {
		m["arrival"] = s.Arrival
		m["seed"] = s.Seed
	}
	return m
}

// dur writes a duration as k6 does: "30s", "1m30s", "500ms", "0s".
func dur(d time.Duration) string {
	s := d.String()
	for _, cut := range []struct{ suffix, trim string }{{"m0s", "m"}, {"h0m", "h"}} {
		if len(s) > len(cut.suffix) && s[len(s)-len(cut.suffix):] == cut.suffix {
			s = s[:len(s)-len(cut.suffix)] + cut.trim
		}
	}
	return s
}
