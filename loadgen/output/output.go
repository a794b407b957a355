// Package output sends a run's samples, as they are measured, to k6's
// outputs (https://grafana.com/docs/k6/latest/results-output/real-time/):
// `--out json=FILE` (k6's JSON lines, gzipped when FILE ends in .gz) and
// `--out csv=FILE`. Samples go through a bounded buffer to one writer
// goroutine, so an output never slows the measurement: when the buffer is
// full a sample is dropped and counted, and Close says how many.
package output

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sample is one measured value of a metric, with the metric's k6 type
// ("counter", "gauge", "rate", "trend") and value type ("default", "time",
// "data").
type Sample struct {
	Metric, Type, Contains string
	Time                   time.Time
	Value                  float64
	Tags                   map[string]string
}

// Writer is one output: it is told of each metric before its first
// sample, then of the samples. Its methods are called from one goroutine.
type Writer interface {
	Metric(name, typ, contains string, thresholds []string) error
	Sample(s *Sample) error
	Close() error
}

// Spec is a parsed --out value: the output's name and its argument
// ("json=results.json" is json and results.json).
type Spec struct{ Name, Arg string }

func (s Spec) String() string {
	if s.Arg == "" {
		return s.Name
	}
	return s.Name + "=" + s.Arg
}

// Supported lists the outputs Open knows, for messages.
const Supported = "json=FILE (FILE.gz compresses), csv=FILE, experimental-prometheus-rw and opentelemetry"

// k6Outputs are the outputs k6 has that llmbench does not implement.
var k6Outputs = []string{"influxdb", "statsd", "cloud", "datadog", "kafka", "timescaledb", "dynatrace"}

// ParseSpec reads a --out value. A value that names no output, such as a
// folder (--out was llmbench's run folder before it was k6's output),
// gets an error that says what to use instead.
func ParseSpec(v string) (Spec, error) {
	name, arg, _ := strings.Cut(v, "=")
	switch name {
	case "json", "csv":
		if arg == "" {
			return Spec{}, fmt.Errorf("--out %s: give the file, as --out %s=FILE", v, name)
		}
		return Spec{name, arg}, nil
	case "experimental-prometheus-rw", "opentelemetry", "experimental-opentelemetry":
		// Configured by k6's environment variables (K6_PROMETHEUS_RW_*,
		// K6_OTEL_*), as in k6.
		if name == "experimental-opentelemetry" { // its name before k6 v0.57
			name = "opentelemetry"
		}
		return Spec{name, ""}, nil
	}
	for _, k := range k6Outputs {
		if name == k {
			return Spec{}, fmt.Errorf("--out %s: k6's %s output is not implemented by llmbench (it writes %s)", v, name, Supported)
		}
	}
	return Spec{}, fmt.Errorf("--out %s: not an output; outputs are %s (the run folder is --run-dir)", v, Supported)
}

// Open makes the writer of s; getenv gives the k6 environment variables
// that configure the network outputs.
func Open(s Spec, getenv func(string) string) (Writer, error) {
	switch s.Name {
	case "json":
		return newJSON(s.Arg)
	case "csv":
		return newCSV(s.Arg)
	case "experimental-prometheus-rw":
		return newPromRW(getenv)
	case "opentelemetry":
		return newOTel(getenv)
	}
	return nil, fmt.Errorf("output %s: unknown", s)
}

// flusher is a Writer that sends on a schedule: the Fanout calls Flush
// every second, also when no sample came.
type flusher interface{ Flush() error }

// Fanout feeds samples to its writers from one goroutine, through a
// buffer of bounded size. Add never blocks. Safe for concurrent use until
// Close.
type Fanout struct {
	ch         chan *Sample
	writers    []named
	thresholds map[string][]string
	dropped    atomic.Int64
	written    atomic.Int64
	done       chan struct{}
	errs       []error
	closeOnce  sync.Once
}

type named struct {
	spec Spec
	w    Writer
}

// BufferSize is how many samples wait for the writers before Add drops.
const BufferSize = 1 << 16

// NewFanout opens every spec and starts the writer goroutine; thresholds
// are each metric's threshold expressions, for the outputs that list
// them. On error, the writers opened so far are closed.
func NewFanout(specs []Spec, thresholds map[string][]string, getenv func(string) string) (*Fanout, error) {
	f := &Fanout{ch: make(chan *Sample, BufferSize), thresholds: thresholds, done: make(chan struct{})}
	for _, s := range specs {
		w, err := Open(s, getenv)
		if err != nil {
			for _, n := range f.writers {
				n.w.Close()
			}
			return nil, err
		}
		f.writers = append(f.writers, named{s, w})
	}
	go f.loop()
	return f, nil
}

// Add queues s, or drops it when the buffer is full.
func (f *Fanout) Add(s *Sample) {
	select {
	case f.ch <- s:
	default:
		f.dropped.Add(1)
	}
}

func (f *Fanout) loop() {
	defer close(f.done)
	described := map[string]bool{}
	failed := make([]bool, len(f.writers))
	fail := func(i int, err error) {
		failed[i] = true
		f.errs = append(f.errs, fmt.Errorf("output %s: %w (it stopped there)", f.writers[i].spec, err))
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var s *Sample
		select {
		case s = <-f.ch:
		case <-tick.C:
			for i, n := range f.writers {
				if fl, ok := n.w.(flusher); ok && !failed[i] {
					if err := fl.Flush(); err != nil {
						fail(i, err)
					}
				}
			}
			continue
		}
		if s == nil {
			return
		}
		first := !described[s.Metric]
		described[s.Metric] = true
		for i, n := range f.writers {
			if failed[i] {
				continue
			}
			var err error
			if first {
				err = n.w.Metric(s.Metric, s.Type, s.Contains, f.thresholds[s.Metric])
			}
			if err == nil {
				err = n.w.Sample(s)
			}
			if err != nil {
				fail(i, err)
			}
		}
		f.written.Add(1)
	}
}

// Close waits for the queued samples to be written, closes the writers
// and returns how many samples were written and dropped, and the errors.
func (f *Fanout) Close() (written, dropped int64, err error) {
	f.closeOnce.Do(func() {
		close(f.ch)
		<-f.done
		for _, n := range f.writers {
			if e := n.w.Close(); e != nil {
				f.errs = append(f.errs, fmt.Errorf("output %s: %w", n.spec, e))
			}
		}
	})
	return f.written.Load(), f.dropped.Load(), errors.Join(f.errs...)
}
