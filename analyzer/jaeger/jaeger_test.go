package jaeger_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmbench/llmbench/analyzer/jaeger"
)

// hexID is the n-th test trace id.
func hexID(n int) string { return fmt.Sprintf("%032x", 0xabc000+n) }

// expect is what a complete request trace has.
var expect = []jaeger.Match{{Name: "llm.request"}, {Service: "refserver", Kind: "server"}}

func TestFetch(t *testing.T) {
	notFound := status.Error(codes.NotFound, "trace not found")
	cases := []struct {
		name        string
		script      func(id string, call int) ([]model.Span, error) // nil: never found
		want        jaeger.Status
		wantFetches int // 0: at least 2 (waited)
		wantCalls   int // GetTrace calls the server saw; 0: not checked
		wantAbsent  []jaeger.Match
	}{
		{
			name:   "found",
			script: func(id string, _ int) ([]model.Span, error) { return request(id, true), nil },
			want:   jaeger.Found, wantFetches: 1, wantCalls: 1,
		},
		{
			name: "arriving",
			script: func(id string, call int) ([]model.Span, error) {
				if call <= 2 {
					return nil, notFound
				}
				return request(id, true), nil
			},
			want: jaeger.Found, wantFetches: 3, wantCalls: 3,
		},
		{name: "missing", want: jaeger.Missing},
		{
			name:   "partial",
			script: func(id string, _ int) ([]model.Span, error) { return request(id, false), nil },
			want:   jaeger.Partial, wantAbsent: expect[1:],
		},
		{
			name: "server span arriving",
			script: func(id string, call int) ([]model.Span, error) {
				return request(id, call > 1), nil
			},
			want: jaeger.Found, wantFetches: 2, wantCalls: 2,
		},
		{
			name: "transient errors retried",
			script: func(id string, call int) ([]model.Span, error) {
				if call <= 2 {
					return nil, status.Error(codes.Unavailable, "busy")
				}
				return request(id, true), nil
			},
			want: jaeger.Found, wantFetches: 1, wantCalls: 3,
		},
		{
			name: "other error",
			script: func(string, int) ([]model.Span, error) {
				return nil, status.Error(codes.InvalidArgument, "bad request")
			},
			want: jaeger.Failed, wantFetches: 1, wantCalls: 1,
		},
	}
	f := &fake{scripts: map[string]func(int) ([]model.Span, error){}}
	var ids []string
	for i, tc := range cases {
		id := hexID(i)
		ids = append(ids, id)
		if tc.script != nil {
			f.scripts[id] = func(call int) ([]model.Span, error) { return tc.script(id, call) }
		}
	}
	// The found trace once more, spelled differently, and a bad id.
	ids = append(ids, strings.ToUpper(ids[0]), "not-hex")
	c := serve(t, f)

	got, err := c.Fetch(t.Context(), ids, jaeger.FetchOptions{
		Expect:  expect,
		Wait:    time.Second,
		Poll:    10 * time.Millisecond,
		Backoff: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(got.Traces) != len(ids) {
		t.Fatalf("got %d results, want %d", len(got.Traces), len(ids))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := got.Traces[i]
			if r.ID != ids[i] {
				t.Errorf("ID = %q, want %q", r.ID, ids[i])
			}
			if r.Status != tc.want {
				t.Errorf("status = %v, want %v (err %v)", r.Status, tc.want, r.Err)
			}
			if tc.wantFetches == 0 && r.Fetches < 2 || tc.wantFetches != 0 && r.Fetches != tc.wantFetches {
				t.Errorf("fetches = %d, want %d (0: at least 2)", r.Fetches, tc.wantFetches)
			}
			if n := f.callsOf(ids[i]); tc.wantCalls != 0 && n != tc.wantCalls {
				t.Errorf("server calls = %d, want %d", n, tc.wantCalls)
			}
			if !reflect.DeepEqual(r.Absent, tc.wantAbsent) {
				t.Errorf("absent = %v, want %v", r.Absent, tc.wantAbsent)
			}
			switch tc.want {
			case jaeger.Found, jaeger.Partial:
				if r.Trace == nil || r.Trace.ID != ids[i] || r.Trace.Find("llm.request", "llmbench") == nil {
					t.Errorf("trace = %+v, want trace %s with its llm.request span", r.Trace, ids[i])
				}
			case jaeger.Missing:
				if r.Trace != nil || r.Err != nil {
					t.Errorf("trace, err = %v, %v; want nil, nil", r.Trace, r.Err)
				}
			case jaeger.Failed:
				if r.Err == nil {
					t.Error("err = nil, want the reason")
				}
			}
		})
	}
	t.Run("same id twice", func(t *testing.T) {
		r := got.Traces[len(cases)]
		if r.Status != jaeger.Found || r.Trace != got.Traces[0].Trace {
			t.Errorf("status %v, trace %p; want found, the first one's trace %p", r.Status, r.Trace, got.Traces[0].Trace)
		}
	})
	t.Run("bad id", func(t *testing.T) {
		if r := got.Traces[len(cases)+1]; r.Status != jaeger.Failed || r.Err == nil || r.Fetches != 0 {
			t.Errorf("status %v, err %v, fetches %d; want failed with an error, not fetched", r.Status, r.Err, r.Fetches)
		}
	})
	t.Run("counts", func(t *testing.T) {
		gotCounts := [4]int{got.Found, got.Partial, got.Missing, got.Failed}
		if want := [4]int{5, 1, 1, 2}; gotCounts != want {
			t.Errorf("found, partial, missing, failed = %v, want %v", gotCounts, want)
		}
	})
}

