package analyzer

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// writeRun makes a run folder of n requests by hand: 100 ms to the first
// byte, 20 tokens 10 ms apart.
func writeRun(t *testing.T, n int, jaegerAddr, promURL string) string {
	t.Helper()
	return writeRunWith(t, n, jaegerAddr, promURL, nil)
}

// writeRunWith is writeRun with each request changed by edit, if not nil.
func writeRunWith(t *testing.T, n int, jaegerAddr, promURL string, edit func(i int, r *runfmt.Request)) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: "hand", Scenario: "hand", Start: start, End: start.Add(time.Minute),
		Status: runfmt.StatusFinished, Jaeger: jaegerAddr, Prometheus: promURL, Options: []byte(`{"slo": {"ttft": 150}}`)}); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		sent := start.Add(time.Duration(i) * time.Second)
		ttft := 100 + float64(i*10)
		r := &runfmt.Request{Scenario: "hand", Protocol: "generate", TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1),
			Started: sent.Add(-time.Millisecond), Sent: sent, TTFTMS: &ttft, E2EMS: ptr(ttft + 190), CloseMS: ttft + 200,
			Status: 200, OK: true, OutputTokens: 20, InputTokens: 5, TokenSource: "usage"}
		if edit != nil {
			edit(i, r)
		}
		if err := log.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ptr(v float64) *float64 { return &v }

// TestDeadServices analyzes a run whose Jaeger is down and whose
// Prometheus answers errors: the analysis still comes out, attributed from
// the client's records, and says what it could not see.
func TestDeadServices(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	promSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
	}))
	defer promSrv.Close()
	dir := writeRun(t, 5, dead, promSrv.URL)
	var out bytes.Buffer
	start := time.Now()
	a, err := Analyze(t.Context(), Config{Run: dir, Wait: time.Second}, &out)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("took %v with Jaeger down", d)
	}
	if a.Coverage.Requests != 5 || a.Coverage.ClientOnly != 5 || a.Coverage.MissingTraces != 5 {
		t.Errorf("coverage %+v, want 5 requests, all client-only and missing", a.Coverage)
	}
	if a.Coverage.SeriesErrors == 0 {
		t.Errorf("the PromQL errors were not counted: %+v", a.Coverage)
	}
	text := out.String()
	if a.Verdict.Kind != "undetermined" || a.Verdict.Bottleneck != "none" {
		t.Errorf("verdict %q (%s), want undetermined: nothing split the server's time", a.Verdict.Kind, a.Verdict.Summary)
	}
	for _, want := range []string{"Jaeger at " + dead, "VERDICT  cannot tell where the server's time went", "unsplit"} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q:\n%s", want, text)
		}
	}
	for _, b := range a.Requests {
		if sum := sumParts(b) + b.UnexplainedMS; abs(sum-b.TotalMS) > 1e-6 {
			t.Errorf("request %d: parts add up to %v, total %v", b.Seq, sum, b.TotalMS)
		}
	}
	if _, err := runfmt.ReadAnalysis(dir); err != nil {
		t.Errorf("analysis.json: %v", err)
	}
}

