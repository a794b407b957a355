package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// The bounds of TestMeasurementTruth on the error of measured TTFT and
// gaps, in ms.
const (
	truthP50 = 1.0
	truthP99 = 3.0
	// The bounds are timings: they are checked only in make bench
	// (LLMBENCH_BENCH=1, without the race detector), never in make test,
	// which must pass on a busy machine. Under the race detector they are
	// not checked even there. On
	// a 2-core machine, 200 streams × 20 events at 10–20 ms gaps are about
	// 13,000 events a second, each costing a few goroutine switches, and
	// the race detector's bookkeeping of switches nearly saturates both
	// cores: the client then reads some events late. The kernel's receive
	// stamps (rxstamp) take that lateness out of the measurement unless an
	// event is read more than a gap late, when the kernel has merged it
	// with the next. Measured there alone, with the stamps: p50 0.001 ms,
	// p99 0.05 ms under -race, p99 0.04 ms without it (before the stamps:
	// p99 4–6 and 0.4–1.8 ms; with other test packages running beside it,
	// 25–65 ms).
	// truthAttempts is how many times the measurement may run before the
	// test fails: other processes on a shared machine can stall the
	// client for milliseconds, which a measurement bug would not need.
	truthAttempts = 3
)

// TestMeasurementTruth runs 200 concurrent streams against a fake server
// that sends 20 tokens each at 10–20 ms gaps and records when each event's
// flush returned. The client's TTFT and gaps must match the flush times
// within 1 ms at the median and 3 ms at the 99th percentile over every
// event of every stream (checked in make bench only, without the race
// detector; make test checks the counts and logs the errors).
func TestMeasurementTruth(t *testing.T) {
	p99Bound := truthP99
	if raceEnabled || os.Getenv("LLMBENCH_BENCH") != "1" {
		// The counts and successes are checked in measureTruth; the error
		// bounds are timings, which make test never asserts.
		med, p99 := measureTruth(t)
		t.Logf("|error| p50 %.3f ms, p99 %.3f ms, not checked against %.0f/%.0f ms here: make bench checks them (LLMBENCH_BENCH=1, no race detector)", med, p99, truthP50, truthP99)
		return
	}
	var got []string
	for attempt := 1; attempt <= truthAttempts; attempt++ {
		med, p99 := measureTruth(t)
		if t.Failed() {
			return
		}
		t.Logf("attempt %d: |error| p50 %.3f ms, p99 %.3f ms (bounds %.0f/%.0f ms)", attempt, med, p99, truthP50, p99Bound)
		if med <= truthP50 && p99 <= p99Bound {
			return
		}
		got = append(got, fmt.Sprintf("p50 %.3f ms, p99 %.3f ms", med, p99))
	}
	t.Errorf("got |error| %s in %d attempts, want p50 ≤ %.0f ms and p99 ≤ %.0f ms in one",
		strings.Join(got, "; "), truthAttempts, truthP50, p99Bound)
}

