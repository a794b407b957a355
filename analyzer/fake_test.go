package analyzer

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/runfmt"
)

// fakeJaeger is an in-process Jaeger query service holding hand-built
// traces.
type fakeJaeger struct {
	api_v2.UnimplementedQueryServiceServer
	traces map[string][]model.Span
}

func (f *fakeJaeger) GetTrace(req *api_v2.GetTraceRequest, stream api_v2.QueryService_GetTraceServer) error {
	spans, ok := f.traces[jaeger.TraceID(req.TraceID)]
	if !ok {
		return status.Error(codes.NotFound, "trace not found")
	}
	return stream.Send(&api_v2.SpansResponseChunk{Spans: spans})
}

func (f *fakeJaeger) FindTraces(*api_v2.FindTracesRequest, api_v2.QueryService_FindTracesServer) error {
	return nil // no engine.step spans: the decode split comes from mean_batch_size
}

// serveFakeJaeger starts f on a loopback port with Jaeger's gogo codec.
func serveFakeJaeger(t *testing.T, f *fakeJaeger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.ForceServerCodecV2(jaeger.Codec{}))
	api_v2.RegisterQueryServiceServer(s, f)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func traceID(hexID string) model.TraceID {
	b, _ := hex.DecodeString(hexID)
	return model.TraceID{High: binary.BigEndian.Uint64(b[:8]), Low: binary.BigEndian.Uint64(b[8:])}
}

func spanID(hexID string) model.SpanID {
	b, _ := hex.DecodeString(hexID)
	return model.SpanID(binary.BigEndian.Uint64(b))
}

// queueingTrace is one request of a queue-bound refserver: the client span,
// the server span 1 ms after the request was written, 600 ms in the queue,
// 20 ms of prefill, 210 ms of decode at batch 8, the last token back 1 ms
// later. It returns the spans and the client's last-token time.
func queueingTrace(tid, cid string, sent time.Time) ([]model.Span, time.Time) {
	client := &model.Process{ServiceName: "llmbench"}
	server := &model.Process{ServiceName: "refserver"}
	t := traceID(tid)
	n := 0
	sp := func(name string, parent model.SpanID, p *model.Process, start time.Time, d time.Duration, tags ...model.KeyValue) model.Span {
		n++
		id := model.SpanID(uint64(n) + 0x1000)
		if name == "llm.request" {
			id = spanID(cid)
		}
		var refs []model.SpanRef
		if parent != 0 {
			refs = []model.SpanRef{{TraceID: t, SpanID: parent, RefType: model.SpanRefType_CHILD_OF}}
		}
		return model.Span{TraceID: t, SpanID: id, OperationName: name, References: refs, Process: p, StartTime: start, Duration: d, Tags: tags}
	}
	kind := func(k string) model.KeyValue { return model.String("span.kind", k) }
	s0 := sent.Add(time.Millisecond)
	queued, first, last := s0.Add(time.Millisecond), s0.Add(601*time.Millisecond), s0.Add(811*time.Millisecond)
	c := sp("llm.request", 0, client, sent.Add(-time.Millisecond), 815*time.Millisecond, kind("client"))
	srv := sp("POST /generate/stream", c.SpanID, server, s0, 812*time.Millisecond, kind("server"))
	gen := sp("model_generate", srv.SpanID, server, queued.Add(580*time.Millisecond), last.Sub(queued.Add(580*time.Millisecond)))
	spans := []model.Span{c, srv,
		sp("tokenize_input", srv.SpanID, server, s0.Add(200*time.Microsecond), 500*time.Microsecond),
		sp("queue_wait", srv.SpanID, server, queued, 580*time.Millisecond),
		gen,
		sp("prefill", gen.SpanID, server, queued.Add(580*time.Millisecond), 20*time.Millisecond),
		sp("decode", gen.SpanID, server, first, last.Sub(first), model.Int64("steps", 19), model.Float64("mean_batch_size", 8)),
	}
	return spans, last.Add(time.Millisecond)
}

