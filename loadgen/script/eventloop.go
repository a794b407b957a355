package script

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// loop is a VU's event loop, as k6 has one
// (https://grafana.com/docs/k6/latest/javascript-api/k6-timers/): timers,
// promises that settle later and asynchronous requests. A call into the
// script (an iteration, setup, teardown, the init code) runs its function,
// then every callback that work registered, and ends when nothing is left
// pending: an iteration that set a timer lasts until the timer fired or
// was cleared.
//
// All JavaScript runs on the goroutine that calls run. Other goroutines
// (timers, requests in flight) hand their results back with the settle
// function of reserve. A callback left over from an interrupted call is
// dropped: each run starts a new generation.
//
// The loop is written here rather than taken from goja_nodejs: that one
// owns its runtime and goroutine, where a k6 VU drives its runtime call by
// call and an iteration must end exactly when its own work does.
type loop struct {
	rt *goja.Runtime

	mu      sync.Mutex
	gen     int64          // bumped at each run's end: older settles are dropped
	queue   []func() error // ready callbacks, in the order they settled
	pending int            // reserved and not yet run
	wake    chan struct{}  // signalled when queue grows

	// Below: touched only by the loop's goroutine.
	timers    map[int64]*timer
	nextTimer int64
	rejected  []*goja.Promise // rejected with no handler yet
	workers   sync.WaitGroup  // goroutines started by spawn
}

type timer struct {
	t         *time.Timer
	stop      func() // stops t; settles its reservation if it had not fired
	cancelled bool
}

func newLoop(rt *goja.Runtime) *loop {
	l := &loop{rt: rt, wake: make(chan struct{}, 1), timers: map[int64]*timer{}}
	rt.SetPromiseRejectionTracker(l.trackRejection)
	return l
}

// trackRejection keeps the promises rejected with no handler, as they are
// at the end of each callback: those are uncaught errors.
func (l *loop) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		l.rejected = append(l.rejected, p)
	case goja.PromiseRejectionHandle:
		for i, q := range l.rejected {
			if q == p {
				l.rejected = append(l.rejected[:i], l.rejected[i+1:]...)
				break
			}
		}
	}
}

// reserve registers work that will finish later, from any goroutine: the
// loop does not end before settle was called and its callback ran. settle
// must be called exactly once; after the run that reserved it ended, it
// does nothing.
func (l *loop) reserve() (settle func(cb func() error)) {
	l.mu.Lock()
	gen := l.gen
	l.pending++
	l.mu.Unlock()
	var once sync.Once
	return func(cb func() error) {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.gen != gen {
				return
			}
			l.queue = append(l.queue, cb)
			select {
			case l.wake <- struct{}{}:
			default:
			}
		})
	}
}

// spawn runs work on a goroutine of its own and then settle, on the
// loop's goroutine, with what work returned. The loop waits for work to
// return even when its run is interrupted, so that nothing work records
// lands after the call has ended.
func (l *loop) spawn(work func() (settle func() error)) {
	done := l.reserve()
	l.workers.Go(func() { done(work()) })
}

// run calls start, then runs the callbacks that settle until none is
// pending, or until ctx ends (ErrInterrupted). An exception thrown by a
// callback, or a promise rejected with no handler, ends the run with that
// error; what is still pending is then dropped.
func (l *loop) run(ctx context.Context, start func() error) error {
	defer l.reset()
	if err := l.step(start); err != nil {
		return err
	}
	for {
		l.mu.Lock()
		if len(l.queue) == 0 && l.pending == 0 {
			l.mu.Unlock()
			return nil
		}
		var cb func() error
		if len(l.queue) > 0 {
			cb = l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.pending--
		}
		l.mu.Unlock()
		if cb == nil {
			select {
			case <-l.wake:
			case <-ctx.Done():
				return ErrInterrupted
			}
			continue
		}
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		if err := l.step(cb); err != nil {
			return err
		}
	}
}

