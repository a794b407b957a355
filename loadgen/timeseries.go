package loadgen

import (
	"slices"
	"sync"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// seriesCollector gathers what one interval of the time series needs from
// the requests that complete in it. Safe for concurrent use.
type seriesCollector struct {
	mu               sync.Mutex
	ttft, tpot, itl  []float64
	requests, errors int64
	tokens           int64
	// The counters' values at the previous interval's end.
	lastIters, lastDropped int64
	last                   time.Time
}

// observe is a liveStats observer: one completed LLM request.
func (c *seriesCollector) observe(r *runfmt.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if !r.OK {
		c.errors++
		return
	}
	c.tokens += int64(r.OutputTokens)
	if r.TTFTMS != nil {
		c.ttft = append(c.ttft, *r.TTFTMS)
	}
	if r.TPOTMS != nil {
		c.tpot = append(c.tpot, *r.TPOTMS)
	}
	c.itl = append(c.itl, r.GapsMS...)
}

// interval closes the interval ending now and starts the next one.
func (c *seriesCollector) interval(now, start time.Time, l *liveStats) *runfmt.Interval {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		c.last = start
	}
	secs := now.Sub(c.last).Seconds()
	iters, dropped := l.iters.Load(), l.dropped.Load()
	iv := &runfmt.Interval{
		Time: now, Elapsed: now.Sub(start).Seconds(),
		VUs: l.vus.Load(), VUsMax: l.vusMax.Load(), InFlight: l.inflight.Load(),
		Iterations: iters - c.lastIters, Dropped: dropped - c.lastDropped,
		Requests: c.requests, Errors: c.errors, OutputTokens: c.tokens,
		TTFT: quantiles(c.ttft), TPOT: quantiles(c.tpot), ITL: quantiles(c.itl),
	}
	if secs > 0 {
		iv.RequestsPerS = float64(c.requests) / secs
		iv.TokensPerS = float64(c.tokens) / secs
	}
	c.ttft, c.tpot, c.itl = c.ttft[:0], c.tpot[:0], c.itl[:0]
	c.requests, c.errors, c.tokens = 0, 0, 0
	c.lastIters, c.lastDropped, c.last = iters, dropped, now
	return iv
}

func quantiles(v []float64) *runfmt.Quantiles {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return &runfmt.Quantiles{P50: stats.Percentile(s, 50), P95: stats.Percentile(s, 95), P99: stats.Percentile(s, 99), Count: len(s)}
}
