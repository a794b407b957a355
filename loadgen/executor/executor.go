// Package executor decides when each virtual user (VU) runs an iteration.
// It implements k6's six executors (shared-iterations, per-vu-iterations,
// constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate)
// with k6's documented semantics — startTime, gracefulStop,
// gracefulRampDown, preAllocatedVUs and maxVUs, dropped iterations — and
// k6's execution segments, so that several processes can split one test
// exactly. It knows nothing of JavaScript: a VU is an interface.
//
// ParseOptions turns a script's exported options into Scenarios; Run runs
// them against a VUPool and tells an Observer what happened.
//
// Each scenario has two deadlines, counted from its startTime: at the end
// of its duration (or maxDuration, or stages) it starts no new iterations,
// and gracefulStop later it cancels the context of the iterations still
// running, which then count as interrupted. A VU must return from Iterate
// soon after its context is cancelled: Run waits for it.
package executor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// VU runs iterations of one virtual user. The executors never call Iterate
// concurrently for one VU, but different VUs run at the same time.
type VU interface {
	// Iterate runs one iteration. It must return soon after ctx is
	// cancelled; the executor then counts the iteration as interrupted.
	// Its error is passed to the Observer and stops nothing.
	Iterate(ctx context.Context, it Iteration) error
}

// VUPool hands out initialized VUs. Get may be slow (it may build a
// JavaScript runtime), so Run pre-allocates, before the test's clock
// starts, as many VUs as the scenarios hold at once, and puts them back;
// the scenarios then Get them as they start. Arrival-rate scenarios Get
// more VUs while they run, up to maxVUs, without holding up their
// schedule. Put makes a VU available to a later Get. A VUPool must be safe
// for concurrent use; Pool is one.
type VUPool interface {
	// Get returns a VU and its id (k6's __VU, 1-based, unique in this
	// process).
	Get(ctx context.Context) (VU, int, error)
	// Put gives back a VU that Get returned, with its id.
	Put(vu VU, id int)
}

// Iteration identifies one run of a scenario's function by one VU.
type Iteration struct {
	Scenario string // the scenario's name
	VU       int    // the VU's id from the pool, 1-based (k6's __VU)
	// Iter is this VU's iteration number within the scenario, 0-based
	// (k6's __ITER).
	Iter int64
	// ScenarioIter is the iteration's number within the scenario in this
	// process, 0-based, in the order iterations started (k6's
	// iterationInScenario, for one segment).
	ScenarioIter int64
	// Scheduled is when an arrival-rate executor meant the iteration to
	// start; it may start later when it had to wait for a VU. Zero for the
	// other executors.
	Scheduled time.Time
}

// Observer is told what the executors do, for metrics and progress. Its
// methods are called from many goroutines at once, on the scheduling path:
// they must be safe for concurrent use and quick. Embed NopObserver to
// implement only some of them.
type Observer interface {
	// IterationStarted is called just before a VU runs it.
	IterationStarted(it Iteration)
	// IterationEnded is called when Iterate has returned, with its error.
	// Interrupted says the executor had cancelled the iteration's context
	// by then (gracefulStop, gracefulRampDown, or Run's context).
	IterationEnded(it Iteration, err error, interrupted bool)
	// Dropped is called when an arrival-rate scenario could not start an
	// iteration scheduled at scheduled, because every VU was busy and it
	// held maxVUs already (k6's dropped_iterations), or because the
	// scenario ended while the iteration waited for a new VU.
	Dropped(scenario string, scheduled time.Time)
	// VUs is called when a scenario's VU counts change. Active VUs are
	// looping or may start iterations (closed executors) or are running an
	// iteration (arrival-rate executors); allocated VUs are held by the
	// scenario. Calls for one scenario are made in order.
	VUs(scenario string, active, allocated int)
}

// NopObserver ignores everything. Embed it in an Observer that wants only
// some of the calls.
type NopObserver struct{}

// IterationStarted does nothing.
func (NopObserver) IterationStarted(Iteration) {}

// IterationEnded does nothing.
func (NopObserver) IterationEnded(Iteration, error, bool) {}

// Dropped does nothing.
func (NopObserver) Dropped(string, time.Time) {}

// VUs does nothing.
func (NopObserver) VUs(string, int, int) {}

// Run prepares the scenarios (Prepare) and runs them (Prepared.Run).
func Run(ctx context.Context, scenarios []Scenario, pool VUPool, seg Segment, obs Observer) error {
	p, err := Prepare(ctx, scenarios, pool, seg)
	if err != nil {
		return err
	}
	return p.Run(ctx, obs)
}

// Prepared is a set of scenarios whose VUs are initialized, ready to run.
type Prepared struct {
	plans []*plan
	pool  VUPool
}

// Prepare validates the scenarios of this process's part of the test, seg
// (the zero Segment is all of it), and initializes from pool as many VUs as
// they hold at once: k6's init stage, which comes before setup() so that
// setup() runs once the VUs exist and the scenarios start with them ready.
func Prepare(ctx context.Context, scenarios []Scenario, pool VUPool, seg Segment) (*Prepared, error) {
	plans := make([]*plan, 0, len(scenarios))
	seen := make(map[string]bool)
	for _, s := range scenarios {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("scenario %q: name: used twice", s.Name)
		}
		seen[s.Name] = true
		plans = append(plans, newPlan(s, seg))
	}
	if err := preallocate(ctx, pool, peakVUs(plans)); err != nil {
		return nil, err
	}
	return &Prepared{plans: plans, pool: pool}, nil
}

