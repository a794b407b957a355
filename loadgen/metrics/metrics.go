// Package metrics holds a run's k6-style metrics: counters, gauges, rates
// and trends with tags, the sub-metrics that thresholds and summaries
// select by tag, the check tally, and the end-of-test summary in its two
// forms, summary.json's runfmt.Metric records and the k6-like text that
// `llmbench run` prints.
//
// A Registry is shared by every VU of a run. Scripts and the llm module
// get their metrics from it at init (Get), the runner registers the
// sub-metrics its thresholds name (SubMetric, Track), VUs add samples
// (Metric.Add), and at the end, or every few seconds for thresholds with
// abortOnFail, the runner asks for the Summary.
//
// Trends keep every value, as k6 does, so their percentiles are exact.
// Their summaries also carry a log-bucketed Histogram, which merges
// exactly across the processes of a distributed run.
package metrics

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Type is a metric's kind, one of k6's four.
type Type int

// The metric types.
const (
	Counter Type = iota + 1 // a sum; summary: count and rate per second
	Gauge                   // the latest value; summary: value, min, max
	Rate                    // the fraction of non-zero samples; summary: rate, passes, fails
	Trend                   // every value; summary: avg, min, med, max and percentiles
)

// String returns the type's name as summary.json writes it: counter,
// gauge, rate or trend.
func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Rate:
		return "rate"
	case Trend:
		return "trend"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// ValueType says what a metric's values measure, for formatting.
type ValueType int

// The value types. Time values are milliseconds; data values are bytes.
const (
	Default ValueType = iota // plain numbers
	Time                     // milliseconds, shown as 12.3ms, 1.2s, ...
	Data                     // bytes, shown as 12 kB, 1.3 MB, ...
)

// String returns the value type's name as summary.json writes it:
// default, time or data.
func (v ValueType) String() string {
	switch v {
	case Default:
		return "default"
	case Time:
		return "time"
	case Data:
		return "data"
	}
	return fmt.Sprintf("ValueType(%d)", int(v))
}

// Registry holds a run's metrics by name. Its zero value is not usable;
// call NewRegistry. It is safe for concurrent use: adding a sample takes
// only the metric's own lock, so VUs adding to different metrics do not
// contend.
type Registry struct {
	mu      sync.RWMutex
	metrics map[string]*Metric
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{metrics: make(map[string]*Metric)}
}

// Metric is one metric, or one sub-metric: a metric's samples whose tags
// include a given set of pairs. It is safe for concurrent use.
type Metric struct {
	name     string
	key      string // name, or name{tags} for a sub-metric
	typ      Type
	contains ValueType
	tags     []Tag   // a sub-metric's selector; nil for a metric
	parent   *Metric // a sub-metric's metric; nil for a metric

	// subs is the metric's sub-metrics. Registry.SubMetric replaces the
	// slice (copy on write, under the registry's lock), so Add reads it
	// without a lock.
	subs    atomic.Pointer[[]*Metric]
	tracked atomic.Bool // listed by Summary even without samples

	mu   sync.Mutex
	sink sink
}

// Name is the metric's name (without a sub-metric's tags).
func (m *Metric) Name() string { return m.name }

// Key is the metric's key in the summary: its name, or for a sub-metric
// the canonical name{tag:value,...} form (see Key).
func (m *Metric) Key() string { return m.key }

// Type is the metric's type.
func (m *Metric) Type() Type { return m.typ }

// Contains is what the metric's values measure.
func (m *Metric) Contains() ValueType { return m.contains }

// Get returns the metric called name, creating it when there is none. It
// fails when name breaks k6's naming rule (see ValidName), or when the
// metric exists with another type or value type.
func (r *Registry) Get(name string, typ Type, contains ValueType) (*Metric, error) {
	if typ < Counter || typ > Trend {
		return nil, fmt.Errorf("get metric %q: unknown type %v", name, typ)
	}
	if contains < Default || contains > Data {
		return nil, fmt.Errorf("get metric %q: unknown value type %v", name, contains)
	}
	r.mu.RLock()
	m := r.metrics[name]
	r.mu.RUnlock()
	if m == nil {
		if !ValidName(name) {
			return nil, fmt.Errorf("get metric %q: %w", name, errBadName)
		}
		r.mu.Lock()
		if m = r.metrics[name]; m == nil {
			m = newMetric(name, name, typ, contains, nil, nil)
			r.metrics[name] = m
		}
		r.mu.Unlock()
	}
	if m.typ != typ || m.contains != contains {
		return nil, fmt.Errorf("get metric %q: it is a %v (%v), not a %v (%v)", name, m.typ, m.contains, typ, contains)
	}
	return m, nil
}

