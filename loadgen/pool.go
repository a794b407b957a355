package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmbench/llmbench/loadgen/executor"
	"github.com/llmbench/llmbench/loadgen/script"
)

// newVUPool hands the executors initialized VUs: a goja runtime each,
// built on demand and reused.
func (r *runState) newVUPool() *executor.Pool {
	return &executor.Pool{New: func(ctx context.Context, id int) (executor.VU, error) {
		vu, err := script.NewVU(ctx, r.env, id)
		if err != nil {
			return nil, fmt.Errorf("initialize VU %d: %w", id, err)
		}
		r.live.vusMax.Add(1)
		return &vuAdapter{r: r, vu: vu}, nil
	}}
}

// vuAdapter runs the executors' iterations on a script VU and records the
// iteration metrics.
type vuAdapter struct {
	r  *runState
	vu *script.VU
}

// ID is the VU's __VU.
func (a *vuAdapter) ID() int { return a.vu.ID }

// Iterate runs one iteration.
func (a *vuAdapter) Iterate(ctx context.Context, it executor.Iteration) error {
	r := a.r
	s := r.scen[it.Scenario]
	start := time.Now()
	err := a.vu.Iterate(ctx, script.Iteration{
		Scenario: it.Scenario, Exec: s.Exec, Iter: it.Iter, ScenarioIter: it.ScenarioIter, Scheduled: it.Scheduled, Tags: s.Tags, Env: s.Env,
		Executor: string(s.Executor), ScenarioStart: r.start.Add(s.StartTime), Progress: r.progress[it.Scenario].value,
	}, r.setup)
	end := time.Now()
	r.progress[it.Scenario].done.Add(1)
	tags := map[string]string{"scenario": it.Scenario}
	if errors.Is(err, script.ErrInterrupted) {
		r.live.interrupted.Add(1)
		return err // an interrupted iteration is not a complete one, as in k6
	}
	r.rec.Add("iterations", end, 1, tags)
	r.rec.Add("iteration_duration", end, float64(end.Sub(start))/float64(time.Millisecond), tags)
	r.live.iters.Add(1)
	if err != nil {
		r.rec.Add("iteration_errors", end, 1, tags)
		r.errs.log(a.vu.ID, it, err)
	}
	return err
}

// observer passes the executors' events to the metrics and the live stats.
// Safe for concurrent use.
type observer struct {
	executor.NopObserver
	r      *runState
	mu     sync.Mutex
	active map[string]int // per scenario
}

// VUs is told a scenario's active VUs; the vus gauge is their sum.
func (o *observer) VUs(scenario string, active, allocated int) {
	o.mu.Lock()
	if o.active == nil {
		o.active = map[string]int{}
	}
	o.active[scenario] = active
	n := 0
	for _, a := range o.active {
		n += a
	}
	o.mu.Unlock()
	o.r.live.vus.Store(int64(n))
	now := time.Now()
	o.r.rec.Add("vus", now, float64(n), nil)
	o.r.rec.Add("vus_max", now, float64(o.r.live.vusMax.Load()), nil)
}

// Dropped is told of an iteration an arrival-rate executor could not start.
func (o *observer) Dropped(scenario string, scheduled time.Time) {
	o.r.live.dropped.Add(1)
	o.r.rec.Add("dropped_iterations", time.Now(), 1, map[string]string{"scenario": scenario})
}

// errorLog prints iteration errors without flooding: the first 20 in
// full, then one line per 100. Safe for concurrent use.
type errorLog struct {
	w     io.Writer
	mu    sync.Mutex
	total atomic.Int64
}

func (l *errorLog) log(vu int, it executor.Iteration, err error) {
	n := l.total.Add(1)
	if n > 20 && n%100 != 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > 20 {
		fmt.Fprintf(l.w, "\rERROR %d iterations have failed so far; the latest [VU %d, %s, iteration %d]: %v\n", n, vu, it.Scenario, it.Iter, err)
		return
	}
	fmt.Fprintf(l.w, "\rERROR [VU %d, %s, iteration %d] %v\n", vu, it.Scenario, it.Iter, err)
	if n == 20 {
		fmt.Fprintf(l.w, "ERROR (20 iteration errors printed; from now on one line per 100)\n")
	}
}
