// Package jaeger reads traces from Jaeger's query API (the api_v2
// QueryService over gRPC) for the analyzer: the traces of a run's requests
// by id, waiting for those still on their way, and the engine.step traces
// of a time window. It turns Jaeger's spans into span.Span.
package jaeger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/llmbench/llmbench/analyzer/span"
)

// Querier is the part of api_v2.QueryServiceClient that a Client uses;
// api_v2.NewQueryServiceClient returns one.
type Querier interface {
	GetTrace(ctx context.Context, in *api_v2.GetTraceRequest, opts ...grpc.CallOption) (api_v2.QueryService_GetTraceClient, error)
	FindTraces(ctx context.Context, in *api_v2.FindTracesRequest, opts ...grpc.CallOption) (api_v2.QueryService_FindTracesClient, error)
	GetServices(ctx context.Context, in *api_v2.GetServicesRequest, opts ...grpc.CallOption) (*api_v2.GetServicesResponse, error)
	GetOperations(ctx context.Context, in *api_v2.GetOperationsRequest, opts ...grpc.CallOption) (*api_v2.GetOperationsResponse, error)
}

// Client reads traces from a Jaeger query API. Calls that fail with a
// transient gRPC error (Unavailable, DeadlineExceeded, ResourceExhausted)
// are retried with exponential backoff. A Client is safe for concurrent
// use.
type Client struct {
	q    Querier
	conn *grpc.ClientConn // nil when the caller owns the connection
}

// Dial returns a Client of the query API at addr (host:port, e.g.
// 127.0.0.1:16685), over plaintext gRPC: the query API of llmbench's stack
// listens on loopback. It connects lazily, on the first call; ctx is not
// used yet. Close the Client when done.
func Dial(ctx context.Context, addr string) (*Client, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{})))
	if err != nil {
		return nil, fmt.Errorf("dial jaeger %s: %w", addr, err)
	}
	return &Client{q: api_v2.NewQueryServiceClient(conn), conn: conn}, nil
}

// New returns a Client over q. The connection under q must use Codec.
// Closing the Client leaves q's connection open.
func New(q Querier) *Client { return &Client{q: q} }

// Close closes the connection that Dial made; for a Client from New it
// does nothing.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Services returns the names of the services Jaeger has spans from,
// sorted.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	var resp *api_v2.GetServicesResponse
	err := defaultRetry.do(ctx, func(ctx context.Context) (err error) {
		resp, err = c.q.GetServices(ctx, &api_v2.GetServicesRequest{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get services: %w", err)
	}
	out := slices.Clone(resp.Services)
	slices.Sort(out)
	return out, nil
}

// Operations returns the names of the operations (span names) of a
// service, sorted and without repeats.
func (c *Client) Operations(ctx context.Context, service string) ([]string, error) {
	var resp *api_v2.GetOperationsResponse
	err := defaultRetry.do(ctx, func(ctx context.Context) (err error) {
		resp, err = c.q.GetOperations(ctx, &api_v2.GetOperationsRequest{Service: service})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get operations of %s: %w", service, err)
	}
	out := slices.Clone(resp.OperationNames)
	for _, op := range resp.Operations {
		out = append(out, op.Name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// DefaultFindLimit is FindTraces' limit when it is given none.
const DefaultFindLimit = 1000

// FindTraces returns up to limit traces (DefaultFindLimit when limit ≤ 0)
// that have a span of service, named operation (any operation when it is
// ""), starting in [start, end]. The analyzer uses it for the engine.step
// spans of a run's window, whose links point at the requests in each
// batch. Each trace holds all its spans, not only the matching ones.
// Times are as the spans recorded them: Jaeger's clock-skew adjustment is
// not applied.
func (c *Client) FindTraces(ctx context.Context, service, operation string, start, end time.Time, limit int) ([]*span.Trace, error) {
	if limit <= 0 {
		limit = DefaultFindLimit
	}
	req := &api_v2.FindTracesRequest{Query: &api_v2.TraceQueryParameters{
		ServiceName:   service,
		OperationName: operation,
		StartTimeMin:  start,
		StartTimeMax:  end,
		SearchDepth:   int32(min(limit, 1<<31-1)),
		RawTraces:     true,
	}}
	var spans []model.Span
	err := defaultRetry.do(ctx, func(ctx context.Context) error {
		stream, err := c.q.FindTraces(ctx, req)
		if err != nil {
			return err
		}
		spans, err = collect(stream)
		return err
	})
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find traces of %s %q: %w", service, operation, err)
	}
	return traces(spans), nil
}

// ErrTraceNotFound is Trace's error for a trace Jaeger does not have (yet).
var ErrTraceNotFound = errors.New("trace not found")

// Trace returns the spans of the trace with the given id (hex, as in a
// traceparent header), as Jaeger stores them, in one fetch (with retries
// on transient errors). While Jaeger does not have the trace, the error
// wraps ErrTraceNotFound.
func (c *Client) Trace(ctx context.Context, traceID string) ([]*model.Span, error) {
	id, err := model.TraceIDFromString(traceID)
	if err != nil {
		return nil, fmt.Errorf("trace id %q: %w", traceID, err)
	}
	spans, err := c.getTrace(ctx, id, defaultRetry)
	switch {
	case err != nil:
		return nil, fmt.Errorf("get trace %s: %w", traceID, err)
	case len(spans) == 0:
		return nil, fmt.Errorf("get trace %s: %w", traceID, ErrTraceNotFound)
	}
	out := make([]*model.Span, len(spans))
	for i := range spans {
		out[i] = &spans[i]
	}
	return out, nil
}

// getTrace fetches one trace's spans once (with retries on transient
// errors). A trace Jaeger does not have yet comes back as no spans and no
// error.
func (c *Client) getTrace(ctx context.Context, id model.TraceID, r retry) ([]model.Span, error) {
	var spans []model.Span
	err := r.do(ctx, func(ctx context.Context) error {
		stream, err := c.q.GetTrace(ctx, &api_v2.GetTraceRequest{TraceID: id, RawTraces: true})
		if err != nil {
			return err
		}
		spans, err = collect(stream)
		return err
	})
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	return spans, err
}

// collect reads a stream of span chunks to its end.
func collect(stream interface {
	Recv() (*api_v2.SpansResponseChunk, error)
}) ([]model.Span, error) {
	var spans []model.Span
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return spans, nil
		}
		if err != nil {
			return nil, err
		}
		spans = append(spans, chunk.Spans...)
	}
}

// retry is how a call is retried on transient errors.
type retry struct {
	attempts   int           // calls in all, e.g. 5
	backoff    time.Duration // the wait before the first retry; it doubles
	maxBackoff time.Duration // the longest wait between calls
	timeout    time.Duration // the limit on each call
}

var defaultRetry = retry{attempts: 5, backoff: 100 * time.Millisecond, maxBackoff: 2 * time.Second, timeout: 10 * time.Second}

// transient says whether a call that failed with err may succeed if
// repeated.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// do calls f until it succeeds, fails with an error that is not transient,
// or has been called r.attempts times. When ctx ends it returns ctx's
// error.
func (r retry) do(ctx context.Context, f func(ctx context.Context) error) error {
	wait := r.backoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !transient(err) || attempt >= r.attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		wait = min(2*wait, r.maxBackoff)
	}
}