// TestDeadJaegerServerTimings is the report's case: Jaeger down, but the
// server sent its own timings in each stream (queue 60–250 ms of about
// 300). The verdict rests on them, says so, and keeps decode whole.
func TestDeadJaegerServerTimings(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	dir := writeRunWith(t, 20, dead, "", func(i int, r *runfmt.Request) {
		queue := 60 + 10*float64(i)
		r.ServerQueueMS, r.ServerTTFTMS, r.ServerTotalMS = ptr(queue), ptr(queue+20), ptr(queue+20+50)
		*r.TTFTMS, *r.E2EMS = queue+21, queue+71
	})
	var out bytes.Buffer
	a, err := Analyze(t.Context(), Config{Run: dir, Wait: time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if a.Coverage.ServerTimings != 20 || a.Coverage.ClientOnly != 0 || a.Aggregate.Source != runfmt.SourceServer {
		t.Errorf("coverage %+v, aggregate of %q; want all 20 split by the server's timings", a.Coverage, a.Aggregate.Source)
	}
	if a.Verdict.Kind != "queue" || !strings.HasPrefix(a.Verdict.Basis, "20 untraced") {
		t.Errorf("verdict %q from %q (%s), want queue from the 20 untraced requests", a.Verdict.Kind, a.Verdict.Basis, a.Verdict.Summary)
	}
	if !strings.Contains(strings.Join(a.Verdict.Qualifications, " "), "decode is not split") {
		t.Errorf("qualifications %q do not say what the timings cannot split", a.Verdict.Qualifications)
	}
	if b := a.Requests[0]; math.Abs(b.Parts[runfmt.PartDecode]-50) > 1e-6 || b.Parts[runfmt.PartDecodeOwn] != 0 {
		t.Errorf("request 1: decode %.3f, decode_own %.3f; want 50 ms whole", b.Parts[runfmt.PartDecode], b.Parts[runfmt.PartDecodeOwn])
	}
}

func TestBadRunFolders(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"no run.json", func(string) {}, "run.json"},
		{"newer format", func(dir string) {
			os.WriteFile(filepath.Join(dir, runfmt.RunFile), []byte(`{"format": 99, "id": "x"}`), 0o644)
		}, "newer llmbench"},
		{"no requests", func(dir string) {
			runfmt.WriteRun(dir, &runfmt.Run{ID: "x", Status: runfmt.StatusFinished})
			os.WriteFile(filepath.Join(dir, runfmt.RequestsFile), nil, 0o644)
		}, "no request"},
		{"only garbage lines", func(dir string) {
			runfmt.WriteRun(dir, &runfmt.Run{ID: "x", Status: runfmt.StatusFinished})
			os.WriteFile(filepath.Join(dir, runfmt.RequestsFile), []byte("{not json\n"), 0o644)
		}, "no readable request (1 unreadable lines, the first: requests.jsonl line 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(dir)
			_, err := Analyze(t.Context(), Config{Run: dir, Quiet: true}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestTruncatedRequestLog: a run cut short mid-line keeps its whole
// requests, and the note names the line it could not read.
func TestTruncatedRequestLog(t *testing.T) {
	dir := writeRun(t, 5, "", "")
	f, err := os.OpenFile(filepath.Join(dir, runfmt.RequestsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"trace_id": "0000000000000000000000000000000f", "sent": "2026-11`)
	f.Close()
	a, err := Analyze(t.Context(), Config{Run: dir, Quiet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(a.Coverage.Notes, "\n")
	if a.Coverage.Analyzed != 5 || a.Coverage.BadLines != 1 || !strings.Contains(notes, "the first: requests.jsonl line 6: ") {
		t.Errorf("analyzed %d, bad lines %d, notes:\n%s", a.Coverage.Analyzed, a.Coverage.BadLines, notes)
	}
}

// TestAllFailed: when no request succeeded the verdict names the error
// class of most of them, with each class's first error as evidence.
func TestAllFailed(t *testing.T) {
	dir := writeRunWith(t, 5, "", "", func(i int, r *runfmt.Request) {
		r.OK, r.TTFTMS, r.E2EMS, r.OutputTokens, r.Status = false, nil, nil, 0, 0
		r.ErrorClass, r.Error = runfmt.ErrorConnect, "dial tcp 127.0.0.1:1: connect: connection refused"
		if i == 4 {
			r.ErrorClass, r.Error, r.Status = runfmt.ErrorHTTP, "HTTP 503: overloaded", 503
		}
	})
	a, err := Analyze(t.Context(), Config{Run: dir, Quiet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := a.Verdict
	if v.Kind != "failed" || v.Bottleneck != runfmt.ErrorConnect || !strings.Contains(v.Summary, "4 of 5 failed with connect (dial tcp") ||
		len(v.Evidence) != 2 || !strings.Contains(v.Evidence[1], "1 failed with http, the first: HTTP 503") {
		t.Errorf("verdict %+v", v)
	}
	if len(a.Recommendations) != 1 || !strings.Contains(a.Recommendations[0].Action, "check that the target is up") {
		t.Errorf("recommendations %+v", a.Recommendations)
	}
}

func TestCompareNeedsAnalyses(t *testing.T) {
	a := writeRun(t, 3, "", "")
	b := writeRun(t, 3, "", "")
	if _, err := Compare(a, b, nil); err == nil || !strings.Contains(err.Error(), "llmbench analyze") {
		t.Errorf("compare before analyze: got %v, want a hint to analyze first", err)
	}
	for _, d := range []string{a, b} {
		if _, err := Analyze(t.Context(), Config{Run: d, Quiet: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	c, err := Compare(a, b, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Metrics {
		if d.Significant {
			t.Errorf("%s: identical runs compared as significantly different: %+v", d.Name, d)
		}
	}
	if !strings.Contains(out.String(), "Mann-Whitney") {
		t.Errorf("compare output:\n%s", out.String())
	}
}

func sumParts(b runfmt.Breakdown) float64 {
	s := 0.0
	for _, v := range b.Parts {
		s += v
	}
	return s
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestSaturationFromSweep analyzes a sweep of 1, 2, 4 and 8 VUs against a
// server that serves 10 requests/s at most, 200 ms each when idle: the
// knee is at 2 VUs, where throughput stops rising and latency climbs.
func TestSaturationFromSweep(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: "sweep", Start: start, Status: runfmt.StatusFinished,
		Options: []byte(`{"slo": {"e2e": 500}}`)}); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := start
	for _, vus := range []float64{1, 2, 4, 8} {
		tput := min(vus/0.2, 10) // requests/s
		lat := vus / tput * 1000 // ms, by Little's law
		for k := range 200 {
			sent := at.Add(time.Duration(float64(k) / tput * float64(time.Second)))
			r := &runfmt.Request{Scenario: fmt.Sprintf("vus_%g", vus), Started: sent, Sent: sent, TTFTMS: ptr(lat / 2), E2EMS: ptr(lat),
				CloseMS: lat, OK: true, Status: 200, OutputTokens: 10}
			if err := log.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		at = at.Add(time.Minute)
	}
	log.Close()
	a, err := Analyze(t.Context(), Config{Run: dir, Quiet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := a.Saturation
	if s == nil || len(s.Points) != 4 {
		t.Fatalf("saturation: %+v", s)
	}
	for i, want := range []float64{1, 2, 4, 8} {
		if p := s.Points[i]; p.Offered != want || math.Abs(p.Concurrent-want)/want > 0.1 {
			t.Errorf("point %d: offered %v, concurrency %.2f; want %v and Little's law to give it back", i, p.Offered, p.Concurrent, want)
		}
	}
	if s.Knee == nil || s.Knee.Label != "vus_2" {
		t.Errorf("knee %+v, want vus_2", s.Knee)
	}
	if s.CapacityAtSLO < 9 || s.CapacityAtSLO > 11 {
		t.Errorf("capacity at the SLO %.2f req/s, want about 10 (vus_4 meets e2e ≤ 500 ms at 10 req/s)", s.CapacityAtSLO)
	}
}

// TestSilentPrometheus: a Prometheus that accepts connections and never
// answers cost analyze two minutes, and the text said only "14 PromQL
// queries failed". The phase has a deadline, and the text says why.
func TestSilentPrometheus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	dir := writeRun(t, 3, "", "http://"+ln.Addr().String())
	var out bytes.Buffer
	start := time.Now()
	a, err := Analyze(t.Context(), Config{Run: dir, PromTimeout: 500 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("analyze took %v against a silent Prometheus with a 0.5 s phase deadline", d)
	}
	if a.Coverage.SeriesErrors == 0 || !strings.Contains(out.String(), "no answer within 500ms (--prom-timeout)") {
		t.Errorf("the text does not say why the series are missing:\n%s", out.String())
	}
}
