package executor

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// step says that from At on (from the scenario's start) the whole test,
// unsegmented, runs VUs looping VUs.
type step struct {
	At  time.Duration
	VUs int64
}

// rampSteps is the VU count of ramping-vus over time. Within a stage the
// count follows the straight line from the previous target to the stage's
// target: going up, VU number v starts when the line reaches v; going down,
// the count drops to v when the line reaches v. A stage of length 0 jumps.
// Steps are in time order, one per instant.
func rampSteps(start int64, stages []Stage) []step {
	steps := []step{{0, start}}
	add := func(at time.Duration, vus int64) {
		if last := &steps[len(steps)-1]; last.At == at {
			last.VUs = vus
		} else {
			steps = append(steps, step{at, vus})
		}
	}
	cur := start
	var t time.Duration
	for _, st := range stages {
		from, to, d := cur, st.Target, st.Duration
		switch {
		case d == 0 || from == to:
			add(t, to)
		case to > from:
			for v := from + 1; v <= to; v++ {
				add(t+ceilMulDiv(d, v-from, to-from), v)
			}
		default:
			for v := from - 1; v >= to; v-- {
				add(t+ceilMulDiv(d, from-v, from-to), v)
			}
		}
		t += d
		cur = to
	}
	return steps
}

// ceilMulDiv is ⌈d×a/b⌉ for 0 ≤ a ≤ b, 0 < b, without overflow.
func ceilMulDiv(d time.Duration, a, b int64) time.Duration {
	hi, lo := bits.Mul64(uint64(d), uint64(a))
	q, r := bits.Div64(hi, lo, uint64(b))
	if r > 0 {
		q++
	}
	return time.Duration(q)
}

// activation is a span in which a VU loops: it starts iterations from start
// until end. The iterations it starts are cancelled at stop (end plus
// gracefulRampDown, or later when the VU comes back within that time), or,
// when stop is negative, only at the scenario's hard end.
type activation struct {
	start, end, stop time.Duration
}

// activations turns the VU count over time into each owned VU's spans of
// activity. VU number j (0-based, of the whole test) is active while the
// count is above j, so VUs leave last-in first-out. owned lists the
// numbers this segment runs, in order; the result has one entry per owned
// VU. Spans that reach length end there and keep their iterations until
// the hard end.
func activations(steps []step, length, rampDown time.Duration, owned []int64) [][]activation {
	acts := make([][]activation, len(owned))
	open := make([]time.Duration, len(owned))
	local := func(j int64) (int, bool) { return slices.BinarySearch(owned, j) }
	var cur int64
	set := func(at time.Duration, n int64) {
		for j := cur; j < n; j++ {
			if k, ok := local(j); ok {
				open[k] = at
			}
		}
		for j := n; j < cur; j++ {
			if k, ok := local(j); ok && at > open[k] {
				acts[k] = append(acts[k], activation{start: open[k], end: at})
			}
		}
		cur = n
	}
	for _, s := range steps {
		if s.At >= length {
			break
		}
		set(s.At, s.VUs)
	}
	set(length, 0)
	for _, a := range acts {
		for i := range a {
			a[i].stop = -1
			if a[i].end >= length {
				continue
			}
			stop := a[i].end + rampDown
			for k := i + 1; k < len(a) && a[k].start < stop; k++ {
				if a[k].end >= length {
					stop = -1
					break
				}
				stop = a[k].end + rampDown
			}
			a[i].stop = stop
		}
	}
	return acts
}

// runClosed runs a closed-loop executor: one goroutine per held VU, each
// looping through its activations.
func (p *plan) runClosed(ctx context.Context, begin time.Time, st *scenarioState) {
	var budget atomic.Int64
	budget.Store(p.shared)
	take := func(sl *slot) bool {
		switch {
		case p.perVU > 0:
			return sl.iter < p.perVU
		case p.s.Executor == SharedIterations:
			return budget.Add(-1) >= 0
		}
		return true
	}
	var wg sync.WaitGroup
	for i, sl := range st.held {
		wg.Go(func() { p.loopVU(ctx, begin, sl, p.acts[i], take, st) })
	}
	wg.Wait()
}

// loopVU runs one VU's iterations through its activations, until its
// budget is spent or ctx is done.
func (p *plan) loopVU(ctx context.Context, begin time.Time, sl *slot, acts []activation, take func(*slot) bool, st *scenarioState) {
	for _, a := range acts {
		if !time.Now().Before(begin.Add(a.end)) {
			continue // spent in an iteration started earlier
		}
		if !sleepUntil(ctx, begin.Add(a.start)) {
			return
		}
		st.report(+1)
		iterCtx, cancel := ctx, context.CancelFunc(func() {})
		if a.stop >= 0 {
			iterCtx, cancel = context.WithDeadline(ctx, begin.Add(a.stop))
		}
		end := begin.Add(a.end)
		more := true
		for ctx.Err() == nil && time.Now().Before(end) {
			if more = take(sl); !more {
				break
			}
			st.iterate(iterCtx, sl, time.Time{})
		}
		cancel()
		st.report(-1)
		if !more {
			return
		}
	}
}