// TestFetchWaitOver checks that the wait counts from From, and that a
// negative wait means one fetch.
func TestFetchWaitOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts jaeger.FetchOptions
	}{
		{name: "run ended long ago", opts: jaeger.FetchOptions{From: time.Now().Add(-time.Hour)}},
		{name: "negative wait", opts: jaeger.FetchOptions{Wait: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := hexID(1)
			f := &fake{scripts: map[string]func(int) ([]model.Span, error){id: func(call int) ([]model.Span, error) {
				if call == 1 {
					return nil, nil
				}
				return request(id, true), nil
			}}}
			got, err := serve(t, f).Fetch(t.Context(), []string{id}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r := got.Traces[0]; r.Status != jaeger.Missing || r.Fetches != 1 {
				t.Errorf("status %v after %d fetches, want missing after 1", r.Status, r.Fetches)
			}
		})
	}
}

func TestFetchConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts jaeger.FetchOptions
		want int64
	}{
		{name: "default", want: jaeger.DefaultConcurrency},
		{name: "three", opts: jaeger.FetchOptions{Concurrency: 3}, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{scripts: map[string]func(int) ([]model.Span, error){}}
			var ids []string
			for i := range 3 * tc.want {
				id := hexID(int(i))
				ids = append(ids, id)
				f.scripts[id] = func(int) ([]model.Span, error) { return request(id, true), nil }
			}
			// Calls wait until the bound is reached (or 5 s pass, when the
			// client never gets there), so that the peak shows the bound.
			release := make(chan struct{})
			var once sync.Once
			f.hold = func(ctx context.Context) {
				if f.inflight.Load() >= tc.want {
					once.Do(func() { close(release) })
				}
				select {
				case <-release:
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
			got, err := serve(t, f).Fetch(t.Context(), ids, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.Found != len(ids) {
				t.Errorf("found %d, want %d", got.Found, len(ids))
			}
			if peak := f.peak.Load(); peak != tc.want {
				t.Errorf("peak calls in flight = %d, want %d", peak, tc.want)
			}
		})
	}
}

func TestFetchCancel(t *testing.T) {
	entered := make(chan struct{}, 16)
	f := &fake{hold: func(ctx context.Context) {
		entered <- struct{}{}
		<-ctx.Done()
	}}
	c := serve(t, f)
	ids := []string{hexID(1), hexID(2), hexID(3)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		f   *jaeger.Fetched
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := c.Fetch(ctx, ids, jaeger.FetchOptions{Concurrency: 1})
		done <- result{f, err}
	}()
	<-entered
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch did not return within 10 s of the cancel")
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", r.err)
	}
	if r.f == nil || r.f.Failed != len(ids) || len(r.f.Traces) != len(ids) {
		t.Fatalf("got %+v, want %d results, all failed", r.f, len(ids))
	}
	for _, tr := range r.f.Traces {
		if !errors.Is(tr.Err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", tr.ID, tr.Err)
		}
	}
}

