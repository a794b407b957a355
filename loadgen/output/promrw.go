package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// promRW is k6's experimental-prometheus-rw output
// (https://grafana.com/docs/k6/latest/results-output/real-time/prometheus-remote-write/):
// it keeps each metric's series (one per set of tags) aggregated since the
// start and pushes them with Prometheus' remote-write protocol 1.0 (a
// snappy-compressed protobuf WriteRequest) every push interval and at the
// end. Names are k6's: k6_<metric>_total for a counter, k6_<metric> for a
// gauge, k6_<metric>_rate for a rate, and k6_<metric>_<stat> for each
// trend stat (p99, p95, p90, med, avg, min, max by default,
// K6_PROMETHEUS_RW_TREND_STATS). The tags are the labels.
type promRW struct {
	url      string
	client   *http.Client
	interval time.Duration
	stats    []string
	headers  http.Header
	series   map[string]*rwSeries
	last     time.Time
}

// rwSeries is one metric with one set of tags, aggregated.
type rwSeries struct {
	name, typ string
	labels    [][2]string // sorted, __name__ excluded
	count     float64     // counter sum, rate passes, trend count
	total     float64     // rate samples
	last      float64     // gauge
	trend     []float64   // a trend's values (bounded: see addTrend)
	sum       float64
	min, max  float64
	seen      int64
}

// maxTrendValues bounds the values a trend series keeps for its
// quantiles: past it, a uniform sample (algorithm R) stands for them.
const maxTrendValues = 10000

func newPromRW(getenv func(string) string) (*promRW, error) {
	url := getenv("K6_PROMETHEUS_RW_SERVER_URL")
	if url == "" {
		url = "http://localhost:9090/api/v1/write"
	}
	interval := 5 * time.Second
	if v := getenv("K6_PROMETHEUS_RW_PUSH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("K6_PROMETHEUS_RW_PUSH_INTERVAL %q: want a duration such as 5s", v)
		}
		interval = d
	}
	stats := []string{"p(99)", "p(95)", "p(90)", "med", "avg", "min", "max"}
	if v := getenv("K6_PROMETHEUS_RW_TREND_STATS"); v != "" {
		stats = strings.Split(v, ",")
	}
	h := http.Header{}
	if u, p := getenv("K6_PROMETHEUS_RW_USERNAME"), getenv("K6_PROMETHEUS_RW_PASSWORD"); u != "" {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(u, p)
		h.Set("Authorization", r.Header.Get("Authorization"))
	}
	return &promRW{url: url, client: &http.Client{Timeout: 10 * time.Second}, interval: interval, stats: stats, headers: h, series: map[string]*rwSeries{}}, nil
}

func (w *promRW) Metric(string, string, string, []string) error { return nil }

func (w *promRW) Sample(s *Sample) error {
	key := seriesKey(s.Metric, s.Tags)
	sr := w.series[key]
	if sr == nil {
		sr = &rwSeries{name: s.Metric, typ: s.Type, labels: labels(s.Tags), min: math.Inf(1), max: math.Inf(-1)}
		w.series[key] = sr
	}
	switch s.Type {
	case "counter":
		sr.count += s.Value
	case "gauge":
		sr.last = s.Value
	case "rate":
		sr.total++
		if s.Value != 0 {
			sr.count++
		}
	case "trend":
		sr.seen++
		sr.sum += s.Value
		sr.min, sr.max = min(sr.min, s.Value), max(sr.max, s.Value)
		if len(sr.trend) < maxTrendValues {
			sr.trend = append(sr.trend, s.Value)
		} else if j := rngInt(sr.seen); j < maxTrendValues {
			sr.trend[j] = s.Value
		}
	}
	if w.last.IsZero() {
		w.last = time.Now()
	}
	if time.Since(w.last) >= w.interval {
		return w.push()
	}
	return nil
}