func newMetric(name, key string, typ Type, contains ValueType, tags []Tag, parent *Metric) *Metric {
	m := &Metric{name: name, key: key, typ: typ, contains: contains, tags: tags, parent: parent}
	switch typ {
	case Counter:
		m.sink = &counterSink{}
	case Gauge:
		m.sink = &gaugeSink{}
	case Rate:
		m.sink = &rateSink{}
	case Trend:
		m.sink = &trendSink{}
	}
	return m
}

// TypeOf returns the type of the metric called name (without tags), as
// Type.String spells it, and whether there is such a metric. Its
// signature fits threshold.Validate.
func (r *Registry) TypeOf(name string) (string, bool) {
	r.mu.RLock()
	m := r.metrics[name]
	r.mu.RUnlock()
	if m == nil {
		return "", false
	}
	return m.typ.String(), true
}

// SubMetric registers the sub-metric that key selects, such as
// "llm_ttft{scenario:chat}" (see ParseKey for the syntax): from now on
// every sample added to the metric whose tags include all the key's pairs
// also lands in the sub-metric. The metric must exist. Registering the
// same selector again, in any spelling, does nothing. The summary lists
// every registered sub-metric under its canonical key, samples or not.
func (r *Registry) SubMetric(key string) error {
	name, tags, err := ParseKey(key)
	if err != nil {
		return fmt.Errorf("register sub-metric: %w", err)
	}
	if len(tags) == 0 {
		return fmt.Errorf("register sub-metric %q: no tags", key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.metrics[name]
	if m == nil {
		return fmt.Errorf("register sub-metric %q: no metric %q", key, name)
	}
	canon := Key(name, tags)
	var subs []*Metric
	if p := m.subs.Load(); p != nil {
		subs = *p
	}
	for _, s := range subs {
		if s.key == canon {
			return nil
		}
	}
	next := make([]*Metric, len(subs), len(subs)+1)
	copy(next, subs)
	next = append(next, newMetric(name, canon, m.typ, m.contains, tags, m))
	m.subs.Store(&next)
	return nil
}

// Track makes Summary list key even when it got no samples, so that a
// threshold on it can be checked: a plain name marks that metric, a key
// with tags registers the sub-metric (see SubMetric). The metric must
// exist.
func (r *Registry) Track(key string) error {
	name, tags, err := ParseKey(key)
	if err != nil {
		return fmt.Errorf("track metric: %w", err)
	}
	if len(tags) > 0 {
		return r.SubMetric(key)
	}
	r.mu.RLock()
	m := r.metrics[name]
	r.mu.RUnlock()
	if m == nil {
		return fmt.Errorf("track metric %q: no such metric", key)
	}
	m.tracked.Store(true)
	return nil
}

// Add records one sample with its tags (which may be nil) in the metric
// and in each of its sub-metrics whose tags it has. For a gauge, t decides
// which value is the latest; the other types do not use it. A NaN or
// infinite v is ignored: summary.json could not carry it. Add does not
// keep tags.
func (m *Metric) Add(t time.Time, v float64, tags map[string]string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	m.add(t, v)
	if p := m.subs.Load(); p != nil {
		for _, s := range *p {
			if s.matches(tags) {
				s.add(t, v)
			}
		}
	}
}

func (m *Metric) add(t time.Time, v float64) {
	m.mu.Lock()
	m.sink.add(t, v)
	m.mu.Unlock()
}

func (m *Metric) matches(tags map[string]string) bool {
	for _, t := range m.tags {
		if v, ok := tags[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}
