package loadgen

import (
	"fmt"
	"slices"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// LLMSummary computes a run's headline numbers from its requests.jsonl:
// exact percentiles over every request, throughput over [start, end], and
// goodput for the SLOs (milliseconds; nil or empty: every successful
// request is good). A malformed line is skipped and counted in the error.
func LLMSummary(dir string, start, end time.Time, slo map[string]float64, dropped int64) (*runfmt.LLMSummary, error) {
	var acc llmAcc
	var bad int
	var firstErr error
	for r, err := range runfmt.Requests(dir) {
		if err != nil {
			bad++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		acc.add(r, slo)
	}
	s := acc.summary(end.Sub(start), slo)
	s.DroppedIterations = dropped
	if bad > 0 {
		return s, fmt.Errorf("%d unreadable lines in %s, the first: %w", bad, runfmt.RequestsFile, firstErr)
	}
	return s, nil
}

// llmAcc accumulates requests for LLMSummary.
type llmAcc struct {
	n, errors, good, mismatches, outTokens int64
	compared, usageTokens, clientTokens    int64 // requests with both token counts, and their sums
	canceled                               int64 // cut short by the run's stop: left out
	ttft, tpot, itl, e2e, queue            []float64
	classes                                []runfmt.ErrorCount // in order of first appearance
}

func (a *llmAcc) add(r *runfmt.Request, slo map[string]float64) {
	if !r.OK && r.ErrorClass == runfmt.ErrorCanceled {
		a.canceled++
		return
	}
	a.n++
	if !r.OK {
		a.errors++
		class := r.ErrorClass
		if class == "" {
			class = "unclassified"
		}
		i := slices.IndexFunc(a.classes, func(c runfmt.ErrorCount) bool { return c.Class == class })
		if i < 0 {
			i = len(a.classes)
			a.classes = append(a.classes, runfmt.ErrorCount{Class: class, First: r.Error})
		}
		a.classes[i].Count++
	} else {
		a.outTokens += int64(r.OutputTokens)
		if meetsSLO(r, slo) {
			a.good++
		}
	}
	if r.TokenSource == "usage" && r.ClientOutputTokens != 0 {
		a.compared++
		a.usageTokens += int64(r.OutputTokens)
		a.clientTokens += int64(r.ClientOutputTokens)
		if r.ClientOutputTokens != r.OutputTokens {
			a.mismatches++
		}
	}
	push := func(dst *[]float64, v *float64) {
		if v != nil {
			*dst = append(*dst, *v)
		}
	}
	push(&a.ttft, r.TTFTMS)
	push(&a.tpot, r.TPOTMS)
	push(&a.e2e, r.E2EMS)
	push(&a.queue, r.ClientQueueMS)
	a.itl = append(a.itl, r.GapsMS...)
}

// meetsSLO reports whether a successful request met every objective.
func meetsSLO(r *runfmt.Request, slo map[string]float64) bool { return len(r.MissedSLOs(slo)) == 0 }

func (a *llmAcc) summary(d time.Duration, slo map[string]float64) *runfmt.LLMSummary {
	s := &runfmt.LLMSummary{
		Requests: a.n, Errors: a.errors, Canceled: a.canceled, GoodRequests: a.good, TokenMismatches: a.mismatches, SLOs: slo,
		TokensCompared: a.compared, UsageTokens: a.usageTokens, ClientTokens: a.clientTokens,
		TTFT: percentiles(a.ttft), TPOT: percentiles(a.tpot), ITL: percentiles(a.itl), E2E: percentiles(a.e2e),
	}
	if len(a.classes) > 0 {
		s.ErrorClasses = slices.Clone(a.classes)
		slices.SortStableFunc(s.ErrorClasses, func(x, y runfmt.ErrorCount) int { return int(y.Count - x.Count) })
	}
	if len(a.queue) > 0 {
		q := percentiles(a.queue)
		s.ClientQueue = &q
	}
	if a.n > 0 {
		s.ErrorRate = float64(a.errors) / float64(a.n)
	}
	if sec := d.Seconds(); sec > 0 {
		s.RequestsPerS = float64(a.n) / sec
		s.OutputTokPerS = float64(a.outTokens) / sec
		s.Goodput = float64(a.good) / sec
	}
	return s
}

func percentiles(vs []float64) runfmt.Percentiles {
	if len(vs) == 0 {
		return runfmt.Percentiles{}
	}
	slices.Sort(vs)
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	return runfmt.Percentiles{
		Count: int64(len(vs)), Avg: sum / float64(len(vs)), Min: vs[0], Max: vs[len(vs)-1],
		P50: stats.Percentile(vs, 50), P90: stats.Percentile(vs, 90), P95: stats.Percentile(vs, 95), P99: stats.Percentile(vs, 99),
	}
}

// droppedOf reads dropped_iterations from a summary's metrics.
func droppedOf(ms map[string]runfmt.Metric) int64 {
	return int64(ms["dropped_iterations"].Values["count"])
}
