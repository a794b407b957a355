package metrics

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/runfmt"
)

// WriteLLMText prints the run's headline after k6's metric list (see
// WriteText): LLM requests and errors, throughput, the latency percentiles
// and goodput for the SLOs. It prints nothing for a run without LLM
// requests.
func WriteLLMText(w io.Writer, s *runfmt.LLMSummary) {
	if s == nil || s.Requests == 0 && s.Canceled == 0 {
		return
	}
	ms := FormatDuration
	fmt.Fprintf(w, "     LLM: %d requests (%.2f/s), %d errors (%.2f%%), %.1f output tokens/s\n",
		s.Requests, s.RequestsPerS, s.Errors, 100*s.ErrorRate, s.OutputTokPerS)
	if s.Canceled > 0 {
		fmt.Fprintf(w, "     cut short by the run's stop: %d requests, left out of the figures here\n", s.Canceled)
	}
	for _, e := range s.ErrorClasses {
		first := e.First
		if r := []rune(first); len(r) > 160 {
			first = string(r[:160]) + "…"
		}
		fmt.Fprintf(w, "     errors: %s %d, the first: %s\n", e.Class, e.Count, first)
	}
	for _, l := range []struct {
		name string
		p    runfmt.Percentiles
	}{{"TTFT", s.TTFT}, {"TPOT", s.TPOT}, {"ITL", s.ITL}, {"e2e", s.E2E}} {
		if l.p.Count == 0 {
			continue
		}
		fmt.Fprintf(w, "     %-5s p50=%-9s p90=%-9s p95=%-9s p99=%-9s max=%s\n", l.name, ms(l.p.P50), ms(l.p.P90), ms(l.p.P95), ms(l.p.P99), ms(l.p.Max))
	}
	if q := s.ClientQueue; q != nil && q.Count > 0 {
		fmt.Fprintf(w, "     client queue (scheduled → sent) p50=%s p99=%s max=%s\n", ms(q.P50), ms(q.P99), ms(q.Max))
	}
	if s.DroppedIterations > 0 {
		fmt.Fprintf(w, "     dropped iterations: %d (the arrival rate was not met: raise maxVUs, or the server is too slow)\n", s.DroppedIterations)
	}
	if len(s.SLOs) > 0 {
		keys := make([]string, 0, len(s.SLOs))
		for k := range s.SLOs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s ≤ %s", k, ms(s.SLOs[k])))
		}
		fmt.Fprintf(w, "     goodput: %.2f requests/s met every SLO (%s): %d of %d requests\n",
			s.Goodput, strings.Join(parts, ", "), s.GoodRequests, s.Requests)
	}
	if s.TokenMismatches > 0 {
		fmt.Fprintf(w, "     token counts: %s\n", strings.ReplaceAll(s.TokenCountNote(), "\n", "\n                   "))
	}
	fmt.Fprintln(w)
}
