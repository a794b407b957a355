package selfbench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

func TestCompareGaps(t *testing.T) {
	const msNS = int64(time.Millisecond)
	streams := []StreamTiming{
		{TraceID: "a", FlushNS: []int64{20 * msNS, 40 * msNS, 60 * msNS}, LateNS: []int64{0, 0, 0}},
		{TraceID: "b", FlushNS: []int64{20 * msNS, 41 * msNS}, LateNS: []int64{0, msNS}},
		{TraceID: "c", FlushNS: []int64{20 * msNS, 40 * msNS, 60 * msNS}},
		// Writes that began a little before their flushes returned: each
		// gap is known to lie in [19, 21.5] and [18.5, 21] ms.
		{TraceID: "w", WriteNS: []int64{19 * msNS, 39 * msNS, 59 * msNS}, FlushNS: []int64{20 * msNS, 40*msNS + msNS/2, 60 * msNS}, LateNS: []int64{0, 0, 0}},
	}
	tests := []struct {
		name                    string
		reqs                    []*runfmt.Request
		matched, unmatched, gap int64
		mean, absMax            float64
	}{
		{
			name:    "errors are client minus server per matched trace id",
			reqs:    []*runfmt.Request{{TraceID: "a", OK: true, GapsMS: []float64{21, 19.5}}, {TraceID: "b", OK: true, GapsMS: []float64{21}}},
			matched: 2, gap: 3, mean: (1 - 0.5 + 0) / 3.0, absMax: 1,
		},
		{
			name:    "unknown trace id and another event count are unmatched",
			reqs:    []*runfmt.Request{{TraceID: "zz", OK: true, GapsMS: []float64{20}}, {TraceID: "c", OK: true, GapsMS: []float64{20}}, {TraceID: "a", OK: true, GapsMS: []float64{20, 23}}},
			matched: 1, unmatched: 2, gap: 2, mean: 1.5, absMax: 3,
		},
		{
			name:    "with write times, an error is the distance outside the gap's range",
			reqs:    []*runfmt.Request{{TraceID: "w", OK: true, GapsMS: []float64{21, 22}}},
			matched: 1, gap: 2, mean: 0.5, absMax: 1,
		},
		{
			name: "failed requests are left out",
			reqs: []*runfmt.Request{{TraceID: "a", OK: false, GapsMS: []float64{50, 50}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compareGaps(tt.reqs, streams)
			if g.Matched != tt.matched || g.Unmatched != tt.unmatched || g.Gaps != tt.gap {
				t.Errorf("got matched %d, unmatched %d, gaps %d; want %d, %d, %d", g.Matched, g.Unmatched, g.Gaps, tt.matched, tt.unmatched, tt.gap)
			}
			if math.Abs(g.MeanMS-tt.mean) > 1e-9 || math.Abs(g.AbsMaxMS-tt.absMax) > 1e-9 {
				t.Errorf("got mean %v, max %v; want %v, %v", g.MeanMS, g.AbsMaxMS, tt.mean, tt.absMax)
			}
			if g.AbsP99MS > g.AbsMaxMS || g.AbsP50MS > g.AbsP99MS {
				t.Errorf("got p50 %v, p99 %v, max %v: want them in order", g.AbsP50MS, g.AbsP99MS, g.AbsMaxMS)
			}
			if g.ServerLateP99MS <= 0 || g.ServerLateP99MS > 1 {
				t.Errorf("got server lateness p99 %v ms, want in (0, 1]", g.ServerLateP99MS)
			}
		})
	}
}

// TestCompareGapsWindows: the p99 of each window of the phase, in order,
// for the windows with enough gaps.
func TestCompareGapsWindows(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	stream := func(id string, start time.Time, events int) StreamTiming {
		st := StreamTiming{TraceID: id, Start: start}
		for i := range events {
			st.FlushNS = append(st.FlushNS, int64(i)*int64(time.Millisecond))
		}
		return st
	}
	gaps := func(n int, ms float64) []float64 {
		g := make([]float64, n)
		for i := range g {
			g[i] = ms
		}
		return g
	}
	streams := []StreamTiming{
		stream("early", t0, minWindowGaps+1),                         // window 0, exact
		stream("later", t0.Add(Window+time.Second), minWindowGaps+1), // window 1, 3 ms off
		stream("few", t0.Add(3*Window), 11),                          // window 3: too few gaps
	}
	reqs := []*runfmt.Request{
		{TraceID: "later", OK: true, GapsMS: gaps(minWindowGaps, 4)},
		{TraceID: "early", OK: true, GapsMS: gaps(minWindowGaps, 1)},
		{TraceID: "few", OK: true, GapsMS: gaps(10, 9)},
	}
	g := compareGaps(reqs, streams)
	if want := []float64{0, 3}; !slices.Equal(g.WindowP99MS, want) {
		t.Errorf("got window p99s %v, want %v", g.WindowP99MS, want)
	}
	if got := windows(g.WindowP99MS); got != "0.000 / 1.500 / 3.000 ms (1 of 2 windows <= 2 ms)" {
		t.Errorf("got the summary %q", got)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.99, 0},
		{"one", []float64{3}, 0.5, 3},
		{"median interpolates", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"p99 of 101 values", func() []float64 {
			var xs []float64
			for i := range 101 {
				xs = append(xs, float64(i))
			}
			return xs
		}(), 0.99, 99},
		{"max", []float64{1, 5}, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Quantile(tt.xs, tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRunSmall runs both phases at a tiny scale with the fake in this
// process, and checks that every figure of the report was measured.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for a few seconds")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "report.json")
	var buf bytes.Buffer
	rep, err := Run(t.Context(), Config{
		VUs: 20, Duration: 2 * time.Second, Rate: 40, RateDuration: 2 * time.Second,
		Quick: true, InProcess: true, Out: out, WorkDir: filepath.Join(dir, "work"),
	}, &buf)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, buf.String())
	}
	t.Log("\n" + buf.String())
	c, o := rep.Closed, rep.Open
	if c.Requests == 0 || c.Iterations == 0 || c.Exit != 0 || c.Errors != 0 {
		t.Errorf("closed: got %d requests, %d iterations, exit %d, %d errors; want some, some, 0, 0\n%s", c.Requests, c.Iterations, c.Exit, c.Errors, c.Stderr)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > int64(c.VUs) {
		t.Errorf("closed: got max in flight %d, want 1..%d", c.MaxInFlight, c.VUs)
	}
	// Every successful request is matched by its trace id, and each
	// contributes tokens−1 gaps.
	if c.Gaps.Matched != c.Requests-c.Errors || c.Gaps.Unmatched != 0 || c.Gaps.Gaps != c.Gaps.Matched*int64(c.Tokens-1) {
		t.Errorf("closed gaps: got matched %d, unmatched %d, gaps %d; want %d, 0, %d", c.Gaps.Matched, c.Gaps.Unmatched, c.Gaps.Gaps, c.Requests-c.Errors, c.Gaps.Matched*int64(c.Tokens-1))
	}
	// Client and server clocks never agree to the nanosecond.
	if c.Gaps.AbsMaxMS == 0 || c.Gaps.ServerGapP50MS <= 0 {
		t.Errorf("closed gaps: got max error %v ms and server gap p50 %v ms; want both > 0", c.Gaps.AbsMaxMS, c.Gaps.ServerGapP50MS)
	}
	if c.ITLms.Count == 0 || c.CPUCores <= 0 || c.PeakRSSMiB <= 0 || c.RSSBeforeMiB <= 0 || c.WallS < 2 {
		t.Errorf("closed: got ITL count %d, CPU %v cores, peak RSS %v MiB, RSS before %v MiB, wall %v s; want all > 0 and wall >= 2", c.ITLms.Count, c.CPUCores, c.PeakRSSMiB, c.RSSBeforeMiB, c.WallS)
	}
	if o.Requests == 0 || o.SentRate <= 0 || o.ClientQueue.Count == 0 || o.Gaps.Matched == 0 || o.VUsMax == 0 {
		t.Errorf("open: got %d requests, %v/s, client queue count %d, %d matched, %d VUs; want all > 0", o.Requests, o.SentRate, o.ClientQueue.Count, o.Gaps.Matched, o.VUsMax)
	}
	if len(rep.Rows) == 0 {
		t.Fatal("got no table rows")
	}
	text := buf.String()
	for _, want := range []string{"COMPARED", "chunk-gap error", "achieved request rate", "per 1,000 VUs"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "met") && !strings.Contains(text, "MISSED") {
		t.Errorf("table says neither met nor MISSED:\n%s", text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	if back.Closed.Requests != c.Requests || len(back.Rows) != len(rep.Rows) {
		t.Errorf("report JSON: got %d requests and %d rows, want %d and %d", back.Closed.Requests, len(back.Rows), c.Requests, len(rep.Rows))
	}
}
