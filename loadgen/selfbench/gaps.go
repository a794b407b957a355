package selfbench

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// GapError compares the chunk gaps a client measured with the gaps at
// which the server sent the same events. Times are in milliseconds.
//
// The fake server knows each event's send time to within an interval: its
// write began at WriteNS and its flush returned at FlushNS, and the event
// reached the client's socket in between. So the true gap between events
// k and k+1 lies in [write(k+1) − flush(k), flush(k+1) − write(k)], and a
// client gap's error is how far it falls outside that range (0 inside). A
// record without write times scores against the flush times alone.
type GapError struct {
	Matched   int64   `json:"matched_requests"`   // requests whose trace id and event count matched the server's record
	Unmatched int64   `json:"unmatched_requests"` // successful requests with no server record, or another event count
	Gaps      int64   `json:"gaps"`               // gaps compared
	MeanMS    float64 `json:"mean_ms"`            // mean of client − server (the bias)
	AbsP50MS  float64 `json:"abs_p50_ms"`         // percentiles of |client − server|
	AbsP99MS  float64 `json:"abs_p99_ms"`
	AbsMaxMS  float64 `json:"abs_max_ms"`
	// ServerGapP50MS and ServerGapP99MS are the gaps as the server
	// flushed them (nominally the interval).
	ServerGapP50MS float64 `json:"server_gap_p50_ms"`
	ServerGapP99MS float64 `json:"server_gap_p99_ms"`
	// ServerLateP99MS is the 99th percentile of how late the server
	// began writing an event against its schedule: the fake's own jitter,
	// which moves the gaps but not the error.
	ServerLateP99MS float64 `json:"server_late_p99_ms"`
	// ServerSpreadP99MS is the 99th percentile of the width of the range
	// the server's record gives each gap: how precisely the truth is known.
	ServerSpreadP99MS float64 `json:"server_spread_p99_ms"`
	// WindowP99MS is the p99 of |error| in each Window of the phase, in
	// order (a gap belongs to the window in which the server sent its
	// later event; windows with fewer than minWindowGaps gaps are left
	// out): whether the error was steady through the run or came in
	// spells.
	WindowP99MS []float64 `json:"window_p99_ms,omitempty"`
}

// Window is the span of GapError.WindowP99MS's windows, and minWindowGaps
// the fewest gaps a window needs for its p99 to be reported.
const (
	Window        = 5 * time.Second
	minWindowGaps = 1000
)

// compareGaps matches each successful request to the server's stream of
// the same trace id and computes the gap error over every gap of every
// matched request: client gaps_ms[i] − (flush[i+1] − flush[i]).
func compareGaps(reqs []*runfmt.Request, streams []StreamTiming) GapError {
	byID := make(map[string]*StreamTiming, len(streams))
	var late []float64
	for i := range streams {
		s := &streams[i]
		if s.TraceID != "" {
			byID[s.TraceID] = s
		}
		for _, ns := range s.LateNS {
			late = append(late, float64(ns)/float64(time.Millisecond))
		}
	}
	var g GapError
	var abs, srvGaps, spreads []float64
	var sum float64
	var origin time.Time // the first matched stream's start: windows count from it
	for _, r := range reqs {
		if s := byID[r.TraceID]; r.OK && s != nil && (origin.IsZero() || s.Start.Before(origin)) {
			origin = s.Start
		}
	}
	windows := map[int][]float64{}
	for _, r := range reqs {
		if !r.OK {
			continue
		}
		s := byID[r.TraceID]
		if s == nil || len(s.FlushNS) != len(r.GapsMS)+1 || len(r.GapsMS) == 0 {
			g.Unmatched++
			continue
		}
		g.Matched++
		bounded := len(s.WriteNS) == len(s.FlushNS)
		for i, c := range r.GapsMS {
			srv := ms(time.Duration(s.FlushNS[i+1] - s.FlushNS[i]))
			srvGaps = append(srvGaps, srv)
			lo, hi := srv, srv
			if bounded {
				lo, hi = ms(time.Duration(s.WriteNS[i+1]-s.FlushNS[i])), ms(time.Duration(s.FlushNS[i+1]-s.WriteNS[i]))
				spreads = append(spreads, hi-lo)
			}
			e := c - min(max(c, lo), hi) // 0 within [lo, hi]
			sum += e
			abs = append(abs, math.Abs(e))
			w := int(s.Start.Add(time.Duration(s.FlushNS[i+1])).Sub(origin) / Window)
			windows[w] = append(windows[w], math.Abs(e))
		}
	}
	g.Gaps = int64(len(abs))
	if g.Gaps > 0 {
		g.MeanMS = sum / float64(g.Gaps)
	}
	slices.Sort(abs)
	g.AbsP50MS, g.AbsP99MS = stats.Quantile(abs, 0.50), stats.Quantile(abs, 0.99)
	if len(abs) > 0 {
		g.AbsMaxMS = abs[len(abs)-1]
	}
	slices.Sort(srvGaps)
	g.ServerGapP50MS, g.ServerGapP99MS = stats.Quantile(srvGaps, 0.50), stats.Quantile(srvGaps, 0.99)
	slices.Sort(late)
	g.ServerLateP99MS = stats.Quantile(late, 0.99)
	slices.Sort(spreads)
	g.ServerSpreadP99MS = stats.Quantile(spreads, 0.99)
	for _, w := range slices.Sorted(maps.Keys(windows)) {
		if errs := windows[w]; len(errs) >= minWindowGaps {
			slices.Sort(errs)
			g.WindowP99MS = append(g.WindowP99MS, stats.Quantile(errs, 0.99))
		}
	}
	return g
}