func TestFetchUnavailable(t *testing.T) {
	f := &fake{scripts: map[string]func(int) ([]model.Span, error){}}
	var ids []string
	for i := range 20 {
		ids = append(ids, hexID(i))
		f.scripts[hexID(i)] = func(int) ([]model.Span, error) { return nil, status.Error(codes.Unavailable, "down") }
	}
	got, err := serve(t, f).Fetch(t.Context(), ids, jaeger.FetchOptions{Concurrency: 2, Attempts: 3, Backoff: time.Millisecond})
	if !errors.Is(err, jaeger.ErrUnavailable) {
		t.Errorf("error = %v, want ErrUnavailable", err)
	}
	if got.Failed != len(ids) {
		t.Errorf("failed = %d, want %d", got.Failed, len(ids))
	}
	calls := 0
	for _, id := range ids {
		calls += f.callsOf(id)
	}
	if calls < 3 || calls >= len(ids) {
		t.Errorf("server saw %d calls, want at least 3 (retries) and fewer than %d (Fetch gave up early)", calls, len(ids))
	}
}

func TestServicesAndOperations(t *testing.T) {
	f := &fake{
		services: []string{"refserver", "llmbench"},
		ops: &api_v2.GetOperationsResponse{
			OperationNames: []string{"queue_wait", "decode"},
			Operations:     []*api_v2.Operation{{Name: "decode", SpanKind: "internal"}, {Name: "engine.step"}},
		},
	}
	f.failFirst.Store(1)
	c := serve(t, f)
	services, err := c.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"llmbench", "refserver"}; !slices.Equal(services, want) {
		t.Errorf("services = %v, want %v", services, want)
	}
	ops, err := c.Operations(t.Context(), "refserver")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"decode", "engine.step", "queue_wait"}; !slices.Equal(ops, want) {
		t.Errorf("operations = %v, want %v", ops, want)
	}
	f.mu.Lock()
	opsOf := f.opsOf
	f.mu.Unlock()
	if opsOf != "refserver" {
		t.Errorf("asked for the operations of %q, want refserver", opsOf)
	}
}

func TestFindTraces(t *testing.T) {
	a, b := hexID(1), hexID(2)
	stepA := mkSpan(a, 5, 0, "refserver", "engine.step", "")
	stepA.References = []model.SpanRef{{TraceID: traceID(b), SpanID: 1, RefType: model.SpanRefType_FOLLOWS_FROM}}
	f := &fake{find: []model.Span{mkSpan(a, 9, 5, "refserver", "child", ""), mkSpan(b, 1, 0, "refserver", "engine.step", ""), stepA}}
	c := serve(t, f)
	start, end := t0, t0.Add(time.Minute)
	for _, tc := range []struct {
		name      string
		limit     int
		wantDepth int32
	}{
		{name: "limit", limit: 50, wantDepth: 50},
		{name: "default limit", wantDepth: jaeger.DefaultFindLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.FindTraces(t.Context(), "refserver", "engine.step", start, end, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			q := f.query
			f.mu.Unlock()
			if q.ServiceName != "refserver" || q.OperationName != "engine.step" || !q.StartTimeMin.Equal(start) ||
				!q.StartTimeMax.Equal(end) || q.SearchDepth != tc.wantDepth || !q.RawTraces {
				t.Errorf("query = %+v, want refserver engine.step [%v, %v] depth %d raw", q, start, end, tc.wantDepth)
			}
			var gotIDs []string
			for _, tr := range got {
				var names []string
				for _, s := range tr.Spans {
					names = append(names, s.Name)
				}
				gotIDs = append(gotIDs, tr.ID+":"+strings.Join(names, ","))
			}
			if want := []string{a + ":engine.step,child", b + ":engine.step"}; !slices.Equal(gotIDs, want) {
				t.Errorf("traces = %v, want %v (grouped, in first-seen order, spans by start)", gotIDs, want)
			}
			if l := got[0].Spans[0].Links; len(l) != 1 || l[0].TraceID != b {
				t.Errorf("links of the step = %v, want one into %s", l, b)
			}
		})
	}
}
