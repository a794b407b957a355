package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// textSummary is a small run: checks in groups, one metric of each type,
// sub-metrics, and thresholds that hold and fail.
func textSummary(t *testing.T) *runfmt.Summary {
	t.Helper()
	r := NewRegistry()
	get := func(name string, typ Type, contains ValueType) *Metric {
		m, err := r.Get(name, typ, contains)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ttft := get("llm_ttft", Trend, Time)
	e2e := get("llm_e2e", Trend, Time)
	tokens := get("llm_output_tokens", Trend, Default)
	reqs := get("llm_requests", Counter, Default)
	errs := get("llm_errors", Counter, Default)
	recv := get("data_received", Counter, Data)
	checks := get("checks", Rate, Default)
	vus := get("vus", Gauge, Default)
	for _, k := range []string{"llm_ttft{scenario:chat}", "llm_ttft{ scenario:completions }", "llm_errors{error_class:timeout}"} {
		if err := r.SubMetric(k); err != nil {
			t.Fatal(err)
		}
	}
	chat := map[string]string{"scenario": "chat"}
	comp := map[string]string{"scenario": "completions"}
	for i := range 40 {
		tags := chat
		if i%4 == 0 {
			tags = comp
		}
		ttft.Add(t0, 80+float64(i*i)*1.5, tags)
		e2e.Add(t0, 900+float64(i)*37.25, tags)
		tokens.Add(t0, float64(20+i%31), tags)
		reqs.Add(t0, 1, tags)
		recv.Add(t0, 4321.5, tags)
		vus.Add(t0.Add(time.Duration(i)*time.Second), float64(1+i%5), nil)
	}
	errs.Add(t0, 1, map[string]string{"error_class": "timeout"})
	errs.Add(t0, 1, map[string]string{"error_class": "http"})

	var c Checks
	ok := func(group, name string, pass bool) {
		c.Add(group, name, pass)
		v := 0.0
		if pass {
			v = 1
		}
		checks.Add(t0, v, nil)
	}
	for i := range 10 {
		ok("", "status is 200", true)
		ok("", "has usage", i%3 != 0)
		ok("::chat", "first token", true)
		ok("::chat::stream", "done marker", i != 4)
	}

	start := t0
	s := &runfmt.Summary{
		Start:    start,
		End:      start.Add(40 * time.Second),
		Duration: 40,
		Metrics:  r.Summary(start, start.Add(40*time.Second), []string{"p(99.9)"}),
		Root:     c.Root(),
	}
	setThresholds := func(key string, th map[string]runfmt.Threshold) {
		m := s.Metrics[key]
		m.Thresholds = th
		s.Metrics[key] = m
	}
	setThresholds("llm_ttft", map[string]runfmt.Threshold{"p(95)<5000": {OK: true}})
	setThresholds("llm_ttft{scenario:chat}", map[string]runfmt.Threshold{"p(95) < 1000": {OK: false, AbortOnFail: true}, "med<2000": {OK: true}})
	setThresholds("llm_errors", map[string]runfmt.Threshold{"count<1": {OK: false}})
	setThresholds("checks", map[string]runfmt.Threshold{"rate>0.9": {OK: true}})
	s.ThresholdsOK = false
	s.Aborted = "llm_ttft{scenario:chat} 'p(95) < 1000'"
	return s
}

func TestWriteText(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		opts   TextOptions
	}{
		{"plain", "summary.golden", TextOptions{}},
		{"color", "summary_color.golden", TextOptions{Color: true}},
		{"trend stats", "summary_stats.golden", TextOptions{TrendStats: []string{"min", "p(99.9)", "max", "count", "p(42)"}}},
		// k6's summaryTimeUnit: every time value in one unit.
		{"time unit", "summary_ms.golden", TextOptions{TimeUnit: "ms"}},
	}
	s := textSummary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, s, tt.opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if hasESC := strings.Contains(b.String(), "\x1b["); hasESC != tt.opts.Color {
				t.Errorf("got escape codes %v, want %v", hasESC, tt.opts.Color)
			}
		})
	}
}

func TestWriteTextEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, &runfmt.Summary{}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "\n" {
		t.Errorf("got %q, want a blank line", got)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTextError(t *testing.T) {
	err := WriteText(failWriter{}, textSummary(t), TextOptions{})
	if want := "write text summary: disk full"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}
