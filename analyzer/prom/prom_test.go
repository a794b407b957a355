package prom_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/runfmt"
)

// answer is a canned reply of the fake Prometheus.
type answer struct {
	code int
	body string
}

// answers are the fake's replies, by PromQL query.
var answers = map[string]answer{
	"several": {200, `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"instance":"a"},"values":[[1700000000,"1"],[1700000001,"2"],[1700000002,"3"]]},
		{"metric":{"instance":"b"},"values":[[1700000000,"10"],[1700000002,"30"]]}]}}`},
	"one":     {200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000.5,"14"]]}]},"warnings":["w"]}`},
	"nan":     {200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"NaN"],[1700000001,"+Inf"],[1700000002,"0.5"]]}]}}`},
	"empty":   {200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`},
	"bad":     {400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`},
	"vector":  {200, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
	"down":    {503, "Service Unavailable"},
	"garbage": {200, "not json"},
}

// fakeProm serves answers on /api/v1/query_range and records the forms
// it was sent. hold, when set, runs inside each request while it counts
// as in flight.
type fakeProm struct {
	hold           func(r *http.Request)
	inflight, peak atomic.Int64

	mu    sync.Mutex
	forms []map[string]string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	if r.URL.Path != "/api/v1/query_range" || r.Method != http.MethodPost {
		http.Error(w, "want POST /api/v1/query_range", http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.forms = append(f.forms, map[string]string{
		"query": r.PostForm.Get("query"), "start": r.PostForm.Get("start"),
		"end": r.PostForm.Get("end"), "step": r.PostForm.Get("step"),
	})
	f.mu.Unlock()
	if f.hold != nil {
		f.hold(r)
	}
	a, ok := answers[r.PostForm.Get("query")]
	if !ok {
		a = answers["bad"]
	}
	if strings.HasPrefix(a.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.code)
	io.WriteString(w, a.body)
}

// serve starts f and returns a Client of it, given the address without
// its scheme (New adds http://).
func serve(t *testing.T, f *fakeProm) *prom.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := prom.New(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	start = time.Unix(1700000000, 0)
	end   = start.Add(10 * time.Minute)
)

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		query   string
		want    [][2]float64
		wantErr string // a part of the error; "" for none
	}{
		{name: "several series summed", query: "several", want: [][2]float64{{1700000000, 11}, {1700000001, 2}, {1700000002, 33}}},
		{name: "one series", query: "one", want: [][2]float64{{1700000000.5, 14}}},
		{name: "NaN and Inf left out", query: "nan", want: [][2]float64{{1700000002, 0.5}}},
		{name: "no series", query: "empty", want: [][2]float64{}},
		{name: "error answer", query: "bad", want: [][2]float64{}, wantErr: "query q: bad_data: 1:5: parse error: unexpected end of input"},
		{name: "not a matrix", query: "vector", want: [][2]float64{}, wantErr: "got a vector result, want a matrix"},
		{name: "HTTP error without a body", query: "down", want: [][2]float64{}, wantErr: "server error: 503"},
		{name: "not JSON", query: "garbage", want: [][2]float64{}, wantErr: "bad_response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, &fakeProm{})
			q := prom.Query{Name: "q", Query: tc.query, Unit: "requests"}
			got, err := c.Range(t.Context(), q, start, end, 5*time.Second)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			want := runfmt.Series{Name: "q", Query: tc.query, Unit: "requests", Points: tc.want}
			if err != nil {
				want.Error = err.Error()
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRangeForm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		step     time.Duration
		wantStep string
	}{
		{name: "given step", step: 1500 * time.Millisecond, wantStep: "1.5"},
		{name: "chosen step", wantStep: "3"}, // 600 s / 200 points
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeProm{}
			if _, err := serve(t, f).Range(t.Context(), prom.Query{Name: "q", Query: "one"}, start, end, tc.step); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"query": "one", "start": "1700000000", "end": "1700000600", "step": tc.wantStep}
			if len(f.forms) != 1 || !reflect.DeepEqual(f.forms[0], want) {
				t.Errorf("sent %v, want %v", f.forms, want)
			}
		})
	}
}

func TestAll(t *testing.T) {
	const n = 10
	f := &fakeProm{}
	// Requests wait until Concurrency are in flight (or 5 s pass, when All
	// never gets there), so that the peak shows the bound.
	release := make(chan struct{})
	var once sync.Once
	f.hold = func(r *http.Request) {
		if f.inflight.Load() >= prom.Concurrency {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	var queries []prom.Query
	for i := range n {
		q := "one"
		if i%3 == 1 {
			q = "bad"
		}
		queries = append(queries, prom.Query{Name: fmt.Sprint("q", i), Query: q})
	}
	got := serve(t, f).All(t.Context(), queries, start, end, 0)
	if len(got) != n {
		t.Fatalf("got %d series, want %d", len(got), n)
	}
	for i, s := range got {
		if s.Name != queries[i].Name {
			t.Errorf("series %d is %q, want %q", i, s.Name, queries[i].Name)
		}
		if failed := s.Error != ""; failed != (queries[i].Query == "bad") {
			t.Errorf("%s: error %q, want one only for the bad query", s.Name, s.Error)
		}
		if s.Error == "" && len(s.Points) != 1 {
			t.Errorf("%s: %d points, want 1", s.Name, len(s.Points))
		}
	}
	if peak := f.peak.Load(); peak != prom.Concurrency {
		t.Errorf("peak queries in flight = %d, want %d", peak, prom.Concurrency)
	}
	for _, form := range f.forms {
		if form["step"] != "3" {
			t.Errorf("step %s, want 3 (chosen from the window)", form["step"])
		}
	}
}

func TestStep(t *testing.T) {
	for _, tc := range []struct {
		window time.Duration
		want   time.Duration
	}{
		{window: 10 * time.Second, want: time.Second},
		{window: 200 * time.Second, want: time.Second},
		{window: 201 * time.Second, want: 2 * time.Second},
		{window: 10 * time.Minute, want: 3 * time.Second},
		{window: time.Hour, want: 18 * time.Second},
		{window: -time.Minute, want: time.Second},
	} {
		t.Run(tc.window.String(), func(t *testing.T) {
			if got := prom.Step(start, start.Add(tc.window)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMaxMean(t *testing.T) {
	for _, tc := range []struct {
		name     string
		points   [][2]float64
		wantMax  float64
		wantAt   time.Time
		wantMean float64
		wantOK   bool
	}{
		{name: "empty"},
		{name: "one", points: [][2]float64{{1700000000, 3}}, wantMax: 3, wantAt: start, wantMean: 3, wantOK: true},
		{
			name:    "peak in the middle",
			points:  [][2]float64{{1700000000, 2}, {1700000001.5, 14}, {1700000003, 2}},
			wantMax: 14, wantAt: start.Add(1500 * time.Millisecond), wantMean: 6, wantOK: true,
		},
		{name: "negative", points: [][2]float64{{1700000000, -2}, {1700000001, -1}}, wantMax: -1, wantAt: start.Add(time.Second), wantMean: -1.5, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runfmt.Series{Points: tc.points}
			v, at, ok := prom.Max(s)
			if v != tc.wantMax || !at.Equal(tc.wantAt) || ok != tc.wantOK {
				t.Errorf("Max = %v at %v, %v; want %v at %v, %v", v, at, ok, tc.wantMax, tc.wantAt, tc.wantOK)
			}
			mean, ok := prom.Mean(s)
			if mean != tc.wantMean || ok != tc.wantOK {
				t.Errorf("Mean = %v, %v; want %v, %v", mean, ok, tc.wantMean, tc.wantOK)
			}
		})
	}
}
