package metrics

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC)

func TestGet(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name     string
		metric   string
		typ      Type
		contains ValueType
		wantErr  string
	}{
		{name: "new trend", metric: "llm_ttft", typ: Trend, contains: Time},
		{name: "same again", metric: "llm_ttft", typ: Trend, contains: Time},
		{name: "other type", metric: "llm_ttft", typ: Counter, contains: Time,
			wantErr: `get metric "llm_ttft": it is a trend (time), not a counter (time)`},
		{name: "other value type", metric: "llm_ttft", typ: Trend, contains: Default,
			wantErr: `get metric "llm_ttft": it is a trend (time), not a trend (default)`},
		{name: "128 characters", metric: long, typ: Counter},
		{name: "leading underscore", metric: "_x9", typ: Gauge},
		{name: "empty", metric: "", typ: Counter,
			wantErr: `get metric "": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{name: "129 characters", metric: long + "a", typ: Counter,
			wantErr: `get metric "` + long + `a": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{name: "leading digit", metric: "9lives", typ: Counter,
			wantErr: `get metric "9lives": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{name: "dash", metric: "llm-ttft", typ: Counter,
			wantErr: `get metric "llm-ttft": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{name: "unknown type", metric: "x", typ: Type(9),
			wantErr: `get metric "x": unknown type Type(9)`},
	}
	r := NewRegistry()
	first := map[string]*Metric{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Get(tt.metric, tt.typ, tt.contains)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if m.Name() != tt.metric || m.Type() != tt.typ || m.Contains() != tt.contains {
				t.Errorf("got %s %v %v, want %s %v %v", m.Name(), m.Type(), m.Contains(), tt.metric, tt.typ, tt.contains)
			}
			if prev, ok := first[tt.metric]; ok && prev != m {
				t.Errorf("got a second metric for %q, want the first one again", tt.metric)
			}
			first[tt.metric] = m
		})
	}
	if typ, ok := r.TypeOf("llm_ttft"); !ok || typ != "trend" {
		t.Errorf("TypeOf(llm_ttft): got %q %v, want trend true", typ, ok)
	}
	if typ, ok := r.TypeOf("nope"); ok {
		t.Errorf("TypeOf(nope): got %q %v, want false", typ, ok)
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key      string
		wantName string
		wantTags []Tag
		wantKey  string
		wantErr  string
	}{
		{key: "llm_ttft", wantName: "llm_ttft", wantKey: "llm_ttft"},
		{key: " llm_ttft ", wantName: "llm_ttft", wantKey: "llm_ttft"},
		{key: "llm_ttft{scenario:chat}", wantName: "llm_ttft", wantTags: []Tag{{"scenario", "chat"}}, wantKey: "llm_ttft{scenario:chat}"},
		{key: "llm_ttft { status : 200 , scenario:chat }", wantName: "llm_ttft",
			wantTags: []Tag{{"scenario", "chat"}, {"status", "200"}}, wantKey: "llm_ttft{scenario:chat,status:200}"},
		{key: "group_duration{group:::chat::stream}", wantName: "group_duration",
			wantTags: []Tag{{"group", "::chat::stream"}}, wantKey: "group_duration{group:::chat::stream}"},
		{key: `checks{check:"status is 200"}`, wantName: "checks",
			wantTags: []Tag{{"check", "status is 200"}}, wantKey: "checks{check:status is 200}"},
		{key: "http_req_duration{ expected_response:true }", wantName: "http_req_duration",
			wantTags: []Tag{{"expected_response", "true"}}, wantKey: "http_req_duration{expected_response:true}"},
		{key: `m{a:"'b'"}`, wantName: "m", wantTags: []Tag{{"a", "'b'"}}, wantKey: `m{a:"'b'"}`},
		{key: `m{a:" b "}`, wantName: "m", wantTags: []Tag{{"a", " b "}}, wantKey: `m{a:" b "}`},
		{key: `m{a:""}`, wantName: "m", wantTags: []Tag{{"a", ""}}, wantKey: `m{a:}`},
		{key: "llm_ttft{}", wantErr: `metric "llm_ttft{}": empty selector {}`},
		{key: "llm_ttft{scenario:chat", wantErr: `metric "llm_ttft{scenario:chat": selector does not end with }`},
		{key: "llm_ttft{scenario}", wantErr: `metric "llm_ttft{scenario}": tag "scenario": want name:value`},
		{key: "llm_ttft{:chat}", wantErr: `metric "llm_ttft{:chat}": tag ":chat": want name:value`},
		{key: "llm_ttft{a:1,a:2}", wantErr: `metric "llm_ttft{a:1,a:2}": tag "a" given twice`},
		{key: "llm ttft{a:1}", wantErr: `metric "llm ttft{a:1}": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
		{key: "", wantErr: `metric "": invalid name (want 1–128 characters of a-z, A-Z, 0-9 and _, not starting with a digit)`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			name, tags, err := ParseKey(tt.key)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if name != tt.wantName || !reflect.DeepEqual(tags, tt.wantTags) {
				t.Errorf("got %q %v, want %q %v", name, tags, tt.wantName, tt.wantTags)
			}
			if got, _ := CanonicalKey(tt.key); got != tt.wantKey {
				t.Errorf("got canonical key %q, want %q", got, tt.wantKey)
			}
			if again, _ := CanonicalKey(tt.wantKey); again != tt.wantKey {
				t.Errorf("canonical key %q parses to %q, want itself", tt.wantKey, again)
			}
		})
	}
}

func TestSubMetricMatching(t *testing.T) {
	r := NewRegistry()
	ttft, err := r.Get("llm_ttft", Trend, Time)
	if err != nil {
		t.Fatal(err)
	}
	// A sample before the sub-metric exists lands only in the metric.
	ttft.Add(t0, 1, map[string]string{"scenario": "chat"})
	for _, key := range []string{"llm_ttft{scenario:chat}", "llm_ttft{ status:200, scenario:chat }", "llm_ttft{scenario : chat}", "llm_ttft{status:500}"} {
		if err := r.SubMetric(key); err != nil {
			t.Fatalf("SubMetric(%q): got error %v, want none", key, err)
		}
	}
	samples := []map[string]string{
		{"scenario": "chat", "status": "200"},
		{"scenario": "chat", "status": "500", "vu": "3"},
		{"scenario": "chat"},
		{"scenario": "completions", "status": "200"},
		{"status": "500"},
		{"Scenario": "chat"}, // tag names are case-sensitive
		nil,
	}
	for i, tags := range samples {
		ttft.Add(t0, float64(i+2), tags)
	}
	got := map[string]float64{}
	for key, m := range r.Summary(t0, t0.Add(time.Second), []string{"count"}) {
		got[key] = m.Values["count"]
	}
	want := map[string]float64{
		"llm_ttft":                           8,
		"llm_ttft{scenario:chat}":            3,
		"llm_ttft{scenario:chat,status:200}": 1,
		"llm_ttft{status:500}":               2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got counts %v, want %v", got, want)
	}

	errs := []struct{ key, want string }{
		{"nope{a:b}", `register sub-metric "nope{a:b}": no metric "nope"`},
		{"llm_ttft", `register sub-metric "llm_ttft": no tags`},
		{"llm_ttft{a}", `register sub-metric: metric "llm_ttft{a}": tag "a": want name:value`},
	}
	for _, e := range errs {
		if err := r.SubMetric(e.key); err == nil || err.Error() != e.want {
			t.Errorf("SubMetric(%q): got error %v, want %q", e.key, err, e.want)
		}
	}
}

func TestSummaryValues(t *testing.T) {
	r := NewRegistry()
	must := func(m *Metric, err error) *Metric {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	reqs := must(r.Get("llm_requests", Counter, Default))
	vus := must(r.Get("vus", Gauge, Default))
	failed := must(r.Get("llm_failed", Rate, Default))
	ttft := must(r.Get("llm_ttft", Trend, Time))
	idle := must(r.Get("idle", Counter, Default))
	must(r.Get("tracked_idle", Trend, Time))
	if err := r.Track("tracked_idle"); err != nil {
		t.Fatal(err)
	}
	if err := r.Track("nope"); err == nil || err.Error() != `track metric "nope": no such metric` {
		t.Errorf("Track(nope): got error %v, want no such metric", err)
	}
	_ = idle

	for _, v := range []float64{1, 2, 3.5} {
		reqs.Add(t0, v, nil)
	}
	// The gauge's value is the latest by time, not the last added.
	vus.Add(t0.Add(2*time.Second), 5, nil)
	vus.Add(t0.Add(1*time.Second), 9, nil)
	vus.Add(t0.Add(3*time.Second), 2, nil)
	vus.Add(t0.Add(3*time.Second), 3, nil) // same time: the later add wins
	for _, v := range []float64{1, 0, 0, 1, 0.5} {
		failed.Add(t0, v, nil)
	}
	for i := 1; i <= 10; i++ {
		ttft.Add(t0, float64(i), nil)
	}
	ttft.Add(t0, math.NaN(), nil) // ignored
	ttft.Add(t0, math.Inf(1), nil)

	got := r.Summary(t0, t0.Add(10*time.Second), []string{"p(99.9)", " p( 50.0 ) ", "count", "bogus"})
	tests := []struct {
		key, typ, contains string
		values             map[string]float64
	}{
		{"llm_requests", "counter", "default", map[string]float64{"count": 6.5, "rate": 0.65}},
		{"vus", "gauge", "default", map[string]float64{"value": 3, "min": 2, "max": 9}},
		{"llm_failed", "rate", "default", map[string]float64{"rate": 0.6, "passes": 3, "fails": 2}},
		{"llm_ttft", "trend", "time", map[string]float64{
			"avg": 5.5, "min": 1, "med": 5.5, "max": 10, "p(90)": 9.1, "p(95)": 9.55, "p(99)": 9.91,
			"p(99.9)": 9.991, "p(50)": 5.5, "count": 10,
		}},
		{"tracked_idle", "trend", "time", map[string]float64{
			"avg": 0, "min": 0, "med": 0, "max": 0, "p(90)": 0, "p(95)": 0, "p(99)": 0,
			"p(99.9)": 0, "p(50)": 0, "count": 0,
		}},
	}
	if len(got) != len(tests) {
		t.Errorf("got %d metrics %v, want %d (idle has no samples and is not tracked)", len(got), Names(got), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			m, ok := got[tt.key]
			if !ok {
				t.Fatalf("got no %s in the summary, want one", tt.key)
			}
			if m.Type != tt.typ || m.Contains != tt.contains {
				t.Errorf("got %s (%s), want %s (%s)", m.Type, m.Contains, tt.typ, tt.contains)
			}
			if len(m.Values) != len(tt.values) {
				t.Errorf("got values %v, want %v", m.Values, tt.values)
			}
			for k, want := range tt.values {
				if g, ok := m.Values[k]; !ok || math.Abs(g-want) > 1e-9 {
					t.Errorf("%s: got %v (present %v), want %v", k, g, ok, want)
				}
			}
			if (m.Histogram != nil) != (tt.typ == "trend") {
				t.Fatalf("got histogram %v, want one only for trends", m.Histogram)
			}
			if m.Histogram != nil && (m.Histogram.Count != int64(tt.values["count"]) || m.Histogram.Gamma != DefaultGamma) {
				t.Errorf("got histogram count %d gamma %v, want %v %v", m.Histogram.Count, m.Histogram.Gamma, tt.values["count"], DefaultGamma)
			}
		})
	}
}

func TestConcurrentAdd(t *testing.T) {
	const workers, adds = 8, 2000
	r := NewRegistry()
	ttft, _ := r.Get("llm_ttft", Trend, Time)
	reqs, _ := r.Get("llm_requests", Counter, Default)
	ok, _ := r.Get("llm_ok", Rate, Default)
	vus, _ := r.Get("vus", Gauge, Default)
	if err := r.SubMetric("llm_ttft{scenario:s0}"); err != nil {
		t.Fatal(err)
	}
	var checks Checks
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tags := map[string]string{"scenario": fmt.Sprintf("s%d", w%2)}
			for i := range adds {
				ttft.Add(t0, float64(i), tags)
				reqs.Add(t0, 1, tags)
				ok.Add(t0, float64(i%2), tags)
				vus.Add(t0.Add(time.Duration(i)), float64(w), tags)
				checks.Add("::g", "c", i%4 != 0)
				if i == adds/2 {
					// Registering and summarising while others add must be safe.
					_ = r.SubMetric("llm_requests{scenario:s1}")
					_ = r.Summary(t0, t0.Add(time.Second), nil)
					_, _ = r.Get("llm_ttft", Trend, Time)
				}
			}
		}()
	}
	wg.Wait()
	s := r.Summary(t0, t0.Add(time.Second), []string{"count"})
	checksAll := []struct {
		key, value string
		want       float64
	}{
		{"llm_ttft", "count", workers * adds},
		{"llm_ttft{scenario:s0}", "count", workers / 2 * adds},
		{"llm_requests", "count", workers * adds},
		{"llm_ok", "passes", workers * adds / 2},
		{"llm_ok", "fails", workers * adds / 2},
		{"vus", "max", workers - 1},
		{"vus", "min", 0},
	}
	for _, c := range checksAll {
		if got := s[c.key].Values[c.value]; got != c.want {
			t.Errorf("%s %s: got %v, want %v", c.key, c.value, got, c.want)
		}
	}
	// The sub-metric registered mid-run saw some of the samples, at most
	// all of scenario s1's.
	if got := s["llm_requests{scenario:s1}"].Values["count"]; got <= 0 || got > workers/2*adds {
		t.Errorf("llm_requests{scenario:s1}: got %v, want from 1 to %d", got, workers/2*adds)
	}
	root := checks.Root()
	if len(root.Groups) != 1 || len(root.Groups[0].Checks) != 1 {
		t.Fatalf("got root group %+v, want one group with one check", root)
	}
	if c := root.Groups[0].Checks[0]; c.Passes != workers*adds*3/4 || c.Fails != workers*adds/4 {
		t.Errorf("got %d passes %d fails, want %d %d", c.Passes, c.Fails, workers*adds*3/4, workers*adds/4)
	}
}

func TestNames(t *testing.T) {
	r := NewRegistry()
	for _, n := range []string{"llm_ttft", "llm_e2e", "llm_ttft_x"} {
		m, _ := r.Get(n, Trend, Time)
		m.Add(t0, 1, nil)
	}
	for _, k := range []string{"llm_ttft{scenario:chat}", "llm_ttft{group:::a}"} {
		if err := r.SubMetric(k); err != nil {
			t.Fatal(err)
		}
	}
	got := Names(r.Summary(t0, t0, nil))
	want := []string{"llm_e2e", "llm_ttft", "llm_ttft{group:::a}", "llm_ttft{scenario:chat}", "llm_ttft_x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTrendStatKey(t *testing.T) {
	tests := []struct{ stat, want, wantErr string }{
		{stat: "avg", want: "avg"},
		{stat: " count ", want: "count"},
		{stat: "p(95)", want: "p(95)"},
		{stat: "p(95.0)", want: "p(95)"},
		{stat: "p( 99.90 )", want: "p(99.9)"},
		{stat: "p(0)", want: "p(0)"},
		{stat: "p(100)", want: "p(100)"},
		{stat: "p95", wantErr: `trend stat "p95": want avg, min, med, max, count or p(N)`},
		{stat: "p(101)", wantErr: `trend stat "p(101)": want a percentile from 0 to 100`},
		{stat: "p(NaN)", wantErr: `trend stat "p(NaN)": want a percentile from 0 to 100`},
		{stat: "p()", wantErr: `trend stat "p()": want a percentile from 0 to 100`},
	}
	for _, tt := range tests {
		t.Run(tt.stat, func(t *testing.T) {
			got, err := TrendStatKey(tt.stat)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %q, error %v, want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, error %v, want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{"llm_ttft", "llm_ttft{scenario:chat}", " m { b : 2 , a : 1 } ", `m{a:"'b'"}`, "g{group:::a::b}", "m{a}", "m{}"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		canon, err := CanonicalKey(key)
		if err != nil {
			return
		}
		again, err := CanonicalKey(canon)
		if err != nil || again != canon {
			t.Fatalf("%q: canonical key %q parses to %q (%v), want itself", key, canon, again, err)
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	r := NewRegistry()
	ttft, _ := r.Get("llm_ttft", Trend, Time)
	reqs, _ := r.Get("llm_requests", Counter, Default)
	for _, k := range []string{"llm_ttft{scenario:chat}", "llm_ttft{status:200}", "llm_requests{scenario:chat}"} {
		if err := r.SubMetric(k); err != nil {
			b.Fatal(err)
		}
	}
	tags := map[string]string{"scenario": "chat", "status": "200"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ttft.Add(t0, 123.4, tags)
			reqs.Add(t0, 1, tags)
		}
	})
}
