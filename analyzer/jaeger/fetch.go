package jaeger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/span"
)

// Status says what Fetch got of one trace.
type Status int

const (
	// Missing: Jaeger did not have the trace by the end of the wait.
	Missing Status = iota
	// Found: the trace, with every expected span.
	Found
	// Partial: the trace, still without some expected span at the end of
	// the wait (Result.Absent says which).
	Partial
	// Failed: the trace could not be asked for: a malformed id, an error
	// from Jaeger, or Fetch stopped early (Result.Err says why).
	Failed
)

// String returns "missing", "found", "partial" or "failed".
func (s Status) String() string {
	switch s {
	case Missing:
		return "missing"
	case Found:
		return "found"
	case Partial:
		return "partial"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Match describes a span that a complete trace has. An empty field
// matches anything, so the zero Match matches every span.
type Match struct {
	Service string // e.g. "refserver"
	Name    string // e.g. "llm.request"
	Kind    string // e.g. "server"
}

// Matches says whether s is a span m describes.
func (m Match) Matches(s *span.Span) bool {
	return (m.Service == "" || s.Service == m.Service) &&
		(m.Name == "" || s.Name == m.Name) &&
		(m.Kind == "" || s.Kind == m.Kind)
}

// String describes m, e.g. `service="refserver" kind="server"`.
func (m Match) String() string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"service", m.Service}, {"name", m.Name}, {"kind", m.Kind}} {
		if f.v != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", f.k, f.v))
		}
	}
	if len(parts) == 0 {
		return "any span"
	}
	return strings.Join(parts, " ")
}

// FetchOptions tunes Fetch. The zero value gives the defaults below.
type FetchOptions struct {
	// Expect lists the spans a complete trace has, e.g. the client's
	// {Name: "llm.request"} and the server's {Service: "refserver", Kind:
	// "server"}. Empty: any span makes the trace complete.
	Expect []Match
	// From is when the wait starts, normally the run's end. Zero: when
	// Fetch is called.
	From time.Time
	// Wait is how long after From a trace that is not found, or that
	// lacks an expected span, is fetched again: exporters batch spans for
	// a few seconds. Zero means 10 s; negative means no waiting, one fetch
	// of each trace.
	Wait time.Duration
	// Poll is the pause between rounds of fetching the traces still
	// incomplete. Zero means 500 ms.
	Poll time.Duration
	// Concurrency bounds the calls in flight. Zero means 8.
	Concurrency int
	// Attempts is how many times one call is made while it fails with a
	// transient error (Unavailable, DeadlineExceeded, ResourceExhausted).
	// Zero means 5.
	Attempts int
	// Backoff is the pause before the first retry; it doubles up to 2 s
	// (or Backoff, when larger). Zero means 100 ms.
	Backoff time.Duration
	// CallTimeout limits each call. Zero means 10 s.
	CallTimeout time.Duration
}

// Default values of FetchOptions.
const (
	DefaultWait        = 10 * time.Second
	DefaultPoll        = 500 * time.Millisecond
	DefaultConcurrency = 8
)

func (o FetchOptions) withDefaults() FetchOptions {
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Attempts <= 0 {
		o.Attempts = defaultRetry.attempts
	}
	if o.Backoff <= 0 {
		o.Backoff = defaultRetry.backoff
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultRetry.timeout
	}
	return o
}

func (o FetchOptions) retry() retry {
	return retry{attempts: o.Attempts, backoff: o.Backoff, maxBackoff: max(o.Backoff, defaultRetry.maxBackoff), timeout: o.CallTimeout}
}

// Result is what Fetch got of one trace id.
type Result struct {
	ID     string // the id as given
	Status Status
	// Trace is the trace as last fetched; nil when Missing or Failed. Its
	// ID is the id normalized to 32 lowercase hex digits.
	Trace *span.Trace
	// Absent lists the expected spans the trace lacks (Partial).
	Absent []Match
	// Fetches is how many times the trace was asked for, not counting
	// retries after transient errors: 3 for one found on the third round.
	Fetches int
	// Err says why the trace Failed. A Partial trace may carry the error
	// of a later fetch.
	Err error
}

// Fetched is the outcome of Fetch.
type Fetched struct {
	// Traces has one Result per id given, in the same order. An id given
	// twice is fetched once; both Results share the trace.
	Traces []Result
	// The number of Results of each Status.
	Found, Partial, Missing, Failed int
}

