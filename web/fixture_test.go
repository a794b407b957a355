package web

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
)

var t0 = time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)

// runSpec describes a synthetic run folder: requests, summary and, when
// analyzed, an analysis whose verdict is bottleneck.
type runSpec struct {
	id, scenario, device string
	suite, night         string
	start                time.Time
	ttft                 float64 // the requests' base TTFT, ms
	analyzed             bool
	nightly              string // nightly.json, when set
	scenarioText         string // overrides the scenario name written (for escaping tests)
}

// writeRun writes a coherent run folder under runs and returns its path.
func writeRun(t *testing.T, runs string, s runSpec) string {
	t.Helper()
	dir := filepath.Join(runs, s.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.start.IsZero() {
		s.start = t0
	}
	if s.ttft == 0 {
		s.ttft = 100
	}
	scenario := s.scenario
	if s.scenarioText != "" {
		scenario = s.scenarioText
	}
	const n = 20
	var reqs []*runfmt.Request
	var breakdowns []runfmt.Breakdown
	var ttfts, tpots, e2es []float64
	for i := range n {
		sent := s.start.Add(time.Duration(i) * 500 * time.Millisecond)
		ttft := s.ttft * (1 + float64(i%5)/5)
		tpot := 20 + float64(i%3)
		out := 30
		e2e := ttft + tpot*float64(out-1)
		r := &runfmt.Request{
			Seq: int64(i + 1), Scenario: scenario, Protocol: "generate", Model: "gpt2", URL: "http://127.0.0.1:1/generate",
			VU: 1 + i%5, Iter: int64(i / 5), TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1), Stream: true,
			Started: sent.Add(-time.Millisecond), Sent: sent, WaitingMS: ttft - 1,
			FirstByteMS: ptr(ttft - 1), TTFTMS: ptr(ttft), TTSTMS: ptr(tpot), E2EMS: ptr(e2e), TPOTMS: ptr(tpot), CloseMS: e2e + 1,
			Chunks: out, Status: 200, OK: true, InputTokens: 10, OutputTokens: out, TokenSource: "usage", ClientOutputTokens: out,
		}
		for range out - 1 {
			r.GapsMS = append(r.GapsMS, tpot)
		}
		reqs = append(reqs, r)
		ttfts, tpots, e2es = append(ttfts, ttft), append(tpots, tpot), append(e2es, e2e)
		parts := map[string]float64{
			runfmt.PartConnectSend: 1, runfmt.PartNetwork: 2, runfmt.PartServerQueue: ttft * 0.4, runfmt.PartTokenize: 1,
			runfmt.PartPrefill: ttft*0.6 - 5, runfmt.PartDecodeOwn: tpot * 20, runfmt.PartDecodeShared: tpot * 8,
			runfmt.PartDetokenize: 0.5, runfmt.PartStreamWrite: 0.5,
		}
		total := 0.0
		for _, v := range parts {
			total += v
		}
		breakdowns = append(breakdowns, runfmt.Breakdown{
			Seq: r.Seq, TraceID: r.TraceID, Scenario: scenario, OK: true, TotalMS: total + 1, E2EMS: e2e, TTFTMS: ttft,
			Parts: parts, UnexplainedMS: 1, Dominant: runfmt.PartDecodeOwn, InputTokens: 10, OutputTokens: out, Source: "trace",
		})
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := log.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	end := s.start.Add(10 * time.Second)
	run := &runfmt.Run{
		ID: s.id, Scenario: scenario, Script: "scenarios/" + s.scenario + ".js", Target: "http://127.0.0.1:1", Protocol: "generate",
		Server: &runfmt.Server{Model: "gpt2", Backend: s.device, Device: s.device, Threads: 2},
		Suite:  s.suite, Night: s.night, Commit: "0123abc", Host: "bench", Start: s.start, End: end, Status: runfmt.StatusFinished,
	}
	if err := runfmt.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	sum := &runfmt.Summary{Start: s.start, End: end, Duration: 10, ThresholdsOK: true, Metrics: map[string]runfmt.Metric{},
		LLM: &runfmt.LLMSummary{
			Requests: n, RequestsPerS: 2, OutputTokPerS: 60, Goodput: 1.8, GoodRequests: n - 2,
			SLOs: map[string]float64{"ttft": 500}, TTFT: pcts(ttfts), TPOT: pcts(tpots), ITL: pcts(tpots), E2E: pcts(e2es),
		}}
	if err := runfmt.WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	if s.analyzed {
		mean := map[string]float64{}
		share := map[string]float64{}
		for _, b := range breakdowns {
			for p, v := range b.Parts {
				mean[p] += v / n
				share[p] += v / b.TotalMS / n
			}
		}
		var seqs []int64
		for _, b := range breakdowns {
			seqs = append(seqs, b.Seq)
		}
		a := &runfmt.Analysis{
			Run: s.id, Created: end, Coverage: runfmt.Coverage{Requests: n, Analyzed: n},
			Requests: breakdowns,
			Aggregate: runfmt.Aggregate{Requests: n, MeanShare: share, MeanMS: mean, Bands: []runfmt.Band{
				{Name: "p50", FromPct: 45, ToPct: 55, Requests: n, TotalMS: 700, MeanMS: mean, Seqs: seqs},
				{Name: "p95", FromPct: 90, ToPct: 99, Requests: n, TotalMS: 800, MeanMS: mean, Seqs: seqs},
			}},
			Verdict: runfmt.Verdict{Bottleneck: runfmt.PartDecodeOwn, Summary: "compute-bound: decode_own is 60 % of p95 latency",
				Evidence: []string{"decode_own 60 % of p95"}},
			Recommendations: []runfmt.Recommendation{{Action: "use a faster device", Because: "decode dominates", Evidence: []string{"decode_own 60 %"}}},
			Series: []runfmt.Series{{Name: "queue depth", Query: "llm_requests_waiting", Points: [][2]float64{
				{float64(s.start.Unix()), 1}, {float64(s.start.Unix() + 5), 2}, {float64(end.Unix()), 0}}}},
		}
		if err := runfmt.WriteAnalysis(dir, a); err != nil {
			t.Fatal(err)
		}
	}
	if s.nightly != "" {
		if err := os.WriteFile(filepath.Join(dir, index.NightlyFile), []byte(s.nightly), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func ptr(v float64) *float64 { return &v }

// pcts are rough percentiles of vs, enough for a report.
func pcts(vs []float64) runfmt.Percentiles {
	p := runfmt.Percentiles{Count: int64(len(vs))}
	sorted := slices.Sorted(slices.Values(vs))
	at := func(q float64) float64 { return sorted[int(math.Min(float64(len(sorted)-1), q*float64(len(sorted))))] }
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	p.Avg, p.Min, p.Max = sum/float64(len(vs)), sorted[0], sorted[len(sorted)-1]
	p.P50, p.P90, p.P95, p.P99 = at(0.5), at(0.9), at(0.95), at(0.99)
	return p
}