// measureTruth runs the streams once and returns the median and 99th
// percentile of the absolute error of TTFT and gaps, in ms.
func measureTruth(t *testing.T) (p50, p99 float64) {
	const (
		streams = 200
		tokens  = 20
		prefill = 100 * time.Millisecond // before the first token
		minGap  = 10 * time.Millisecond
		spread  = 10 * time.Millisecond
	)
	events := make([][]byte, tokens)
	for i := range events {
		events[i] = []byte("data: " + piece(" t"+strconv.Itoa(i), i) + "\n\n")
	}
	tail := []byte("data: " + final(1, tokens) + "\n\ndata: [DONE]\n\n")

	var mu sync.Mutex
	flushed := map[int][]time.Time{} // stream → when each event's flush returned
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Prompt string `json:"prompt"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		startSSE(w)
		if body.Prompt == "warm-up" {
			w.Write(tail)
			return
		}
		id, _ := strconv.Atoi(strings.TrimPrefix(body.Prompt, "stream-"))
		rng := rand.New(rand.NewPCG(uint64(id), 42))
		rc := http.NewResponseController(w)
		times := make([]time.Time, 0, tokens)
		at := time.Now().Add(prefill - minGap)
		for _, ev := range events {
			at = at.Add(minGap + time.Duration(rng.Int64N(int64(spread))))
			time.Sleep(time.Until(at)) // the schedule; lateness is fine, the flush time is the truth
			w.Write(ev)
			rc.Flush()
			times = append(times, time.Now())
		}
		w.Write(tail)
		rc.Flush()
		mu.Lock()
		flushed[id] = times
		mu.Unlock()
	}))
	defer srv.Close()

	// A client of its own, so that each attempt starts with no idle
	// connections, then opens its 200 first: 200 simultaneous dials are the
	// load generator's start-up work, not what this test measures.
	hc := &http.Client{Transport: newTransport()}
	defer hc.CloseIdleConnections()
	c := newClient(t, Config{BaseURL: srv.URL, Stream: true, HTTPClient: hc})
	var wg sync.WaitGroup
	for range streams {
		wg.Go(func() {
			if res := c.Do(context.Background(), Request{Prompt: "warm-up"}); !res.OK {
				t.Errorf("warm-up: got %s error %q, want success", res.ErrorClass, res.Error)
			}
		})
	}
	wg.Wait()
	results := make([]*Result, streams)
	for i := range streams {
		wg.Go(func() {
			results[i] = c.Do(context.Background(), Request{Prompt: fmt.Sprintf("stream-%d", i)})
		})
	}
	wg.Wait()
	// A handler records its flush times after its last write, which the
	// client may have read already.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(flushed)
		mu.Unlock()
		if n >= streams || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()

	// errs are measured − true, in ms: TTFT against the first flush, each
	// gap against the gap between flushes. lags are when the client saw
	// each event minus when its flush returned.
	var errs, absErrs, lags []float64
	for i, res := range results {
		if !res.OK {
			t.Fatalf("stream %d: got %s error %q, want success", i, res.ErrorClass, res.Error)
		}
		f := flushed[i]
		if len(f) != tokens || res.Chunks != tokens || res.TTFTMS == nil || len(res.GapsMS) != tokens-1 {
			t.Fatalf("stream %d: got %d flushes, %d chunks, %d gaps; want %d, %d, %d",
				i, len(f), res.Chunks, len(res.GapsMS), tokens, tokens, tokens-1)
		}
		errs = append(errs, *res.TTFTMS-runfmt.Ms(f[0].Sub(res.Sent)))
		seen := res.Sent.Add(time.Duration(*res.TTFTMS * float64(time.Millisecond)))
		lags = append(lags, runfmt.Ms(seen.Sub(f[0])))
		for j, g := range res.GapsMS {
			errs = append(errs, g-runfmt.Ms(f[j+1].Sub(f[j])))
			seen = seen.Add(time.Duration(g * float64(time.Millisecond)))
			lags = append(lags, runfmt.Ms(seen.Sub(f[j+1])))
		}
	}
	for _, e := range errs {
		absErrs = append(absErrs, math.Abs(e))
	}
	slices.Sort(errs)
	slices.Sort(absErrs)
	slices.Sort(lags)
	p50, p99 = stats.Quantile(absErrs, 0.5), stats.Quantile(absErrs, 0.99)
	t.Logf("%d events of %d streams: |error| p50 %.3f ms, p90 %.3f, p99 %.3f, max %.3f; signed error p1 %.3f, p50 %.3f, p99 %.3f",
		len(errs), streams, p50, stats.Quantile(absErrs, 0.9), p99, absErrs[len(absErrs)-1],
		stats.Quantile(errs, 0.01), stats.Quantile(errs, 0.5), stats.Quantile(errs, 0.99))
	t.Logf("client saw − server flushed: p1 %.3f ms, p50 %.3f, p99 %.3f, max %.3f",
		stats.Quantile(lags, 0.01), stats.Quantile(lags, 0.5), stats.Quantile(lags, 0.99), lags[len(lags)-1])
	return p50, p99
}
