package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs data-parallel loops on a fixed set of goroutines. Between loops
// its workers spin for a short while before they park, because a forward
// step runs dozens of loops a few microseconds apart and waking a parked
// goroutine costs more than many of them take. Build one with NewPool and
// Close it when done. For must not be called concurrently.
type Pool struct {
	n       int
	gen     atomic.Uint64 // incremented for every loop
	pending atomic.Int64  // workers still running the current loop
	job     job           // the current loop; written before gen moves
	workers []*worker
	wg      sync.WaitGroup
	close   sync.Once
	quit    atomic.Bool
	done    chan struct{} // the caller parks here when workers are slow
	waiting atomic.Bool
	rest    atomic.Bool // park at once instead of spinning, until the next loop
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

type job struct {
	fn    func(worker, lo, hi int)
	n     int
	parts int
}

// spinFor is how long a waiting goroutine polls before it parks. A forward
// step's loops come tens to hundreds of microseconds apart, and waking a
// parked worker costs about as much, so the workers keep spinning through a
// whole step and park only when the engine goes idle.
const spinFor = 500 * time.Microsecond

// restSpin is how long a worker spins after Rest before it parks: 0, as
// measured (SetRestSpin).
var restSpin atomic.Int64

// SetRestSpin makes workers spin for d after Rest before they park, for
// the spin-before-park experiment (BenchmarkSpinBeforePark in package
// engine; docs/BENCHMARKS.md): on this 2-CPU host a spin of 50 µs to 1 ms
// made engine steps no faster, idle or busy, so the default is 0.
func SetRestSpin(d time.Duration) { restSpin.Store(int64(d)) }

// spinning reports whether a wait that began at start should go on
// spinning for up to limit; it reads the clock only every 256 polls.
func spinning(i int, start *time.Time, limit time.Duration) bool {
	if i&255 != 0 {
		return limit > 0
	}
	if i == 0 {
		*start = time.Now()
		return limit > 0
	}
	return time.Since(*start) < limit
}

// NewPool starts a pool of n workers (the caller's goroutine is worker 0, so
// n-1 goroutines are started). n < 1 means 1.
func NewPool(n int) *Pool {
	n = max(n, 1)
	p := &Pool{n: n, done: make(chan struct{}, 1)}
	for w := 1; w < n; w++ {
		wk := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, wk)
		p.wg.Add(1)
		go p.run(w, wk)
	}
	return p
}

func (p *Pool) run(w int, wk *worker) {
	defer p.wg.Done()
	seen := uint64(0)
	for {
		// Spin, then park until the generation moves.
		// No Gosched while spinning: a goroutine that took this P now would
		// delay the next loop's half of the work until it yields.
		var since time.Time
		for i := 0; p.gen.Load() == seen; i++ {
			limit := spinFor
			if p.rest.Load() {
				limit = time.Duration(restSpin.Load())
			}
			if spinning(i, &since, limit) {
				continue
			}
			wk.sleeping.Store(true)
			if p.gen.Load() == seen {
				<-wk.wake
			}
			wk.sleeping.Store(false)
		}
		if p.quit.Load() {
			return
		}
		seen = p.gen.Load()
		j := p.job
		if w < j.parts {
			j.fn(w, w*j.n/j.parts, (w+1)*j.n/j.parts)
		}
		// Every worker reports, even one without a range, so that the next
		// loop cannot overwrite p.job while a worker still reads it.
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
	}
}

// Workers reports the number of workers.
func (p *Pool) Workers() int { return p.n }

// For splits [0, n) into one contiguous range per worker and calls fn on
// each range in parallel. It returns when all are done.
func (p *Pool) For(n int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := min(p.n, n)
	if parts == 1 {
		fn(0, 0, n)
		return
	}
	p.rest.Store(false)
	p.job = job{fn: fn, n: n, parts: parts}
	p.pending.Store(int64(p.n - 1))
	p.gen.Add(1)
	for _, wk := range p.workers {
		if wk.sleeping.Load() {
			select {
			case wk.wake <- struct{}{}:
			default:
			}
		}
	}
	fn(0, 0, n/parts)
	var since time.Time
	for i := 0; p.pending.Load() != 0; i++ {
		if spinning(i, &since, spinFor) {
			// A worker just woken may sit in this P's run queue, waiting
			// for it: yield now and then, or the wait lasts until the
			// spin gives up.
			if i&255 == 255 {
				runtime.Gosched()
			}
			continue
		}
		p.waiting.Store(true)
		if p.pending.Load() != 0 {
			<-p.done
		}
		p.waiting.Store(false)
	}
	// Drop a wake-up that raced with the last check.
	select {
	case <-p.done:
	default:
	}
}

// Rest tells the workers to park now rather than spin for the next loop:
// call it when a burst of loops is over (an engine step), so that their
// cores are free for other goroutines, the network poller among them,
// until the next For wakes them.
func (p *Pool) Rest() { p.rest.Store(true) }

// Close stops the workers and waits for them. It is safe to call twice.
func (p *Pool) Close() {
	p.close.Do(func() {
		p.quit.Store(true)
		p.gen.Add(1)
		for _, wk := range p.workers {
			select {
			case wk.wake <- struct{}{}:
			default:
			}
		}
		p.wg.Wait()
	})
}