// ErrUnavailable is the error of a Fetch that stopped because Jaeger kept
// failing with transient errors after every retry; check it with
// errors.Is.
var ErrUnavailable = errors.New("jaeger unavailable")

// Fetch gets the traces with the given ids (hex, as in traceparent and
// requests.jsonl), at most opts.Concurrency at a time. A trace that Jaeger
// does not have yet, or that lacks a span of opts.Expect, is fetched again
// every opts.Poll until opts.Wait after opts.From has passed; it is then
// reported as Missing or Partial. Every id gets a Result; none is dropped.
//
// Fetch returns an error only when it stopped early: when ctx ended, or
// when a call still failed with a transient error after every retry
// (wrapping ErrUnavailable: Jaeger is down, and the other ids would fare
// no better). Even then it returns the Results so far, the ids it could
// not finish marked Failed.
func (c *Client) Fetch(ctx context.Context, ids []string, opts FetchOptions) (*Fetched, error) {
	opts = opts.withDefaults()
	from := opts.From
	if from.IsZero() {
		from = time.Now()
	}
	deadline := from.Add(opts.Wait)

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	slots := make([]*slot, len(ids))
	byID := make(map[string]*slot, len(ids))
	var pending []*slot
	for i, id := range ids {
		tid, err := model.TraceIDFromString(strings.TrimSpace(id))
		if err != nil {
			slots[i] = &slot{err: fmt.Errorf("trace id %q: %w", id, err), done: true}
			continue
		}
		norm := TraceID(tid)
		s := byID[norm]
		if s == nil {
			s = &slot{id: tid, norm: norm}
			byID[norm] = s
			pending = append(pending, s)
		}
		slots[i] = s
	}

	for len(pending) > 0 {
		c.round(ctx, pending, opts, stop)
		pending = slices.DeleteFunc(pending, func(s *slot) bool { return s.done })
		wait := time.Until(deadline)
		if len(pending) == 0 || wait <= 0 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(min(wait, opts.Poll))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}

	var stopped error
	if ctx.Err() != nil {
		stopped = fmt.Errorf("fetch traces: %w", context.Cause(ctx))
	}
	f := &Fetched{Traces: make([]Result, len(ids))}
	for i, s := range slots {
		r := Result{ID: ids[i], Trace: s.trace, Absent: s.absent, Fetches: s.fetches, Err: s.err}
		switch {
		case s.trace != nil && len(s.absent) == 0:
			r.Status = Found
			f.Found++
		case s.trace != nil:
			r.Status = Partial
			f.Partial++
		case s.err != nil:
			r.Status = Failed
			f.Failed++
		case stopped != nil:
			r.Status, r.Err = Failed, stopped
			f.Failed++
		default:
			r.Status = Missing
			f.Missing++
		}
		f.Traces[i] = r
	}
	return f, stopped
}

// slot is the state of one trace id during Fetch. Within a round only the
// goroutine fetching it touches it.
type slot struct {
	id      model.TraceID
	norm    string // id as 32 hex digits
	trace   *span.Trace
	absent  []Match
	fetches int
	err     error
	done    bool // complete, or failed: not fetched again
}

// round fetches each slot once, opts.Concurrency at a time, and returns
// when every fetch it started has ended.
func (c *Client) round(ctx context.Context, slots []*slot, opts FetchOptions, stop context.CancelCauseFunc) {
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	r := opts.retry()
	for _, s := range slots {
		if ctx.Err() != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c.fetch(ctx, s, r, opts.Expect, stop)
		})
	}
}

// fetch asks for one trace and records the answer in s. A transient error
// that outlived its retries stops the whole Fetch.
func (c *Client) fetch(ctx context.Context, s *slot, r retry, expect []Match, stop context.CancelCauseFunc) {
	spans, err := c.getTrace(ctx, s.id, r)
	if ctx.Err() != nil {
		return
	}
	s.fetches++
	switch {
	case err != nil:
		s.err = fmt.Errorf("get trace %s: %w", s.norm, err)
		s.done = true
		if transient(err) {
			stop(fmt.Errorf("%w: get trace %s: %w", ErrUnavailable, s.norm, err))
		}
	case len(spans) > 0:
		s.trace = trace(s.norm, spans)
		s.absent = absent(s.trace, expect)
		s.done = len(s.absent) == 0
	}
}

// absent returns the matches no span of t satisfies.
func absent(t *span.Trace, want []Match) []Match {
	var out []Match
	for _, m := range want {
		if !slices.ContainsFunc(t.Spans, m.Matches) {
			out = append(out, m)
		}
	}
	return out
}
