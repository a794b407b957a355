package metrics

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// DefaultTrendStats are the values every trend's summary has. Summary adds
// the ones its trendStats argument asks for.
var DefaultTrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}

// TrendStatKey checks one entry of a summaryTrendStats-like option and
// returns the key the summary's Values use for it: avg, min, med, max,
// count, or p(N) with N from 0 to 100 written the shortest way, so
// "p( 99.90 )" becomes "p(99.9)" and "p(95.0)" becomes "p(95)". Package
// threshold writes its p(N) keys the same way.
func TrendStatKey(stat string) (string, error) {
	key, _, err := parseTrendStat(stat)
	return key, err
}

func parseTrendStat(stat string) (key string, pct float64, err error) {
	s := strings.TrimSpace(stat)
	switch s {
	case "avg", "min", "med", "max", "count":
		return s, 0, nil
	}
	inner, ok := strings.CutPrefix(s, "p(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	if !ok {
		return "", 0, fmt.Errorf("trend stat %q: want avg, min, med, max, count or p(N)", stat)
	}
	pct, err = strconv.ParseFloat(strings.TrimSpace(inner), 64)
	if err != nil || !(pct >= 0 && pct <= 100) {
		return "", 0, fmt.Errorf("trend stat %q: want a percentile from 0 to 100", stat)
	}
	return stats.PercentileKey(pct), pct, nil
}

// Summary returns every metric that got samples, was tracked (Track) or
// has sub-metrics, and every registered sub-metric, keyed by Metric.Key,
// with the values k6 reports for its type (see runfmt.Metric). A counter's
// rate is per second of end − start. A trend has DefaultTrendStats plus
// the stats in trendStats (see TrendStatKey; invalid ones are skipped)
// and a Histogram with DefaultGamma. Summary may run while samples are
// being added; each metric is read at one moment.
func (r *Registry) Summary(start, end time.Time, trendStats []string) map[string]runfmt.Metric {
	seconds := end.Sub(start).Seconds()
	r.mu.RLock()
	all := make([]*Metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		all = append(all, m)
	}
	r.mu.RUnlock()

	out := make(map[string]runfmt.Metric)
	for _, m := range all {
		var subs []*Metric
		if p := m.subs.Load(); p != nil {
			subs = *p
		}
		if !m.tracked.Load() && len(subs) == 0 && m.samples() == 0 {
			continue
		}
		out[m.key] = m.summary(seconds, trendStats)
		for _, s := range subs {
			out[s.key] = s.summary(seconds, trendStats)
		}
	}
	return out
}

func (m *Metric) samples() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sink.samples()
}

func (m *Metric) summary(seconds float64, trendStats []string) runfmt.Metric {
	m.mu.Lock()
	snap := m.sink.snapshot()
	m.mu.Unlock()
	out := runfmt.Metric{
		Type:     m.typ.String(),
		Contains: m.contains.String(),
		Values:   snap.values(seconds, trendStats),
	}
	if t, ok := snap.(trendSnapshot); ok {
		out.Histogram = t.histogram().Raw()
	}
	return out
}

// Names returns the keys of a summary's metrics in the order the text
// summary prints them: sorted by metric name, each metric followed by its
// sub-metrics sorted by key.
func Names(metrics map[string]runfmt.Metric) []string {
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ni, nj := baseName(keys[i]), baseName(keys[j])
		if ni != nj {
			return ni < nj
		}
		return keys[i] < keys[j] // the bare name sorts before name{...}
	})
	return keys
}

func baseName(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		return key[:i]
	}
	return key
}
