package analyzer

import (
	"fmt"
	"io"

	"github.com/llmbench/llmbench/analyzer/attribution"
	"github.com/llmbench/llmbench/runfmt"
)

// Compare compares two analyzed runs, B against A (e.g. CPU then GPU,
// commit A then commit B): per part, the change of its mean and p95 and
// whether it is significant (Mann-Whitney U on the per-request values), so
// that noise is not reported as change. It prints the table to w.
func Compare(dirA, dirB string, w io.Writer) (*attribution.Comparison, error) {
	a, err := runfmt.ReadAnalysis(dirA)
	if err != nil {
		return nil, fmt.Errorf("compare: %w (run `llmbench analyze %s` first)", err, dirA)
	}
	b, err := runfmt.ReadAnalysis(dirB)
	if err != nil {
		return nil, fmt.Errorf("compare: %w (run `llmbench analyze %s` first)", err, dirB)
	}
	c := attribution.Compare(a.Requests, b.Requests)
	if w != nil {
		fmt.Fprintf(w, "\nB = %s against A = %s (%d and %d successful requests)\n\n", b.Run, a.Run, c.B, c.A)
		fmt.Fprintf(w, "  %-15s %11s %11s %10s %11s %11s %10s %9s\n", "", "mean A", "mean B", "change", "p95 A", "p95 B", "change", "p")
		for _, d := range c.Metrics {
			if d.MeanA == 0 && d.MeanB == 0 {
				continue
			}
			mark := "  (noise)"
			if d.Significant {
				mark = "  *"
			}
			fmt.Fprintf(w, "  %-15s %9.1fms %9.1fms %+9.1f%% %9.1fms %9.1fms %+9.1f%% %9.2g%s\n",
				d.Name, d.MeanA, d.MeanB, d.DeltaPct, d.P95A, d.P95B, d.P95DeltaPct, d.P, mark)
		}
		fmt.Fprintf(w, "\n  * significant: p < %.2g (Mann-Whitney U) and a change over %.0f %%\n", attribution.SignificanceP, 100*attribution.SignificanceDelta)
		fmt.Fprintf(w, "\n%s\n", c.Summary)
	}
	return &c, nil
}