// Run runs the scenarios at once, each from its StartTime, and returns when
// every scenario has ended and every goroutine it started has returned. A
// nil obs is a NopObserver. Run a Prepared once.
//
// When ctx is cancelled (Ctrl-C), no iteration starts any more and the
// contexts of running iterations are cancelled at once, without waiting
// for gracefulStop; Run then returns ctx's error. When the pool fails to
// give a VU, Run stops every scenario the same way and returns that error.
// Errors from iterations do not stop anything.
func (pr *Prepared) Run(ctx context.Context, obs Observer) error {
	if obs == nil {
		obs = NopObserver{}
	}
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, p := range pr.plans {
		wg.Go(func() {
			if err := p.run(runCtx, start, pr.pool, obs); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// plan is one scenario as this segment runs it.
type plan struct {
	s      Scenario
	seg    Segment
	length time.Duration // when it stops starting iterations, from its start
	hold   int           // VUs it takes from the pool when it starts

	// Closed executors: each held VU's activations, and the iteration
	// budgets.
	acts   [][]activation
	perVU  int64 // per-vu-iterations: iterations of each VU; 0: no limit
	shared int64 // shared-iterations: this segment's iterations; 0: no limit

	// Arrival-rate executors: this segment's maxVUs.
	maxVUs int
}

func newPlan(s Scenario, seg Segment) *plan {
	p := &plan{s: s, seg: seg, length: s.Length()}
	switch s.Executor {
	case ConstantArrivalRate, RampingArrivalRate:
		p.hold = int(seg.Scale(s.PreAllocatedVUs))
		p.maxVUs = int(seg.Scale(s.MaxVUs))
		return p
	case RampingVUs:
		owned := seg.owned(s.peakStage(s.StartVUs))
		p.acts = activations(rampSteps(s.StartVUs, s.Stages), p.length, s.GracefulRampDown, owned)
	default:
		owned := seg.owned(s.VUs)
		p.acts = activations([]step{{0, s.VUs}}, p.length, 0, owned)
		switch s.Executor {
		case PerVUIterations:
			p.perVU = s.Iterations
		case SharedIterations:
			// Iteration k of the whole test belongs to VU k mod vus, so a
			// segment gets the iterations of the VUs it runs, and the
			// segments' totals add up to the whole.
			for _, v := range owned {
				p.shared += s.Iterations / s.VUs
				if v < s.Iterations%s.VUs {
					p.shared++
				}
			}
		}
	}
	p.hold = len(p.acts)
	return p
}

// peakVUs is the most VUs that the scenarios hold at once, counting each
// from its start to its hard end (gracefulStop after its length).
func peakVUs(plans []*plan) int {
	peak := 0
	for _, p := range plans {
		n := 0
		for _, q := range plans {
			if q.s.StartTime <= p.s.StartTime && p.s.StartTime <= q.s.StartTime+q.length+q.s.GracefulStop {
				n += q.hold
			}
		}
		peak = max(peak, n)
	}
	return peak
}

// preallocate gets n VUs from the pool, several at a time, and puts them
// back, so that the scenarios find them ready.
func preallocate(ctx context.Context, pool VUPool, n int) error {
	type got struct {
		vu VU
		id int
	}
	var (
		mu   sync.Mutex
		vus  []got
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for range next {
				vu, id, err := pool.Get(ctx)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					vus = append(vus, got{vu, id})
				}
				failed := len(errs) > 0
				mu.Unlock()
				if failed {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, g := range vus {
		pool.Put(g.vu, g.id)
	}
	if len(errs) > 0 {
		return fmt.Errorf("initialize VUs: %w", errs[0])
	}
	return nil
}

// slot is a VU held by a scenario, with its iteration count there.
type slot struct {
	vu   VU
	id   int
	iter int64
}

// run runs the scenario from start+StartTime until its hard end.
func (p *plan) run(ctx context.Context, start time.Time, pool VUPool, obs Observer) error {
	begin := start.Add(p.s.StartTime)
	if !sleepUntil(ctx, begin) {
		return nil
	}
	hardCtx, cancel := context.WithDeadline(ctx, begin.Add(p.length+p.s.GracefulStop))
	defer cancel()
	st := &scenarioState{name: p.s.Name, obs: obs}
	defer func() {
		for _, sl := range st.held {
			pool.Put(sl.vu, sl.id)
		}
	}()
	for range p.hold {
		vu, id, err := pool.Get(hardCtx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("scenario %q: get VU: %w", p.s.Name, err)
		}
		st.hold(&slot{vu: vu, id: id})
	}
	st.report(0)
	switch p.s.Executor {
	case ConstantArrivalRate, RampingArrivalRate:
		return p.runArrivals(hardCtx, begin, pool, st)
	default:
		p.runClosed(hardCtx, begin, st)
		return nil
	}
}

// scenarioState is what the goroutines of one running scenario share.
type scenarioState struct {
	name string
	obs  Observer

	mu     sync.Mutex
	active int
	held   []*slot // appended under mu by the goroutine that runs the scenario
	iters  int64   // iterations started
}

// hold adds a VU got from the pool.
func (st *scenarioState) hold(sl *slot) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.held = append(st.held, sl)
}

// report changes the active VU count by delta and tells the observer.
func (st *scenarioState) report(delta int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.active += delta
	st.obs.VUs(st.name, st.active, len(st.held))
}

// iterate runs one iteration on sl. Only one goroutine at a time uses sl.
func (st *scenarioState) iterate(ctx context.Context, sl *slot, scheduled time.Time) {
	st.mu.Lock()
	n := st.iters
	st.iters++
	st.mu.Unlock()
	it := Iteration{Scenario: st.name, VU: sl.id, Iter: sl.iter, ScenarioIter: n, Scheduled: scheduled}
	sl.iter++
	st.obs.IterationStarted(it)
	err := sl.vu.Iterate(ctx, it)
	st.obs.IterationEnded(it, err, ctx.Err() != nil)
}

// sleepUntil waits until t and reports whether ctx was still alive then.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