// Flush pushes what there is now (the Fanout calls it every second; it
// pushes once the interval has passed).
func (w *promRW) Flush() error {
	if !w.last.IsZero() && time.Since(w.last) >= w.interval {
		return w.push()
	}
	return nil
}

func (w *promRW) Close() error {
	if len(w.series) == 0 {
		return nil
	}
	return w.push()
}

// push sends every series' current values, stamped now.
func (w *promRW) push() error {
	w.last = time.Now()
	ts := w.last.UnixMilli()
	keys := make([]string, 0, len(w.series))
	for k := range w.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var req []byte
	add := func(name string, labels [][2]string, v float64) {
		var series []byte
		series = appendLabel(series, "__name__", name)
		for _, l := range labels {
			series = appendLabel(series, l[0], l[1])
		}
		var sample []byte
		sample = protowire.AppendTag(sample, 1, protowire.Fixed64Type)
		sample = protowire.AppendFixed64(sample, math.Float64bits(v))
		sample = protowire.AppendTag(sample, 2, protowire.VarintType)
		sample = protowire.AppendVarint(sample, uint64(ts))
		series = protowire.AppendTag(series, 2, protowire.BytesType)
		series = protowire.AppendBytes(series, sample)
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, series)
	}
	for _, k := range keys {
		sr := w.series[k]
		base := "k6_" + promName(sr.name)
		switch sr.typ {
		case "counter":
			add(base+"_total", sr.labels, sr.count)
		case "gauge":
			add(base, sr.labels, sr.last)
		case "rate":
			add(base+"_rate", sr.labels, sr.count/max(sr.total, 1))
		case "trend":
			if sr.seen == 0 {
				continue
			}
			sorted := slices.Clone(sr.trend)
			slices.Sort(sorted)
			for _, st := range w.stats {
				v, ok := trendStat(st, sorted, sr)
				if ok {
					add(base+"_"+statSuffix(st), sr.labels, v)
				}
			}
		}
	}
	body := snappy.Encode(nil, req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range w.headers {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	hreq.Header.Set("User-Agent", "llmbench")
	resp, err := w.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("remote write to %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("remote write to %s: %s: %s", w.url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

func appendLabel(b []byte, name, value string) []byte {
	var l []byte
	l = protowire.AppendTag(l, 1, protowire.BytesType)
	l = protowire.AppendString(l, name)
	l = protowire.AppendTag(l, 2, protowire.BytesType)
	l = protowire.AppendString(l, value)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, l)
}

// trendStat is one of k6's trend stats: avg, min, med, max, p(N).
func trendStat(st string, sorted []float64, sr *rwSeries) (float64, bool) {
	switch st {
	case "avg":
		return sr.sum / float64(sr.seen), true
	case "min":
		return sr.min, true
	case "max":
		return sr.max, true
	case "med":
		return quantile(sorted, 0.5), true
	case "count":
		return float64(sr.seen), true
	}
	var p float64
	if _, err := fmt.Sscanf(st, "p(%g)", &p); err == nil && p >= 0 && p <= 100 {
		return quantile(sorted, p/100), true
	}
	return 0, false
}

// statSuffix names a stat as k6 does: p(99) is p99, p(99.9) p999.
func statSuffix(st string) string {
	return strings.NewReplacer("(", "", ")", "", ".", "").Replace(st)
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

var invalidName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// promName makes a name a valid Prometheus metric or label name.
func promName(s string) string {
	s = invalidName.ReplaceAllString(s, "_")
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

func labels(tags map[string]string) [][2]string {
	out := make([][2]string, 0, len(tags))
	for k, v := range tags {
		out = append(out, [2]string{promName(k), v})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

func seriesKey(metric string, tags map[string]string) string {
	var b strings.Builder
	b.WriteString(metric)
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("\x00" + k + "\x01" + tags[k])
	}
	return b.String()
}

func rngInt(n int64) int64 { return rand.Int64N(n) }
