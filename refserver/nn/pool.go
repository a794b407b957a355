package nn

import "sync"

// Pool runs data-parallel loops on a fixed set of goroutines. Its zero value
// is not usable; build one with NewPool and Close it when done. A Pool runs
// one loop at a time: For must not be called concurrently.
type Pool struct {
	n    int
	jobs []chan job
	wg   sync.WaitGroup // workers
	done sync.WaitGroup // the current loop
}

type job struct {
	fn     func(worker, lo, hi int)
	lo, hi int
}

// NewPool starts a pool of n workers (the caller's goroutine is worker 0, so
// n-1 goroutines are started). n < 1 means 1.
func NewPool(n int) *Pool {
	n = max(n, 1)
	p := &Pool{n: n, jobs: make([]chan job, n)}
	for w := 1; w < n; w++ {
		ch := make(chan job)
		p.jobs[w] = ch
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range ch {
				j.fn(w, j.lo, j.hi)
				p.done.Done()
			}
		}()
	}
	return p
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
	p.done.Add(parts - 1)
	for w := 1; w < parts; w++ {
		p.jobs[w] <- job{fn: fn, lo: w * n / parts, hi: (w + 1) * n / parts}
	}
	fn(0, 0, n/parts)
	p.done.Wait()
}

// Close stops the workers and waits for them.
func (p *Pool) Close() {
	for _, ch := range p.jobs[1:] {
		close(ch)
	}
	p.wg.Wait()
}