// step runs one callback (its promise jobs run as it returns), then fails
// on a promise it left rejected with no handler.
func (l *loop) step(cb func() error) error {
	if err := cb(); err != nil {
		return err
	}
	if len(l.rejected) > 0 {
		p := l.rejected[0]
		l.rejected = l.rejected[:0]
		return &unhandledRejection{p: p}
	}
	return nil
}

// unhandledRejection is a promise rejected with no handler; VU.call turns
// it into a *ScriptError.
type unhandledRejection struct{ p *goja.Promise }

func (e *unhandledRejection) Error() string { return "uncaught (in promise)" }

// reset ends a run: timers stop, callbacks not yet run are dropped, and
// goroutines still working are waited for (their context has ended).
func (l *loop) reset() {
	for id, t := range l.timers {
		t.cancelled = true
		t.t.Stop()
		delete(l.timers, id)
	}
	l.mu.Lock()
	l.gen++
	l.queue = nil
	l.pending = 0
	l.mu.Unlock()
	l.rejected = l.rejected[:0]
	l.workers.Wait()
	select {
	case <-l.wake:
	default:
	}
}

// setTimer is setTimeout and setInterval: fn(args...) after delay
// milliseconds, again every delay when repeat.
func (l *loop) setTimer(fn goja.Callable, delay float64, args []goja.Value, repeat bool) int64 {
	if math.IsNaN(delay) || delay < 0 {
		delay = 0
	}
	d := time.Duration(delay * float64(time.Millisecond))
	l.nextTimer++
	id := l.nextTimer
	t := &timer{}
	l.timers[id] = t
	var arm func()
	arm = func() {
		settle := l.reserve()
		t.t = time.AfterFunc(d, func() {
			settle(func() error {
				if t.cancelled {
					return nil
				}
				if !repeat {
					delete(l.timers, id)
				}
				if _, err := fn(goja.Undefined(), args...); err != nil {
					return err
				}
				if repeat && !t.cancelled {
					arm()
				}
				return nil
			})
		})
		// A timer cleared before it fires settles with nothing to run.
		t.stop = func() {
			if t.t.Stop() {
				settle(func() error { return nil })
			}
		}
	}
	arm()
	return id
}

// clearTimer is clearTimeout and clearInterval; an unknown id is ignored,
// as in browsers.
func (l *loop) clearTimer(id int64) {
	t, ok := l.timers[id]
	if !ok {
		return
	}
	delete(l.timers, id)
	t.cancelled = true
	t.stop()
}

// timersModule is k6/timers; the same functions are globals.
func (vu *VU) timersModule() *goja.Object {
	m := vu.rt.NewObject()
	for name, fn := range vu.timerFuncs() {
		_ = m.Set(name, fn)
	}
	return m
}

func (vu *VU) timerFuncs() map[string]any {
	set := func(name string, repeat bool) func(goja.FunctionCall) goja.Value {
		return func(c goja.FunctionCall) goja.Value {
			fn, ok := goja.AssertFunction(c.Argument(0))
			if !ok {
				panic(vu.rt.NewTypeError(fmt.Sprintf("%s: the first argument must be a function (k6 does not evaluate strings)", name)))
			}
			var args []goja.Value
			if len(c.Arguments) > 2 {
				args = append(args, c.Arguments[2:]...)
			}
			return vu.rt.ToValue(vu.loop.setTimer(fn, c.Argument(1).ToFloat(), args, repeat))
		}
	}
	clear := func(c goja.FunctionCall) goja.Value {
		if id := c.Argument(0); !isNil(id) {
			vu.loop.clearTimer(id.ToInteger())
		}
		return goja.Undefined()
	}
	return map[string]any{
		"setTimeout": set("setTimeout", false), "setInterval": set("setInterval", true),
		"clearTimeout": clear, "clearInterval": clear,
	}
}
