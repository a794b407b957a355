package reportgen

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/analyzer/attribution"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// comparePage is what templates/compare.html shows: run B against run A.
type comparePage struct {
	Title          string
	LabelA, LabelB string
	RunA, RunB     string
	Notes          []string
	// Summary is the comparison in plain language, a sentence a line.
	Summary  []string
	Headline []compareRow
	// Deltas is per part, from attribution.Compare (nil unless both runs
	// were analyzed).
	Deltas     []deltaRow
	Requests   string // how many successful requests each side compared
	PartsChart *chart
	BandsChart *chart
	// Distributions overlay the two runs' CDFs.
	Distributions     []*chart
	DistributionNotes []string
	Meta              []kv
	SignificanceText  string

	page
}

// compareRow is one headline number of both runs.
type compareRow struct {
	Name, A, B, Change string
	Better, Worse      bool
}

// deltaRow is one metric of attribution.Compare.
type deltaRow struct {
	Name                          string
	MeanA, MeanB, DeltaMS, Change string
	P95A, P95B, P95Change         string
	P                             string
	Significant                   bool
	Better, Worse                 bool
}

// compareLabels names the runs by what differs between them: the device,
// the weights' type, the commit, or several; by their IDs when none does.
func compareLabels(a, b *runData) (string, string) {
	var la, lb []string
	if da, db := a.device(), b.device(); da != db {
		la, lb = append(la, da), append(lb, db)
	}
	if ta, tb := a.dtype(), b.dtype(); ta != tb {
		la, lb = append(la, ta), append(lb, tb)
	}
	if ca, cb := a.Run.Commit, b.Run.Commit; ca != cb {
		la, lb = append(la, cmp.Or(ca, "no commit")), append(lb, cmp.Or(cb, "no commit"))
	}
	A, B := strings.Join(la, " @ "), strings.Join(lb, " @ ")
	if A == "" || A == B {
		A, B = a.Run.ID, b.Run.ID
	}
	if A == B {
		A, B = "A", "B"
	}
	return A, B
}

// change is B's change from A in percent with a real minus sign, "−93 %",
// or "" when A is 0.
func change(a, b float64) string {
	if a == 0 {
		return ""
	}
	v := 100 * (b - a) / a
	if math.Abs(v) < 0.5 {
		return "0 %"
	}
	return strings.Replace(fmt.Sprintf("%+.0f %%", v), "-", "−", 1)
}

func buildCompare(a, b *runData) *comparePage {
	la, lb := compareLabels(a, b)
	p := &comparePage{
		Title:  fmt.Sprintf("llmbench comparison: %s vs %s", lb, la),
		LabelA: la, LabelB: lb,
		RunA: a.Run.ID, RunB: b.Run.ID,
	}
	for _, n := range a.Notes {
		p.Notes = append(p.Notes, "A ("+la+"): "+n)
	}
	for _, n := range b.Notes {
		p.Notes = append(p.Notes, "B ("+lb+"): "+n)
	}
	if s := headlineSentence(a.llm(), b.llm(), la, lb); s != "" {
		p.Summary = append(p.Summary, s)
	}
	p.Headline = compareHeadline(a.llm(), b.llm())
	if a.Analysis != nil && b.Analysis != nil {
		c := attribution.Compare(a.Analysis.Requests, b.Analysis.Requests)
		p.Summary = append(p.Summary, fmt.Sprintf("%s vs %s, per request: %s", lb, la, strings.TrimPrefix(c.Summary, "B vs A: ")))
		p.Requests = fmt.Sprintf("%d successful requests of A and %d of B", c.A, c.B)
		p.SignificanceText = fmt.Sprintf("✱ significant: Mann–Whitney U p < %.2g and a change of more than %.0f %% of A's mean; otherwise noise",
			attribution.SignificanceP, 100*attribution.SignificanceDelta)
		p.Deltas, p.PartsChart = compareParts(&p.page, c, la, lb)
		p.BandsChart = compareBands(&p.page, a.Analysis, b.Analysis)
	} else {
		p.Summary = append(p.Summary, "per-part deltas need both runs analyzed: run llmbench analyze on each")
	}
	p.Distributions, p.DistributionNotes = compareDistributions(&p.page, a, b, la, lb)
	p.Meta = compareMeta(a, b)
	return p
}

func headlineSentence(a, b *runfmt.LLMSummary, la, lb string) string {
	if a == nil || b == nil {
		return ""
	}
	return fmt.Sprintf("%s vs %s: TTFT p95 %s (%s → %s ms), TPOT p95 %s, e2e p95 %s (%s → %s ms), throughput %s (%.2f → %.2f requests/s), error rate %.2f → %.2f %%",
		lb, la,
		cmp.Or(change(a.TTFT.P95, b.TTFT.P95), "n/a"), ms(a.TTFT.P95), ms(b.TTFT.P95),
		cmp.Or(change(a.TPOT.P95, b.TPOT.P95), "n/a"),
		cmp.Or(change(a.E2E.P95, b.E2E.P95), "n/a"), ms(a.E2E.P95), ms(b.E2E.P95),
		cmp.Or(change(a.RequestsPerS, b.RequestsPerS), "n/a"), a.RequestsPerS, b.RequestsPerS,
		100*a.ErrorRate, 100*b.ErrorRate)
}

