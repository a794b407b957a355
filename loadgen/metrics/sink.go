package metrics

import (
	"slices"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
)

// sink aggregates one metric's samples. Its methods are called with the
// metric's lock held; snapshot returns a copy that is safe to use after
// the lock is released.
type sink interface {
	add(t time.Time, v float64)
	samples() int64
	snapshot() snapshot
}

// snapshot is a sink's state at one moment, turned into summary values
// without holding the metric's lock.
type snapshot interface {
	values(seconds float64, stats []string) map[string]float64
}

// counterSink sums its samples.
type counterSink struct {
	n   int64
	sum float64
}

func (s *counterSink) add(_ time.Time, v float64) { s.n++; s.sum += v }
func (s *counterSink) samples() int64             { return s.n }
func (s *counterSink) snapshot() snapshot         { c := *s; return c }

func (s counterSink) values(seconds float64, _ []string) map[string]float64 {
	rate := 0.0
	if seconds > 0 {
		rate = s.sum / seconds
	}
	return map[string]float64{"count": s.sum, "rate": rate}
}

// gaugeSink keeps the latest sample (by its time; among equal times the
// one added last) and the extremes.
type gaugeSink struct {
	n             int64
	last          time.Time
	val, min, max float64
}

func (s *gaugeSink) add(t time.Time, v float64) {
	if s.n == 0 {
		s.min, s.max = v, v
	}
	if s.n == 0 || !t.Before(s.last) {
		s.last, s.val = t, v
	}
	s.min, s.max = min(s.min, v), max(s.max, v)
	s.n++
}
func (s *gaugeSink) samples() int64     { return s.n }
func (s *gaugeSink) snapshot() snapshot { g := *s; return g }

func (s gaugeSink) values(float64, []string) map[string]float64 {
	return map[string]float64{"value": s.val, "min": s.min, "max": s.max}
}

// rateSink counts non-zero (passes) and zero (fails) samples.
type rateSink struct {
	passes, fails int64
}

func (s *rateSink) add(_ time.Time, v float64) {
	if v != 0 {
		s.passes++
	} else {
		s.fails++
	}
}
func (s *rateSink) samples() int64     { return s.passes + s.fails }
func (s *rateSink) snapshot() snapshot { r := *s; return r }

func (s rateSink) values(float64, []string) map[string]float64 {
	rate := 0.0
	if n := s.passes + s.fails; n > 0 {
		rate = float64(s.passes) / float64(n)
	}
	return map[string]float64{"rate": rate, "passes": float64(s.passes), "fails": float64(s.fails)}
}

// trendSink keeps every sample, so that its percentiles are exact.
type trendSink struct {
	vals []float64
}

func (s *trendSink) add(_ time.Time, v float64) { s.vals = append(s.vals, v) }
func (s *trendSink) samples() int64             { return int64(len(s.vals)) }

// snapshot copies the values, so that sorting them happens outside the
// metric's lock.
func (s *trendSink) snapshot() snapshot { return trendSnapshot(slices.Clone(s.vals)) }

// trendSnapshot is a trend's values, sorted by values before use.
type trendSnapshot []float64

func (vals trendSnapshot) values(_ float64, trendStats []string) map[string]float64 {
	slices.Sort(vals)
	out := make(map[string]float64, len(trendStats)+len(DefaultTrendStats))
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	for _, st := range [][]string{DefaultTrendStats, trendStats} {
		for _, stat := range st {
			key, pct, err := parseTrendStat(stat)
			if err != nil {
				continue
			}
			switch key {
			case "avg":
				out[key] = 0
				if len(vals) > 0 {
					out[key] = sum / float64(len(vals))
				}
			case "min":
				out[key] = stats.Percentile(vals, 0)
			case "max":
				out[key] = stats.Percentile(vals, 100)
			case "med":
				out[key] = stats.Percentile(vals, 50)
			case "count":
				out[key] = float64(len(vals))
			default:
				out[key] = stats.Percentile(vals, pct)
			}
		}
	}
	return out
}

// histogram builds the mergeable form of the sorted values.
func (vals trendSnapshot) histogram() *Histogram {
	h := NewHistogram(DefaultGamma)
	for _, v := range vals {
		h.Add(v)
	}
	return h
}
