package executor

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// arrivalRun is one running arrival-rate scenario. Its fields belong to
// the goroutine that runs runArrivals; the iteration and allocation
// goroutines talk to it over done and alloc.
type arrivalRun struct {
	ctx   context.Context // the scenario's hard deadline
	pool  VUPool
	st    *scenarioState
	timer *time.Timer

	free       []*slot     // held VUs not running an iteration
	queue      []time.Time // iterations waiting for a VU being allocated
	running    int
	allocating int
	allocated  int // held plus being allocated
	maxVUs     int
	err        error

	done  chan *slot       // an iteration ended; its VU is free
	alloc chan allocResult // a VU asked for mid-run has arrived
	wg    sync.WaitGroup
}

type allocResult struct {
	sl  *slot
	err error
}

// runArrivals starts this segment's arrivals at their times, each on a
// free VU. With no free VU it asks the pool for one more, up to maxVUs,
// and the iteration waits for the first VU to come free or arrive; with
// maxVUs held already the iteration is dropped. At the scenario's length it
// stops: iterations still waiting are dropped, and running ones keep their
// context until the hard end.
func (p *plan) runArrivals(ctx context.Context, begin time.Time, pool VUPool, st *scenarioState) error {
	// A pool failure stops the scenario at once, like a cancelled Run.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &arrivalRun{
		ctx: ctx, pool: pool, st: st,
		timer:     time.NewTimer(time.Hour),
		free:      append([]*slot(nil), st.held...),
		allocated: len(st.held),
		maxVUs:    p.maxVUs,
		done:      make(chan *slot, p.maxVUs),
		alloc:     make(chan allocResult, p.maxVUs),
	}
	defer a.timer.Stop()
	stripe := p.seg.stripe()
	for _, at := range arrivals(&p.s) {
		if !stripe.next() {
			continue
		}
		if at >= p.length || !a.serve(begin.Add(at)) {
			break
		}
		a.dispatch(begin.Add(at))
	}
	if a.err == nil && ctx.Err() == nil && len(a.queue) > 0 {
		a.serve(begin.Add(p.length))
	}
	for _, at := range a.queue {
		st.obs.Dropped(st.name, at)
	}
	a.queue = nil
	if a.err != nil {
		cancel()
	}
	for a.running > 0 || a.allocating > 0 {
		select {
		case sl := <-a.done:
			a.ended(sl)
		case r := <-a.alloc:
			a.arrived(r)
		}
	}
	a.wg.Wait()
	return a.err
}

// serve handles ended iterations and arrived VUs until t. It reports
// false when the scenario must stop first: its context is done, or the
// pool failed.
func (a *arrivalRun) serve(t time.Time) bool {
	a.timer.Reset(time.Until(t))
	for {
		select {
		case <-a.timer.C:
			return true
		case sl := <-a.done:
			a.ended(sl)
		case r := <-a.alloc:
			a.arrived(r)
			if a.err != nil {
				return false
			}
		case <-a.ctx.Done():
			return false
		}
	}
}

// dispatch handles an arrival scheduled at t.
func (a *arrivalRun) dispatch(t time.Time) {
	switch {
	case len(a.free) > 0:
		sl := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		a.start(sl, t)
	case a.allocated < a.maxVUs:
		a.allocated++
		a.allocating++
		a.queue = append(a.queue, t)
		a.wg.Go(func() {
			vu, id, err := a.pool.Get(a.ctx)
			if err != nil {
				a.alloc <- allocResult{err: err}
				return
			}
			a.alloc <- allocResult{sl: &slot{vu: vu, id: id}}
		})
	default:
		a.st.obs.Dropped(a.st.name, t)
	}
}

// start runs an iteration scheduled at t on sl.
func (a *arrivalRun) start(sl *slot, t time.Time) {
	a.running++
	a.st.report(+1)
	a.wg.Go(func() {
		a.st.iterate(a.ctx, sl, t)
		a.done <- sl
	})
}

// ended takes back the VU of an ended iteration.
func (a *arrivalRun) ended(sl *slot) {
	a.running--
	a.st.report(-1)
	a.use(sl)
}

// arrived takes a VU asked for mid-run.
func (a *arrivalRun) arrived(r allocResult) {
	a.allocating--
	if r.err != nil {
		a.allocated--
		if a.ctx.Err() == nil && a.err == nil {
			a.err = fmt.Errorf("scenario %q: get VU: %w", a.st.name, r.err)
		}
		return
	}
	a.st.hold(r.sl)
	a.st.report(0)
	a.use(r.sl)
}

// use gives a free VU to the oldest waiting iteration, if any.
func (a *arrivalRun) use(sl *slot) {
	if len(a.queue) > 0 && a.err == nil && a.ctx.Err() == nil {
		t := a.queue[0]
		a.queue = a.queue[1:]
		a.start(sl, t)
		return
	}
	a.free = append(a.free, sl)
}
