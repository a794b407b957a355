package loadgen

import (
	"fmt"
	"sync"
	"time"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/loadgen/output"
	"github.com/llmbench/llmbench/loadgen/script"
)

// recorder feeds the scripts' samples into a metrics.Registry and their
// checks into a metrics.Checks. Safe for concurrent use.
type recorder struct {
	reg    *metrics.Registry
	checks *metrics.Checks
	byName sync.Map // name → *metrics.Metric
	// onSample, when set, sees every sample (the loadgen's own /metrics).
	onSample func(name string, v float64, tags map[string]string)
	// out, when set, gets every sample for the --out outputs.
	out *output.Fanout
}

func newRecorder(reg *metrics.Registry, checks *metrics.Checks) *recorder {
	return &recorder{reg: reg, checks: checks}
}

var _ script.Recorder = (*recorder)(nil)

// dataMetrics count bytes.
var dataMetrics = map[string]bool{"data_sent": true, "data_received": true}

func (r *recorder) Declare(name, kind string, isTime bool) error {
	typ, ok := map[string]metrics.Type{script.Counter: metrics.Counter, script.Gauge: metrics.Gauge, script.Rate: metrics.Rate, script.Trend: metrics.Trend}[kind]
	if !ok {
		return fmt.Errorf("declare metric %s: unknown kind %q", name, kind)
	}
	vt := metrics.Default
	switch {
	case isTime:
		vt = metrics.Time
	case dataMetrics[name]:
		vt = metrics.Data
	}
	m, err := r.reg.Get(name, typ, vt)
	if err != nil {
		return err
	}
	r.byName.Store(name, m)
	return nil
}

func (r *recorder) Add(name string, t time.Time, v float64, tags map[string]string) {
	m, ok := r.byName.Load(name)
	if !ok {
		return // Declare failed and was reported to the script
	}
	mm := m.(*metrics.Metric)
	mm.Add(t, v, tags)
	if r.onSample != nil {
		r.onSample(name, v, tags)
	}
	if r.out != nil {
		r.out.Add(&output.Sample{Metric: name, Type: mm.Type().String(), Contains: mm.Contains().String(), Time: t, Value: v, Tags: tags})
	}
}

func (r *recorder) Check(groupPath, name string, ok bool) { r.checks.Add(groupPath, name, ok) }

// builtin declares the built-in metrics (script.Builtins) before any
// script runs, so that thresholds on them are valid whatever the script
// uses.
func (r *recorder) builtin() error {
	for _, d := range script.Builtins() {
		if err := r.Declare(d.Name, d.Kind, d.IsTime); err != nil {
			return err
		}
	}
	return nil
}