// TestQueueingThroughFakes analyzes a queue-bound run whose traces come
// from an in-process Jaeger query service and whose series come from an
// httptest Prometheus: the verdict is queue-bound, with the queue depth
// and the batch cap as its evidence.
func TestQueueingThroughFakes(t *testing.T) {
	const n = 20
	f := &fakeJaeger{traces: map[string][]model.Span{}}
	dir := t.TempDir()
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	// The server's start-up calibration: a decode step of one sequence
	// costs 20 ms, of eight 27 ms, so a sequence's own share of a step of
	// eight is 20/27.
	health := `{"device":"cpu","threads":2,"engine":{"max_batch":8,"step_cost":[` +
		`{"batch":1,"ms":20,"spread_ms":0.2},{"batch":2,"ms":21,"spread_ms":0.2},{"batch":4,"ms":23,"spread_ms":0.2},{"batch":8,"ms":27,"spread_ms":0.2}]}}`
	promSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		v := "1"
		switch {
		case strings.Contains(q, "llm_requests_waiting"):
			v = "14"
		case strings.Contains(q, "llm_batch_size"):
			v = "8"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%d,"%s"],[%d,"%s"]]}]}}`,
			start.Unix(), v, start.Unix()+1, v)
	}))
	defer promSrv.Close()
	addr := serveFakeJaeger(t, f)
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: "queued", Start: start, End: start.Add(30 * time.Second), Status: runfmt.StatusFinished,
		Jaeger: addr, Prometheus: promSrv.URL, Server: &runfmt.Server{Device: "cpu", Health: []byte(health)}}); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tid, cid := fmt.Sprintf("%032x", 0xabc000+i), fmt.Sprintf("%016x", 0xc1000+i)
		sent := start.Add(time.Duration(i) * time.Second)
		spans, lastTok := queueingTrace(tid, cid, sent)
		f.traces[tid] = spans
		e2e := runfmt.Ms(lastTok.Sub(sent))
		r := &runfmt.Request{TraceID: tid, SpanID: cid, Started: sent.Add(-time.Millisecond), Sent: sent,
			TTFTMS: ptr(603), E2EMS: &e2e, CloseMS: e2e + 1, OK: true, Status: 200, OutputTokens: 20, InputTokens: 8}
		if err := log.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()

	a, err := Analyze(t.Context(), Config{Run: dir, Quiet: true, Wait: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Coverage.Analyzed != n || a.Coverage.MissingTraces != 0 || a.Coverage.ClientOnly != 0 {
		t.Fatalf("coverage %+v", a.Coverage)
	}
	b := a.Requests[0]
	want := map[string]float64{
		runfmt.PartConnectSend: 1, runfmt.PartNetwork: 2, runfmt.PartTokenize: 0.5, runfmt.PartServerQueue: 580,
		runfmt.PartPrefill: 20, runfmt.PartDecodeOwn: 210.0 * 20 / 27, runfmt.PartDecodeShared: 210 - 210.0*20/27,
		runfmt.PartServerOther: 0.5,
	}
	for part, ms := range want {
		if got := b.Parts[part]; got < ms-0.001 || got > ms+0.001 {
			t.Errorf("%s: got %.3f ms, want %.3f", part, got, ms)
		}
	}
	if b.UnexplainedMS > 0.001 || b.UnexplainedMS < -0.001 {
		t.Errorf("unexplained %.3f ms, want 0", b.UnexplainedMS)
	}
	if sc := a.StepCost; sc == nil || !sc.Identified || sc.Source != "calibration" {
		t.Errorf("step cost %+v, want the server's calibration, identified", sc)
	}
	if a.Verdict.Kind != "queue" || a.Verdict.Bottleneck != runfmt.PartServerQueue || !strings.Contains(a.Verdict.Summary, "queue depth peaked at 14") {
		t.Errorf("verdict %+v, want queue-bound with the queue depth", a.Verdict)
	}
	found := false
	for _, r := range a.Recommendations {
		found = found || strings.Contains(r.Action, "raise the max batch size")
	}
	if !found {
		t.Errorf("recommendations %+v lack raising the max batch size", a.Recommendations)
	}

	// "none" turns off what run.json names: no trace and no series is
	// fetched, and the notes say so. A run made with --jaeger none and
	// --prometheus none records them so. (Force: the analysis above, with
	// its traces and series, would be kept otherwise.)
	none := func(t *testing.T, cfg Config) {
		cfg.Force = true
		off, err := Analyze(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		notes := strings.Join(off.Coverage.Notes, "\n")
		if off.Jaeger != "" || off.Prometheus != "" || len(off.Series) != 0 || off.Coverage.ClientOnly+off.Coverage.MissingTraces != n ||
			!strings.Contains(notes, "--jaeger none") || !strings.Contains(notes, "--prometheus none") || strings.Contains(notes, "unavailable") {
			t.Errorf("with none: jaeger %q, prometheus %q, %d series, coverage %+v", off.Jaeger, off.Prometheus, len(off.Series), off.Coverage)
		}
	}
	t.Run("flags none", func(t *testing.T) {
		none(t, Config{Run: dir, Quiet: true, Wait: time.Second, Jaeger: "none", Prometheus: "none"})
	})
	t.Run("run.json none", func(t *testing.T) {
		run, err := runfmt.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		run.Jaeger, run.Prometheus = "none", "none"
		if err := runfmt.WriteRun(dir, run); err != nil {
			t.Fatal(err)
		}
		none(t, Config{Run: dir, Quiet: true, Wait: time.Second})
	})
}

// TestReanalyzeKeepsWhatItSaw: analyzing a run again after its Jaeger and
// Prometheus have stopped (as `llmbench demo` leaves them) must not replace
// an analysis that had their traces and series with one from the client's
// records: it shows the saved one, says why, and --force replaces it.
func TestReanalyzeKeepsWhatItSaw(t *testing.T) {
	const n = 6
	f := &fakeJaeger{traces: map[string][]model.Span{}}
	addr := serveFakeJaeger(t, f)
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	promSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%d,"1"]]}]}}`, start.Unix())
	}))
	defer promSrv.Close()
	dir := t.TempDir()
	if err := runfmt.WriteRun(dir, &runfmt.Run{ID: "again", Start: start, End: start.Add(30 * time.Second), Status: runfmt.StatusFinished,
		Jaeger: addr, Prometheus: promSrv.URL}); err != nil {
		t.Fatal(err)
	}
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tid, cid := fmt.Sprintf("%032x", 0xdef000+i), fmt.Sprintf("%016x", 0xd1000+i)
		sent := start.Add(time.Duration(i) * time.Second)
		spans, lastTok := queueingTrace(tid, cid, sent)
		f.traces[tid] = spans
		e2e := runfmt.Ms(lastTok.Sub(sent))
		if err := log.Append(&runfmt.Request{TraceID: tid, SpanID: cid, Started: sent.Add(-time.Millisecond), Sent: sent,
			TTFTMS: ptr(603), E2EMS: &e2e, CloseMS: e2e + 1, OK: true, Status: 200, OutputTokens: 20, InputTokens: 8}); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	path := filepath.Join(dir, runfmt.AnalysisFile)
	if _, err := Analyze(t.Context(), Config{Run: dir, Quiet: true, Wait: time.Second}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// The same services again: as much seen, so it is replaced.
	if _, err := Analyze(t.Context(), Config{Run: dir, Quiet: true, Wait: time.Second}, nil); err != nil {
		t.Fatalf("again with the same services: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name   string
		cfg    Config
		traces bool // the kept one has more traces than this one
		series bool // and more series
	}{
		{name: "both stopped", cfg: Config{Jaeger: dead, Prometheus: "http://" + dead}, traces: true, series: true},
		{name: "Jaeger stopped", cfg: Config{Jaeger: dead}, traces: true},
		{name: "no Prometheus asked for", cfg: Config{Prometheus: "none"}, series: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg
			cfg.Run, cfg.Wait = dir, time.Second
			var out bytes.Buffer
			a, err := Analyze(t.Context(), cfg, &out)
			if err != nil {
				t.Fatal(err)
			}
			if a.Coverage.MissingTraces != 0 || len(a.Series) == 0 {
				t.Errorf("returned coverage %+v with %d series, want the saved analysis", a.Coverage, len(a.Series))
			}
			text := out.String()
			for want, on := range map[string]bool{
				"note: showing the analysis saved in " + path:                true,
				"attributes 6 requests from their traces, an analysis now 0": tc.traces,
				"Prometheus series, an analysis now 0":                       tc.series,
				"Jaeger at " + dead:                                          tc.traces,
				"--prometheus none":                                          !tc.traces,
				"--force":                                                    true,
				"VERDICT":                                                    true,
				"kept " + path:                                               true,
			} {
				if strings.Contains(text, want) != on {
					t.Errorf("output has %q = %v, want %v:\n%s", want, !on, on, text)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Error("analysis.json changed")
			}
		})
	}

	cfg := Config{Run: dir, Quiet: true, Wait: time.Second, Jaeger: dead, Prometheus: "none", Force: true}
	a, err := Analyze(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("--force: %v", err)
	}
	saved, err := runfmt.ReadAnalysis(dir)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Coverage.MissingTraces != n || a.Coverage.MissingTraces != n {
		t.Errorf("--force wrote coverage %+v, want the new analysis (%d traces missing)", saved.Coverage, n)
	}
	if bytes.Equal(first, mustRead(t, path)) {
		t.Error("--force left analysis.json as it was")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
