package output

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParseSpec: k6's --out values (https://grafana.com/docs/k6/latest/results-output/real-time/),
// what llmbench writes, and a clear error for the rest, including a
// folder (--out was llmbench's run folder).
func TestParseSpec(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"json=results.json", "json=results.json", ""},
		{"json=r.json.gz", "json=r.json.gz", ""},
		{"csv=results.csv", "csv=results.csv", ""},
		{"json", "", "--out json=FILE"},
		{"experimental-prometheus-rw", "experimental-prometheus-rw", ""},
		{"opentelemetry", "opentelemetry", ""},
		{"experimental-opentelemetry", "opentelemetry", ""},
		{"influxdb=http://x", "", "not implemented by llmbench"},
		{"runs/mine", "", "the run folder is --run-dir"},
	}
	for _, tt := range tests {
		s, err := ParseSpec(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got %v, want an error containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || s.String() != tt.want {
			t.Errorf("%q: got %v %v, want %s", tt.in, s, err, tt.want)
		}
	}
}

// blockedWriter holds every write until released.
type blockedWriter struct {
	release chan struct{}
	once    sync.Once
	n       int
}

func (w *blockedWriter) Metric(string, string, string, []string) error { return nil }
func (w *blockedWriter) Sample(*Sample) error {
	w.once.Do(func() { <-w.release })
	w.n++
	return nil
}
func (w *blockedWriter) Close() error { return nil }

// TestFanoutDropsRatherThanBlocks: a writer that cannot keep up never
// holds up Add; what the buffer cannot take is dropped and counted, and
// the rest is written.
func TestFanoutDropsRatherThanBlocks(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	f := &Fanout{ch: make(chan *Sample, BufferSize), done: make(chan struct{}), writers: []named{{Spec{"test", ""}, w}}}
	go f.loop()
	const n = BufferSize + 1000
	for range n {
		f.Add(&Sample{Metric: "m", Time: time.Now(), Value: 1})
	}
	close(w.release)
	written, dropped, err := f.Close()
	if err != nil || written+dropped != n || dropped == 0 || int64(w.n) != written {
		t.Errorf("written %d, dropped %d (writer saw %d), err %v; want %d in all, some dropped", written, dropped, w.n, err, n)
	}
}
