package jaeger_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/llmbench/llmbench/analyzer/jaeger"
)

// fake is an in-process Jaeger query service. Each trace id has a script
// that answers its n-th GetTrace call (n from 1); ids without one are not
// found.
type fake struct {
	api_v2.UnimplementedQueryServiceServer

	scripts map[string]func(call int) ([]model.Span, error)
	// hold, when set, runs inside each GetTrace while it counts as in
	// flight.
	hold func(ctx context.Context)

	services  []string
	ops       *api_v2.GetOperationsResponse
	find      []model.Span
	failFirst atomic.Int64 // GetServices calls to fail with Unavailable

	mu    sync.Mutex
	calls map[string]int
	query *api_v2.TraceQueryParameters // the last FindTraces query
	opsOf string                       // the last GetOperations service

	inflight, peak atomic.Int64
}

func (f *fake) GetTrace(req *api_v2.GetTraceRequest, stream api_v2.QueryService_GetTraceServer) error {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	id := jaeger.TraceID(req.TraceID)
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]int)
	}
	f.calls[id]++
	call := f.calls[id]
	f.mu.Unlock()
	if f.hold != nil {
		f.hold(stream.Context())
	}
	script := f.scripts[id]
	if script == nil {
		return status.Error(codes.NotFound, "trace not found")
	}
	spans, err := script(call)
	if err != nil {
		return err
	}
	if len(spans) == 0 {
		return status.Error(codes.NotFound, "trace not found")
	}
	return sendChunks(stream, spans)
}

// sendChunks sends one span per chunk, so that the client must collect
// several.
func sendChunks(stream interface {
	Send(*api_v2.SpansResponseChunk) error
}, spans []model.Span) error {
	for _, s := range spans {
		if err := stream.Send(&api_v2.SpansResponseChunk{Spans: []model.Span{s}}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fake) FindTraces(req *api_v2.FindTracesRequest, stream api_v2.QueryService_FindTracesServer) error {
	f.mu.Lock()
	f.query = req.Query
	f.mu.Unlock()
	return sendChunks(stream, f.find)
}

func (f *fake) GetServices(context.Context, *api_v2.GetServicesRequest) (*api_v2.GetServicesResponse, error) {
	if f.failFirst.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	return &api_v2.GetServicesResponse{Services: f.services}, nil
}

func (f *fake) GetOperations(_ context.Context, req *api_v2.GetOperationsRequest) (*api_v2.GetOperationsResponse, error) {
	f.mu.Lock()
	f.opsOf = req.Service
	f.mu.Unlock()
	return f.ops, nil
}

// callsOf returns how many GetTrace calls asked for id.
func (f *fake) callsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// serve starts f on an in-memory listener and returns a Client of it.
func serve(t *testing.T, f *fake) *jaeger.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(jaeger.Codec{}))
	api_v2.RegisterQueryServiceServer(srv, f)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(jaeger.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	c := jaeger.New(api_v2.NewQueryServiceClient(conn))
	t.Cleanup(func() {
		c.Close()
		conn.Close()
		srv.Stop()
		<-served
	})
	return c
}

// Hand-built spans.

var t0 = time.Date(2026, 11, 28, 7, 15, 0, 123456789, time.UTC)

func traceID(s string) model.TraceID {
	id, err := model.TraceIDFromString(s)
	if err != nil {
		panic(err)
	}
	return id
}

// mkSpan returns a span of trace tid; parent 0 makes it a root.
func mkSpan(tid string, id, parent uint64, service, name, kind string) model.Span {
	s := model.Span{
		TraceID:       traceID(tid),
		SpanID:        model.SpanID(id),
		OperationName: name,
		StartTime:     t0.Add(time.Duration(id) * time.Millisecond),
		Duration:      time.Duration(100-id) * time.Millisecond,
		Process:       &model.Process{ServiceName: service},
	}
	if parent != 0 {
		s.References = []model.SpanRef{{TraceID: s.TraceID, SpanID: model.SpanID(parent), RefType: model.SpanRefType_CHILD_OF}}
	}
	if kind != "" {
		s.Tags = append(s.Tags, model.String("span.kind", kind))
	}
	return s
}

// request returns the spans of one request: the client span, and the
// server span when server is true.
func request(tid string, server bool) []model.Span {
	spans := []model.Span{mkSpan(tid, 1, 0, "llmbench", "llm.request", "client")}
	if server {
		spans = append(spans, mkSpan(tid, 2, 1, "refserver", "POST /generate", "server"))
	}
	return spans
}
