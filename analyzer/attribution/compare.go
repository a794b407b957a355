package attribution

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// Significance thresholds of Compare: a change is significant when the
// Mann–Whitney p-value is below SignificanceP and the means differ by
// more than SignificanceDelta of A's mean.
const (
	SignificanceP     = 0.01
	SignificanceDelta = 0.01
)

// Comparison is run B measured against run A, per request.
type Comparison struct {
	A int `json:"a_requests"` // successful requests of A
	B int `json:"b_requests"` // successful requests of B
	// Metrics holds "total", "ttft", then each part in runfmt.Parts order.
	Metrics []Delta `json:"metrics"`
	// Summary says it in a sentence, e.g. "B vs A: total p95 −93 % (1250.0
	// → 87.5 ms), mean −92 %, significant (p = 1.2e-08); mostly prefill
	// (−1100.0 ms); server_queue unchanged".
	Summary string `json:"summary"`
}

// Delta is one metric of a Comparison, in milliseconds.
type Delta struct {
	Name  string  `json:"name"` // "total", "ttft" or a part
	MeanA float64 `json:"mean_a_ms"`
	MeanB float64 `json:"mean_b_ms"`
	P95A  float64 `json:"p95_a_ms"`
	P95B  float64 `json:"p95_b_ms"`
	// DeltaMS is MeanB − MeanA, DeltaPct the same in percent of MeanA (0
	// when MeanA is 0), P95DeltaPct the change of the p95.
	DeltaMS     float64 `json:"delta_ms"`
	DeltaPct    float64 `json:"delta_pct"`
	P95DeltaPct float64 `json:"p95_delta_pct"`
	// U is the Mann–Whitney statistic of A's values and P its two-sided
	// p-value (normal approximation, tie and continuity corrected).
	U float64 `json:"u"`
	P float64 `json:"p"`
	// Significant: P < SignificanceP and |DeltaPct| > 100·SignificanceDelta
	// (any nonzero DeltaMS when MeanA is 0).
	Significant bool `json:"significant"`
}

// Compare compares the successful requests of two runs: for the total,
// TTFT and each part, the means and p95s, their change, and a
// Mann–Whitney U test on the per-request values.
func Compare(a, b []runfmt.Breakdown) Comparison {
	oka, okb := okOnly(a), okOnly(b)
	c := Comparison{A: len(oka), B: len(okb)}
	names := append([]string{"total", "ttft"}, runfmt.Parts...)
	for _, name := range names {
		xa, xb := values(oka, name), values(okb, name)
		d := Delta{Name: name, MeanA: mean(xa), MeanB: mean(xb)}
		d.U, d.P = stats.MannWhitney(xa, xb)
		slices.Sort(xa)
		slices.Sort(xb)
		d.P95A, d.P95B = percentile(xa, 95), percentile(xb, 95)
		d.DeltaMS = d.MeanB - d.MeanA
		if d.MeanA != 0 {
			d.DeltaPct = 100 * d.DeltaMS / d.MeanA
		}
		if d.P95A != 0 {
			d.P95DeltaPct = 100 * (d.P95B - d.P95A) / d.P95A
		}
		big := math.Abs(d.DeltaPct) > 100*SignificanceDelta
		if d.MeanA == 0 {
			big = d.DeltaMS != 0
		}
		d.Significant = len(xa) > 0 && len(xb) > 0 && d.P < SignificanceP && big
		c.Metrics = append(c.Metrics, d)
	}
	c.Summary = c.summary()
	return c
}

func (c Comparison) summary() string {
	if c.A == 0 || c.B == 0 {
		return fmt.Sprintf("nothing to compare: A has %d and B %d successful requests", c.A, c.B)
	}
	total := c.Metrics[0]
	var sb strings.Builder
	fmt.Fprintf(&sb, "B vs A: total p95 %s (%.1f → %.1f ms), mean %s, ", signedPct(total.P95DeltaPct), total.P95A, total.P95B, signedPct(total.DeltaPct))
	if !total.Significant {
		fmt.Fprintf(&sb, "not significant (p = %.2g)", total.P)
		return sb.String()
	}
	fmt.Fprintf(&sb, "significant (p = %.2g)", total.P)
	if ttft := c.Metrics[1]; ttft.Significant {
		fmt.Fprintf(&sb, "; TTFT mean %s", signedPct(ttft.DeltaPct))
	}
	var most *Delta
	var unchanged []string
	for i := 2; i < len(c.Metrics); i++ {
		d := &c.Metrics[i]
		if d.Significant && d.DeltaMS*total.DeltaMS > 0 && (most == nil || math.Abs(d.DeltaMS) > math.Abs(most.DeltaMS)) {
			most = d
		}
		if !d.Significant && total.MeanA > 0 && d.MeanA/total.MeanA >= 0.05 {
			unchanged = append(unchanged, d.Name)
		}
	}
	if most != nil {
		fmt.Fprintf(&sb, "; mostly %s (%s ms)", most.Name, signed(most.DeltaMS))
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(&sb, "; %s unchanged", strings.Join(unchanged, ", "))
	}
	return sb.String()
}

// signedPct formats a change in percent with a real minus sign: "−93 %".
func signedPct(v float64) string { return signed0(v) + " %" }

func signed0(v float64) string {
	if math.Abs(v) < 0.5 {
		return "0"
	}
	return strings.Replace(fmt.Sprintf("%+.0f", v), "-", "−", 1)
}

func signed(v float64) string {
	return strings.Replace(fmt.Sprintf("%+.1f", v), "-", "−", 1)
}

func okOnly(bs []runfmt.Breakdown) []runfmt.Breakdown {
	var out []runfmt.Breakdown
	for _, b := range bs {
		if b.OK {
			out = append(out, b)
		}
	}
	return out
}

func values(bs []runfmt.Breakdown, name string) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		switch name {
		case "total":
			out[i] = b.TotalMS
		case "ttft":
			out[i] = b.TTFTMS
		default:
			out[i] = b.Parts[name]
		}
	}
	return out
}
