package loadgen

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// liveStats are the counters the progress line and the loadgen's own
// /metrics show. Safe for concurrent use.
type liveStats struct {
	inflight    atomic.Int64
	vus         atomic.Int64
	vusMax      atomic.Int64
	iters       atomic.Int64
	interrupted atomic.Int64
	dropped     atomic.Int64
	requests    atomic.Int64
	errors      atomic.Int64
	mu          sync.Mutex
	recent      []timedValue // TTFTs of the last window, for the live p95
	reqTimes    []time.Time  // completion times of the last window, for req/s
	observers   []func(*runfmt.Request)
}

type timedValue struct {
	t time.Time
	v float64
}

// window is how far back the live figures look.
const window = 10 * time.Second

func newLiveStats() *liveStats { return &liveStats{} }

// observe is the script Env's OnLLM hook.
func (l *liveStats) observe(r *runfmt.Request) {
	l.requests.Add(1)
	if !r.OK {
		l.errors.Add(1)
	}
	now := time.Now()
	l.mu.Lock()
	l.reqTimes = append(trimTimes(l.reqTimes, now), now)
	if r.TTFTMS != nil {
		l.recent = append(trimValues(l.recent, now), timedValue{now, *r.TTFTMS})
	}
	obs := l.observers
	l.mu.Unlock()
	for _, f := range obs {
		f(r)
	}
}

func trimTimes(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

func trimValues(vs []timedValue, now time.Time) []timedValue {
	i := 0
	for i < len(vs) && now.Sub(vs[i].t) > window {
		i++
	}
	return append(vs[:0], vs[i:]...)
}

// rates returns requests/s and the TTFT p95 over the last window.
func (l *liveStats) rates(now time.Time, elapsed time.Duration) (rps, ttft95 float64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqTimes = trimTimes(l.reqTimes, now)
	l.recent = trimValues(l.recent, now)
	span := min(elapsed, window).Seconds()
	if span > 0 {
		rps = float64(len(l.reqTimes)) / span
	}
	if len(l.recent) == 0 {
		return rps, 0, false
	}
	vs := make([]float64, len(l.recent))
	for i, v := range l.recent {
		vs[i] = v.v
	}
	slices.Sort(vs)
	return rps, stats.Percentile(vs, 95), true
}

func (r *runState) progressLine() string {
	now := time.Now()
	el := now.Sub(r.start)
	l := r.live
	rps, p95, ok := l.rates(now, el)
	ttft := "-"
	if ok {
		ttft = fmt.Sprintf("%.0fms", p95)
	}
	s := fmt.Sprintf("running %s  VUs %d/%d  iterations %d  LLM requests %d (%.1f/s, %d in flight, %d errors)  TTFT p95 %s",
		fmtElapsed(el), l.vus.Load(), l.vusMax.Load(), l.iters.Load(), l.requests.Load(), rps, l.inflight.Load(), l.errors.Load(), ttft)
	if d := l.dropped.Load(); d > 0 {
		s += fmt.Sprintf("  dropped %d", d)
	}
	return s
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// progress draws one line that rewrites itself, on a terminal only.
type progress struct {
	w    io.Writer
	on   bool
	last int
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, on: !quiet && isTerminal(w)}
}

func (p *progress) show(s string) {
	if !p.on {
		return
	}
	if width := termWidth(p.w); width > 10 && len(s) > width-1 {
		s = s[:width-1]
	}
	pad := max(0, p.last-len(s))
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
	p.last = len(s)
}

func (p *progress) clear() {
	if p.on && p.last > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
	}
}

func isTerminal(w io.Writer) bool {
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func termWidth(w io.Writer) int {
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
