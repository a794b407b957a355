package nightly

import (
	"math"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

func TestMetricValues(t *testing.T) {
	s := &runfmt.LLMSummary{
		Requests: 10, ErrorRate: 0.1, RequestsPerS: 2.5, OutputTokPerS: 40,
		TTFT: runfmt.Percentiles{Count: 10, P50: 1, P95: 2, P99: 3},
		TPOT: runfmt.Percentiles{Count: 10, P50: 4, P95: 5, P99: 6},
		ITL:  runfmt.Percentiles{Count: 10, P50: 7, P95: 8, P99: 9},
		E2E:  runfmt.Percentiles{Count: 10, P50: 10, P95: 11, P99: 12},
	}
	want := map[string]float64{
		"ttft_p50_ms": 1, "ttft_p95_ms": 2, "ttft_p99_ms": 3, "tpot_p50_ms": 4, "tpot_p95_ms": 5, "tpot_p99_ms": 6,
		"itl_p50_ms": 7, "itl_p95_ms": 8, "itl_p99_ms": 9, "e2e_p50_ms": 10, "e2e_p95_ms": 11, "e2e_p99_ms": 12,
		"requests_per_s": 2.5, "output_tokens_per_s": 40, "error_rate": 0.1,
	}
	names := MetricNames()
	if len(names) != len(want) {
		t.Errorf("MetricNames: got %d names %q, want %d", len(names), names, len(want))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := lookupMetric(name)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := m.value(s); !ok || got != want[name] {
				t.Errorf("got %v (%v), want %v", got, ok, want[name])
			}
		})
	}
	m, _ := lookupMetric("tpot_p50_ms")
	if _, ok := m.value(&runfmt.LLMSummary{Requests: 3}); ok {
		t.Errorf("tpot_p50_ms of a run without TPOT samples: got a value, want none")
	}
}

func TestMetricSamples(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	var reqs []*runfmt.Request
	// 10 s of requests, one completing every 0.5 s, the 4th one failed.
	for i := range 20 {
		r := &runfmt.Request{Started: t0.Add(time.Duration(i) * 500 * time.Millisecond), OK: i != 3, OutputTokens: 10, CloseMS: 499}
		r.Sent = r.Started
		if r.OK {
			r.TTFTMS, r.E2EMS, r.GapsMS = f(float64(i)), f(float64(100+i)), []float64{1, 2}
		}
		reqs = append(reqs, r)
	}
	tests := []struct {
		metric  string
		wantN   int
		wantSum float64
	}{
		{"ttft_p95_ms", 19, 190 - 3},
		{"e2e_p50_ms", 19, 19*100 + 190 - 3},
		{"itl_p99_ms", 38, 19 * 3},
		{"error_rate", 20, 1},
		{"requests_per_s", 9, 20 / (9.999 / 9)}, // 9 whole seconds → 9 windows of 1.111 s
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			m, _ := lookupMetric(tt.metric)
			xs := m.sample(reqs)
			sum := 0.0
			for _, x := range xs {
				sum += x
			}
			if len(xs) != tt.wantN || math.Abs(sum-tt.wantSum) > 1e-6 {
				t.Errorf("got %d values summing to %v, want %d summing to %v", len(xs), sum, tt.wantN, tt.wantSum)
			}
		})
	}
}
