package attribution

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// Knee thresholds: between two consecutive load points, throughput has
// stopped rising when it gains less than KneeGain, and latency climbs when
// the p95 total grows by more than KneeClimb.
const (
	KneeGain  = 0.05
	KneeClimb = 0.10
)

// Saturation finds the knee of a sweep of rising load and its capacity at
// the SLOs. The points are sorted by Offered. The knee is the last point
// before the first step where throughput gains less than KneeGain while
// the p95 total climbs by more than KneeClimb; nil when the sweep never
// got there. CapacityAtSLO is the highest throughput among the points
// whose p95s meet the SLOs: "ttft" against TTFTP95MS, "e2e" against
// TotalP95MS (which starts at the scheduled time, so it is the stricter);
// other objectives are not in a LoadPoint and are skipped, with a note.
// Without a ttft or e2e objective CapacityAtSLO is 0. Nil when there are
// no points.
func Saturation(points []runfmt.LoadPoint, slo map[string]float64) *runfmt.Saturation {
	if len(points) == 0 {
		return nil
	}
	ps := slices.Clone(points)
	slices.SortStableFunc(ps, func(a, b runfmt.LoadPoint) int { return cmp.Compare(a.Offered, b.Offered) })
	s := &runfmt.Saturation{Points: ps}
	var notes []string
	for i := 0; i+1 < len(ps); i++ {
		a, b := ps[i], ps[i+1]
		if a.Throughput <= 0 {
			continue
		}
		gain := (b.Throughput - a.Throughput) / a.Throughput
		climbs := b.TotalP95MS > a.TotalP95MS*(1+KneeClimb)
		if gain < KneeGain && climbs {
			knee := a
			s.Knee = &knee
			notes = append(notes, fmt.Sprintf("throughput stops rising after %s (%.2f requests/s; %s: %+.0f %% throughput, %+.0f %% p95 latency)",
				a.Label, a.Throughput, b.Label, 100*gain, 100*(b.TotalP95MS/a.TotalP95MS-1)))
			break
		}
	}
	if s.Knee == nil {
		if len(ps) < 3 {
			notes = append(notes, fmt.Sprintf("%d load points: too few to find a knee", len(ps)))
		} else {
			notes = append(notes, "throughput still rose (or latency held) at the highest load: the sweep did not reach the knee")
		}
	}

	var skipped []string
	usable := 0
	for k := range slo {
		if k == "ttft" || k == "e2e" {
			usable++
		} else {
			skipped = append(skipped, k)
		}
	}
	slices.Sort(skipped)
	if usable == 0 {
		notes = append(notes, "no ttft or e2e objective: capacity at SLO not computed")
	} else {
		for _, p := range ps {
			if meets(p, slo) {
				s.CapacityAtSLO = max(s.CapacityAtSLO, p.Throughput)
			}
		}
		if len(skipped) > 0 {
			notes = append(notes, "capacity at SLO ignores "+strings.Join(skipped, ", ")+": not in the load points")
		}
	}
	s.Note = strings.Join(notes, "; ")
	return s
}

func meets(p runfmt.LoadPoint, slo map[string]float64) bool {
	if limit, ok := slo["ttft"]; ok && p.TTFTP95MS > limit {
		return false
	}
	if limit, ok := slo["e2e"]; ok && p.TotalP95MS > limit {
		return false
	}
	return true
}

// LoadPoints groups requests into load points by key, which returns a
// request's label (e.g. its scenario, or "8 VUs" for the stage it ran in)
// and the offered load there (VUs or requests/s); an empty label leaves
// the request out. bs[i] must be the breakdown of reqs[i], as Attribute
// made them. For each group: Throughput is its successful requests over
// the time from the first one's start (scheduled, else started) to the
// last one's last token; Concurrent is Little's law, throughput × mean
// total; the p95s are over its successful requests. The points come
// sorted by Offered, then Label. Groups with no successful request are
// left out.
func LoadPoints(bs []runfmt.Breakdown, reqs []*runfmt.Request, key func(*runfmt.Request) (label string, offered float64)) []runfmt.LoadPoint {
	type group struct {
		offered     float64
		first, last time.Time
		totals      []float64
		ttfts       []float64
	}
	groups := make(map[string]*group)
	for i := range min(len(bs), len(reqs)) {
		r, b := reqs[i], &bs[i]
		if r == nil || !b.OK {
			continue
		}
		label, offered := key(r)
		if label == "" {
			continue
		}
		g := groups[label]
		if g == nil {
			g = &group{offered: offered}
			groups[label] = g
		}
		begin := r.Started
		if !r.Scheduled.IsZero() {
			begin = r.Scheduled
		}
		end := begin.Add(fromMS(b.TotalMS))
		if g.first.IsZero() || begin.Before(g.first) {
			g.first = begin
		}
		if end.After(g.last) {
			g.last = end
		}
		g.totals = append(g.totals, b.TotalMS)
		g.ttfts = append(g.ttfts, b.TTFTMS)
	}
	out := make([]runfmt.LoadPoint, 0, len(groups))
	for label, g := range groups {
		p := runfmt.LoadPoint{Label: label, Offered: g.offered}
		if d := g.last.Sub(g.first).Seconds(); d > 0 {
			p.Throughput = float64(len(g.totals)) / d
		}
		p.Concurrent = p.Throughput * mean(g.totals) / 1000
		slices.Sort(g.totals)
		slices.Sort(g.ttfts)
		p.TotalP95MS = percentile(g.totals, 95)
		p.TTFTP95MS = percentile(g.ttfts, 95)
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b runfmt.LoadPoint) int {
		return cmp.Or(cmp.Compare(a.Offered, b.Offered), strings.Compare(a.Label, b.Label))
	})
	return out
}
