// Package script runs k6-style JavaScript scenario scripts: it bundles a
// script and its local imports with esbuild, compiles it once, and gives
// each virtual user its own goja runtime with the built-in modules (k6,
// k6/http, k6/metrics, k6/data, k6/x/llm), open(), console, __ENV, __VU and
// __ITER.
//
// A script reads like a k6 script:
//
//	import { check, sleep } from 'k6';
//	import llm from 'k6/x/llm';
//
//	export const options = { vus: 5, duration: '2m' };
//	const client = new llm.Client({ baseURL: __ENV.TARGET || 'http://127.0.0.1:8000' });
//
//	export default function () {
//	  const res = client.generate({ prompt: 'Hello', max_tokens: 30 });
//	  check(res, { 'ok': (r) => r.ok });
//	  sleep(1);
//	}
//
// The package knows nothing of executors or of how samples are aggregated:
// samples go to a Recorder, LLM requests to a RequestSink.
package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/loadgen/llm"
	"github.com/llmbench/llmbench/runfmt"
)

// Metric kinds of Recorder.Declare, as k6 names them.
const (
	Counter = "counter"
	Gauge   = "gauge"
	Rate    = "rate"
	Trend   = "trend"
)

// Recorder receives what scripts measure. It must be safe for concurrent
// use: every VU calls it.
type Recorder interface {
	// Declare creates a metric or checks that an existing one has the same
	// kind; isTime marks a trend of milliseconds.
	Declare(name, kind string, isTime bool) error
	// Add records one sample of a declared metric.
	Add(name string, t time.Time, v float64, tags map[string]string)
	// Check tallies one check() outcome in its group.
	Check(groupPath, name string, ok bool)
}

// RequestSink receives one record per LLM request, as it completes.
type RequestSink interface {
	Append(r *runfmt.Request) error
}

// Env is what every VU of a run shares. Its zero value is not usable: fill
// Program, Recorder and Log at least. Safe for concurrent use once built.
type Env struct {
	Program  *Program
	Vars     map[string]string // __ENV
	Recorder Recorder
	Requests RequestSink // nil: LLM requests are not logged
	// HTTPClient is shared by k6/http and k6/x/llm; nil builds one suited
	// to many concurrent streams.
	HTTPClient     *http.Client
	TracerProvider trace.TracerProvider // nil: the OTel global one
	Log            io.Writer            // console output and iteration errors
	// Console, when set, takes the script's console output instead of
	// Log (--console-output).
	Console io.Writer
	// HTTPDebug logs each k6/http request and response to Log: "headers"
	// or "full" (bodies too); "" none (--http-debug).
	HTTPDebug string
	// Tags are added to every sample (options.tags).
	Tags map[string]string
	// OnLLM, when set, is told of every LLM request's result (live
	// progress, the loadgen's own Prometheus metrics).
	OnLLM func(r *runfmt.Request)
	// InFlight, when set, counts the LLM requests in flight.
	InFlight *atomic.Int64
	// Abort, when set, is called by exec.test.abort() from k6/execution:
	// the runner stops the test and exits with its aborted code.
	Abort func(reason string)
	// Fail, when set, is called by exec.test.fail(): the test goes on and
	// ends marked as failed.
	Fail func(reason string)
	// Options are the run's options as JSON, consolidated (the scenarios
	// filled in): k6/execution's exec.test.options. Empty in the init
	// context.
	Options json.RawMessage
	// Instance, when set, tells k6/execution's exec.instance the state of
	// this load generator process.
	Instance func() Instance
	// MaxRedirects is options.maxRedirects: how many redirects k6/http
	// follows by default; nil is k6's default, 10.
	MaxRedirects *int
	// NoCookiesReset is options.noCookiesReset: a VU keeps its cookie jar
	// from one iteration to the next.
	NoCookiesReset bool
	// HTTP holds the options of k6/http's requests.
	HTTP HTTPOptions
	// MinIterationDuration is options.minIterationDuration: an iteration
	// that ends sooner waits out the rest.
	MinIterationDuration time.Duration
	// Tokens counts tokens of text client-side (the GPT-2 tokenizer), so
	// the server's usage can be checked; nil skips the check.
	Tokens llm.TokenCounter

	mu     sync.Mutex
	files  map[string][]byte // open() cache: each file is read once
	shared map[string]*sharedArray
	logMu  sync.Mutex
	once   sync.Once
	client *http.Client

	target, protocol, kind string
}

// HTTPOptions are the k6 options that shape k6/http's requests
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/).
type HTTPOptions struct {
	DiscardResponseBodies bool    // discardResponseBodies: responseType 'none' unless a request says otherwise
	UserAgent             *string // userAgent; nil is "llmbench", "" sends none
	Throw                 bool    // throw: a request that fails (not a status) throws
	// Batch and BatchPerHost bound http.batch()'s requests at once, in all
	// and to one host; nil is k6's default (10 and 6), 0 no limit.
	Batch, BatchPerHost *int
}

func (o HTTPOptions) batch() int        { return intOr(o.Batch, 10) }
func (o HTTPOptions) batchPerHost() int { return intOr(o.BatchPerHost, 6) }

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// limiter bounds how many goroutines hold it at once; 0 is no bound.
type limiter struct{ c chan struct{} }

func newLimiter(n int) *limiter {
	if n <= 0 {
		return &limiter{}
	}
	return &limiter{c: make(chan struct{}, n)}
}

func (l *limiter) acquire() {
	if l.c != nil {
		l.c <- struct{}{}
	}
}

func (l *limiter) release() {
	if l.c != nil {
		<-l.c
	}
}

// ErrInterrupted is the error of an iteration stopped by its context
// (gracefulStop passed, ramp-down, Ctrl-C).
var ErrInterrupted = errors.New("iteration interrupted")

// errFail is thrown by fail(): it ends the iteration, and is counted as an
// iteration error.
// Instance is k6/execution's exec.instance: this process's counts.
type Instance struct {
	IterationsCompleted, IterationsInterrupted int64
	VUsActive, VUsInitialized                  int64
	// Duration is the time since the test run started (0 before).
	Duration time.Duration
}

type failError struct{ msg string }

func (e *failError) Error() string { return "fail(): " + e.msg }

func (e *Env) httpClient() *http.Client {
	e.once.Do(func() {
		if e.HTTPClient != nil {
			e.client = e.HTTPClient
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 10000
		tr.MaxConnsPerHost = 0
		tr.ForceAttemptHTTP2 = false
		e.client = &http.Client{Transport: tr}
	})
	return e.client
}

// readFile reads a file for open(), relative to the script's folder, once
// per run.
func (e *Env) readFile(name string) ([]byte, error) {
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.Program.Dir, p)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.files[p]; ok {
		return b, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("open(%q): %w", name, err)
	}
	if e.files == nil {
		e.files = map[string][]byte{}
	}
	e.files[p] = b
	return b, nil
}

// maxRedirects is MaxRedirects or its default.
func (e *Env) maxRedirects() int {
	if e.MaxRedirects != nil {
		return *e.MaxRedirects
	}
	return 10
}

func (e *Env) logf(format string, args ...any) {
	if e.Log == nil {
		return
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	fmt.Fprintf(e.Log, format, args...)
}

// tags merges the run's tags, the context's and the call's into a new map.
func mergeTags(layers ...map[string]string) map[string]string {
	n := 0
	for _, l := range layers {
		n += len(l)
	}
	out := make(map[string]string, n)
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// withTimeout is context.WithTimeout that treats d <= 0 as no timeout.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