func compareHeadline(a, b *runfmt.LLMSummary) []compareRow {
	if a == nil || b == nil {
		return nil
	}
	var rows []compareRow
	add := func(name string, va, vb float64, format string, lowerBetter bool) {
		r := compareRow{Name: name, A: fmt.Sprintf(format, va), B: fmt.Sprintf(format, vb), Change: change(va, vb)}
		if va != 0 && math.Abs(vb-va)/va >= 0.01 {
			r.Better = (vb < va) == lowerBetter
			r.Worse = !r.Better
		}
		rows = append(rows, r)
	}
	lat := func(name string, pa, pb runfmt.Percentiles) {
		add(name+" p50", pa.P50, pb.P50, "%.1f ms", true)
		add(name+" p95", pa.P95, pb.P95, "%.1f ms", true)
		add(name+" p99", pa.P99, pb.P99, "%.1f ms", true)
	}
	lat("TTFT", a.TTFT, b.TTFT)
	lat("TPOT", a.TPOT, b.TPOT)
	lat("ITL", a.ITL, b.ITL)
	lat("e2e", a.E2E, b.E2E)
	add("throughput", a.RequestsPerS, b.RequestsPerS, "%.2f requests/s", false)
	add("output tokens", a.OutputTokPerS, b.OutputTokPerS, "%.1f tokens/s", false)
	add("goodput", a.Goodput, b.Goodput, "%.2f requests/s", false)
	add("error rate", 100*a.ErrorRate, 100*b.ErrorRate, "%.2f %%", true)
	return rows
}

func compareParts(pg *page, c attribution.Comparison, la, lb string) ([]deltaRow, *chart) {
	var rows []deltaRow
	var cats []string
	var ma, mb []float64
	for _, d := range c.Metrics {
		if d.MeanA == 0 && d.MeanB == 0 {
			continue
		}
		r := deltaRow{
			Name: d.Name, MeanA: ms(d.MeanA), MeanB: ms(d.MeanB),
			DeltaMS: strings.Replace(fmt.Sprintf("%+.1f", d.DeltaMS), "-", "−", 1),
			Change:  change(d.MeanA, d.MeanB),
			P95A:    ms(d.P95A), P95B: ms(d.P95B), P95Change: change(d.P95A, d.P95B),
			P: fmt.Sprintf("%.2g", d.P), Significant: d.Significant,
		}
		if d.Significant {
			r.Better, r.Worse = d.DeltaMS < 0, d.DeltaMS > 0
		}
		rows = append(rows, r)
		if d.Name == "total" || d.Name == "ttft" {
			continue
		}
		cat := d.Name
		if d.Significant {
			cat += " ✱"
		}
		cats = append(cats, cat)
		ma, mb = append(ma, d.MeanA), append(mb, d.MeanB)
	}
	if len(cats) == 0 {
		return rows, nil
	}
	ch := pg.add(newChart("chart-compare-parts", "Mean ms per part, A and B (✱ a significant change)",
		groupedBars("chart-compare-parts", cats, []series{{Name: la, Values: ma}, {Name: lb, Values: mb}}, "ms")))
	return rows, ch
}

func compareBands(pg *page, a, b *runfmt.Analysis) *chart {
	var cats []string
	var means []map[string]float64
	for _, ba := range a.Aggregate.Bands {
		i := slices.IndexFunc(b.Aggregate.Bands, func(bb runfmt.Band) bool { return bb.Name == ba.Name })
		if i < 0 {
			continue
		}
		bb := b.Aggregate.Bands[i]
		cats = append(cats, "A "+ba.Name, "B "+bb.Name)
		means = append(means, ba.MeanMS, bb.MeanMS)
	}
	if len(cats) == 0 {
		return nil
	}
	var rows []series
	for _, p := range usedParts(means...) {
		r := series{Name: p}
		for _, m := range means {
			r.Values = append(r.Values, m[p])
		}
		rows = append(rows, r)
	}
	return pg.add(newChart("chart-compare-bands", "Composition of each percentile band, A beside B (mean ms of each part)",
		stackedBars("chart-compare-bands", cats, rows, "ms", false)))
}

func compareDistributions(pg *page, a, b *runData, la, lb string) ([]*chart, []string) {
	ra, pra, _, rea := values(a.Reqs)
	rb, prb, _, reb := values(b.Reqs)
	ta, pa, ea := ra.sorted(), pra.sorted(), rea.sorted()
	tb, pb, eb := rb.sorted(), prb.sorted(), reb.sorted()
	var cs []*chart
	var notes []string
	for _, m := range []struct {
		key, name string
		a, b      []float64
	}{
		{"ttft", "TTFT", ta, tb},
		{"tpot", "TPOT", pa, pb},
		{"e2e", "e2e", ea, eb},
	} {
		if len(m.a) == 0 && len(m.b) == 0 {
			notes = append(notes, fmt.Sprintf("no %s values in either run", m.name))
			continue
		}
		id := "chart-compare-" + m.key
		caption := fmt.Sprintf("%s CDF: A p95 %s ms, B p95 %s ms", m.name, ms(stats.Quantile(m.a, .95)), ms(stats.Quantile(m.b, .95)))
		cs = append(cs, pg.add(newChart(id, caption, lines(id, "ms", "CDF %", "", []line{
			{Name: la, Points: cdf(m.a, 101), Step: true},
			{Name: lb, Points: cdf(m.b, 101), Step: true},
		}))))
	}
	return cs, notes
}

// compareMeta puts the runs' metadata side by side, A's rows first,
// marking the rows that differ.
func compareMeta(a, b *runData) []kv {
	ma, _ := buildMeta(a)
	mb, _ := buildMeta(b)
	var out []kv
	seen := map[string]bool{}
	find := func(rows []kv, key string) string {
		for _, r := range rows {
			if r.Key == key {
				return r.Value
			}
		}
		return ""
	}
	for _, r := range append(ma, mb...) {
		if seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		va, vb := find(ma, r.Key), find(mb, r.Key)
		out = append(out, kv{Key: r.Key, Value: va, B: vb, Diff: va != vb})
	}
	return out
}
