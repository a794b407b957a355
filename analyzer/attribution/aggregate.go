package attribution

import (
	"cmp"
	"math"
	"slices"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// bands are the percentile ranges of Aggregate's bands; see Aggregate.
var bands = []struct {
	name             string
	from, to, center float64
}{
	{"p50", 45, 55, 50},
	{"p95", 90, 97.5, 95},
	{"p99", 98.5, 100, 99},
}

// Aggregate summarizes the breakdowns of the successful requests (OK); the
// failed ones are left out. MeanShare is the mean over requests of each
// part's share of its total (requests with a zero total left out), MeanMS
// the mean of each part.
//
// The bands hold the requests around each percentile of the total, with
// their mean composition. A request's percentile is its rank by total as
// the run summary interpolates percentiles (Hyndman and Fan's definition
// 7): 100·i/(n−1) for the i-th smallest of n, 0-based. p50 holds the
// requests from the 45th to the 55th percentile, p95 from the 90th to the
// 97.5th, p99 from the 98.5th up, bounds included. A band no request falls
// in (few requests) holds the one request nearest its centre (50, 95,
// 99), so every band of a non-empty run has at least one request.
//
// SLOMisses
// groups the requests that missed an SLO by their dominant part, largest
// group first. UnexplainedMeanPct and UnexplainedMaxPct are the mean and
// maximum of 100·|unexplained| / total.
func Aggregate(bs []runfmt.Breakdown) runfmt.Aggregate {
	var ok []*runfmt.Breakdown
	for i := range bs {
		if bs[i].OK {
			ok = append(ok, &bs[i])
		}
	}
	a := runfmt.Aggregate{
		Source:    sourceOf(ok),
		Requests:  len(ok),
		MeanShare: make(map[string]float64, len(runfmt.Parts)),
		MeanMS:    meanParts(ok),
		Bands:     []runfmt.Band{},
	}
	if len(ok) == 0 {
		return a
	}
	shareN := 0
	var unexpSum float64
	for _, b := range ok {
		if b.TotalMS <= 0 {
			continue
		}
		shareN++
		for _, p := range runfmt.Parts {
			a.MeanShare[p] += b.Parts[p] / b.TotalMS
		}
		u := 100 * math.Abs(b.UnexplainedMS) / b.TotalMS
		unexpSum += u
		a.UnexplainedMaxPct = max(a.UnexplainedMaxPct, u)
	}
	for _, p := range runfmt.Parts {
		if shareN > 0 {
			a.MeanShare[p] /= float64(shareN)
		} else {
			a.MeanShare[p] = 0
		}
	}
	if shareN > 0 {
		a.UnexplainedMeanPct = unexpSum / float64(shareN)
	}

	ranked := slices.Clone(ok)
	slices.SortStableFunc(ranked, func(x, y *runfmt.Breakdown) int {
		return cmp.Or(cmp.Compare(x.TotalMS, y.TotalMS), cmp.Compare(x.Seq, y.Seq))
	})
	n := len(ranked)
	pct := func(i int) float64 {
		if n == 1 {
			return 50
		}
		return 100 * float64(i) / float64(n-1)
	}
	const eps = 1e-9
	for _, band := range bands {
		var in []*runfmt.Breakdown
		for i, b := range ranked {
			if p := pct(i); p >= band.from-eps && p <= band.to+eps {
				in = append(in, b)
			}
		}
		if len(in) == 0 {
			best := 0
			for i := range ranked {
				if math.Abs(pct(i)-band.center) < math.Abs(pct(best)-band.center) {
					best = i
				}
			}
			in = ranked[best : best+1]
		}
		out := runfmt.Band{Name: band.name, FromPct: band.from, ToPct: band.to, Requests: len(in), MeanMS: meanParts(in)}
		for _, b := range in {
			out.TotalMS += b.TotalMS
			out.Seqs = append(out.Seqs, b.Seq)
		}
		out.TotalMS /= float64(len(in))
		slices.Sort(out.Seqs)
		a.Bands = append(a.Bands, out)
	}

	groups := make(map[string][]*runfmt.Breakdown)
	for _, b := range ok {
		if len(b.SLOMissed) > 0 {
			groups[b.Dominant] = append(groups[b.Dominant], b)
		}
	}
	for dom, g := range groups {
		a.SLOMisses = append(a.SLOMisses, runfmt.SLOGroup{Dominant: dom, Requests: len(g), MeanMS: meanParts(g)})
	}
	slices.SortFunc(a.SLOMisses, func(x, y runfmt.SLOGroup) int {
		return cmp.Or(cmp.Compare(y.Requests, x.Requests), byPartOrder(x.Dominant, y.Dominant))
	})
	return a
}

// sourceOf is the source the breakdowns share; "" when they mix sources.
func sourceOf(bs []*runfmt.Breakdown) string {
	src := ""
	for i, b := range bs {
		if i > 0 && b.Source != src {
			return ""
		}
		src = b.Source
	}
	return src
}

// Only returns the breakdowns of one source.
func Only(bs []runfmt.Breakdown, source string) []runfmt.Breakdown {
	var out []runfmt.Breakdown
	for _, b := range bs {
		if b.Source == source {
			out = append(out, b)
		}
	}
	return out
}

// Primary is the source a run's shares and verdict rest on: the richest
// source (trace, then server, then client) that at least half of the
// successful requests have, or, when none has half, the one most of them
// have (the richer on a tie). "" when no request succeeded. Shares are
// never taken over a mix of sources: a request whose server time is split
// by spans and one whose is not do not add up to one composition.
func Primary(bs []runfmt.Breakdown) string {
	count := map[string]int{}
	ok := 0
	for _, b := range bs {
		if b.OK {
			count[b.Source]++
			ok++
		}
	}
	if ok == 0 {
		return ""
	}
	for _, src := range sources {
		if 2*count[src] >= ok {
			return src
		}
	}
	best := ""
	for _, src := range sources {
		if best == "" || count[src] > count[best] {
			best = src
		}
	}
	return best
}

// BySource aggregates the primary source's breakdowns (Primary), and
// separately each other source that some successful request has, richest
// first.
func BySource(bs []runfmt.Breakdown) (runfmt.Aggregate, []runfmt.Aggregate) {
	prim := Primary(bs)
	if prim == "" {
		return Aggregate(nil), nil
	}
	var others []runfmt.Aggregate
	for _, src := range sources {
		if src == prim {
			continue
		}
		if o := Only(bs, src); slices.ContainsFunc(o, func(b runfmt.Breakdown) bool { return b.OK }) {
			others = append(others, Aggregate(o))
		}
	}
	return Aggregate(Only(bs, prim)), others
}

// meanParts returns the mean of each part over bs (zeros when bs is
// empty).
func meanParts(bs []*runfmt.Breakdown) map[string]float64 {
	m := make(map[string]float64, len(runfmt.Parts))
	for _, p := range runfmt.Parts {
		sum := 0.0
		for _, b := range bs {
			sum += b.Parts[p]
		}
		if len(bs) > 0 {
			sum /= float64(len(bs))
		}
		m[p] = sum
	}
	return m
}

// percentile is the p-th percentile of sorted values, the definition the
// run summary uses (stats.Percentile); 0 for no values.
func percentile(sorted []float64, p float64) float64 { return stats.Percentile(sorted, p) }

func mean(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}
