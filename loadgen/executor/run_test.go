package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// fakeVU sleeps for the iteration time that dur gives, or until its
// context ends.
type fakeVU struct {
	dur func(Iteration) time.Duration
}

func (v *fakeVU) Iterate(ctx context.Context, it Iteration) error {
	t := time.NewTimer(v.dur(it))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type event struct {
	at          time.Duration // since the run's start
	it          Iteration
	err         error
	interrupted bool
}

type vuEvent struct {
	at                time.Duration
	active, allocated int
}

// recorder is an Observer that keeps everything, with times relative to
// t0.
type recorder struct {
	t0 time.Time

	mu      sync.Mutex
	started []event
	ended   []event
	dropped map[string][]time.Duration
	vus     map[string][]vuEvent
}

func newRecorder() *recorder {
	return &recorder{t0: time.Now(), dropped: map[string][]time.Duration{}, vus: map[string][]vuEvent{}}
}

func (r *recorder) IterationStarted(it Iteration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, event{at: time.Since(r.t0), it: it})
}

func (r *recorder) IterationEnded(it Iteration, err error, interrupted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, event{at: time.Since(r.t0), it: it, err: err, interrupted: interrupted})
}

func (r *recorder) Dropped(scenario string, scheduled time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[scenario] = append(r.dropped[scenario], scheduled.Sub(r.t0))
}

func (r *recorder) VUs(scenario string, active, allocated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vus[scenario] = append(r.vus[scenario], vuEvent{time.Since(r.t0), active, allocated})
}

// of filters events by scenario.
func of(events []event, scenario string) []event {
	var out []event
	for _, e := range events {
		if e.it.Scenario == scenario {
			out = append(out, e)
		}
	}
	return out
}

// activeAt is a scenario's active VU count at an instant, from the VUs
// calls (the last one at or before at).
func (r *recorder) activeAt(scenario string, at time.Duration) int {
	n := 0
	for _, e := range r.vus[scenario] {
		if e.at > at {
			break
		}
		n = e.active
	}
	return n
}

// testPool makes fakeVUs. newDelay, if set, is how long making VU id
// takes.
func testPool(dur func(Iteration) time.Duration, newDelay func(id int) time.Duration) *Pool {
	return &Pool{New: func(ctx context.Context, id int) (VU, error) {
		if newDelay != nil {
			if !sleepUntil(ctx, time.Now().Add(newDelay(id))) {
				return nil, ctx.Err()
			}
		}
		return &fakeVU{dur: dur}, nil
	}}
}

func every(d time.Duration) func(Iteration) time.Duration {
	return func(Iteration) time.Duration { return d }
}

// runBubble runs scenarios with fake VUs taking dur, inside the caller's
// synctest bubble, and returns what was observed.
func runBubble(t *testing.T, scenarios []Scenario, seg Segment, dur func(Iteration) time.Duration) (*recorder, *Pool) {
	t.Helper()
	rec := newRecorder()
	pool := testPool(dur, nil)
	if err := Run(t.Context(), scenarios, pool, seg, rec); err != nil {
		t.Fatalf("Run: got error %v, want none", err)
	}
	return rec, pool
}

func TestConstantArrivalRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "rate", Executor: ConstantArrivalRate, Rate: 10, TimeUnit: time.Second, Duration: 2 * time.Second,
			StartTime: 3 * time.Second, PreAllocatedVUs: 2, MaxVUs: 2, GracefulStop: time.Second}
		rec, pool := runBubble(t, []Scenario{s}, Segment{}, every(150*time.Millisecond))
		if len(rec.started) != 20 {
			t.Fatalf("got %d iterations, want 20", len(rec.started))
		}
		for i, e := range rec.started {
			want := 3*time.Second + time.Duration(i)*100*time.Millisecond
			if got := e.it.Scheduled.Sub(rec.t0); got != want || e.at != want {
				t.Errorf("iteration %d: got scheduled at %s, started at %s, want both %s", i, got, e.at, want)
			}
			if e.it.ScenarioIter != int64(i) {
				t.Errorf("iteration %d: got ScenarioIter %d, want %d", i, e.it.ScenarioIter, i)
			}
		}
		if n := len(rec.dropped["rate"]); n != 0 {
			t.Errorf("got %d dropped, want 0", n)
		}
		if got := pool.Made(); got != 2 {
			t.Errorf("got %d VUs made, want 2", got)
		}
	})
}

func TestRampingArrivalRateMatchesSchedule(t *testing.T) {
	for _, arrival := range []string{ArrivalUniform, ArrivalPoisson} {
		t.Run(arrival, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := Scenario{Name: "ramp", Executor: RampingArrivalRate, TimeUnit: time.Second, StartRate: 2, PreAllocatedVUs: 5, MaxVUs: 5,
					Stages: []Stage{{10 * time.Second, 20}, {5 * time.Second, 20}, {5 * time.Second, 0}}, Arrival: arrival, Seed: 3}
				rec, _ := runBubble(t, []Scenario{s}, Segment{}, every(10*time.Millisecond))
				want := collect(s)
				if len(rec.started) != len(want) {
					t.Fatalf("got %d iterations, want %d", len(rec.started), len(want))
				}
				for i, e := range rec.started {
					if got := e.it.Scheduled.Sub(rec.t0); got != want[i] || e.at != want[i] {
						t.Errorf("iteration %d: got scheduled %s, started %s, want %s", i, got, e.at, want[i])
					}
				}
			})
		})
	}
}

func TestDroppedIterations(t *testing.T) {
	tests := []struct {
		name        string
		newDelay    time.Duration // making a VU mid-run
		wantStarted []time.Duration
		wantDropped []time.Duration
	}{
		{
			name:        "instant VUs",
			wantStarted: []time.Duration{0, 100 * time.Millisecond},
			wantDropped: []time.Duration{200e6, 300e6, 400e6, 500e6, 600e6, 700e6, 800e6, 900e6},
		},
		{
			name:        "slow VUs make the iteration wait",
			newDelay:    30 * time.Millisecond,
			wantStarted: []time.Duration{0, 130 * time.Millisecond},
			wantDropped: []time.Duration{200e6, 300e6, 400e6, 500e6, 600e6, 700e6, 800e6, 900e6},
		},
		{
			name:     "a VU too slow to arrive before the end",
			newDelay: 1500 * time.Millisecond,
			// The iteration at 100ms waits for the new VU; arrivals at
			// 200ms..900ms find maxVUs taken; at the end the one waiting
			// is dropped too.
			wantStarted: []time.Duration{0},
			wantDropped: []time.Duration{200e6, 300e6, 400e6, 500e6, 600e6, 700e6, 800e6, 900e6, 100e6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := Scenario{Name: "rate", Executor: ConstantArrivalRate, Rate: 10, TimeUnit: time.Second, Duration: time.Second,
					PreAllocatedVUs: 1, MaxVUs: 2, GracefulStop: 10 * time.Second}
				rec := newRecorder()
				pool := testPool(every(1050*time.Millisecond), func(id int) time.Duration {
					if id == 1 {
						return 0
					}
					return tt.newDelay
				})
				if err := Run(t.Context(), []Scenario{s}, pool, Segment{}, rec); err != nil {
					t.Fatal(err)
				}
				var started []time.Duration
				for i, e := range rec.started {
					started = append(started, e.at)
					if want := time.Duration(i) * 100 * time.Millisecond; e.it.Scheduled.Sub(rec.t0) != want {
						t.Errorf("iteration %d: got scheduled %s, want %s", i, e.it.Scheduled.Sub(rec.t0), want)
					}
				}
				if !slices.Equal(started, tt.wantStarted) {
					t.Errorf("got starts %v, want %v", started, tt.wantStarted)
				}
				if got := rec.dropped["rate"]; !slices.Equal(got, tt.wantDropped) {
					t.Errorf("got dropped %v, want %v", got, tt.wantDropped)
				}
				if got := pool.Made(); got != 2 {
					t.Errorf("got %d VUs made, want 2", got)
				}
			})
		})
	}
}

func TestSharedIterations(t *testing.T) {
	tests := []struct {
		name            string
		s               Scenario
		dur             func(Iteration) time.Duration
		wantStarted     int
		wantInterrupted int
		wantEnd         time.Duration // of the last iteration
	}{
		{
			name:        "all iterations, then stop",
			s:           Scenario{VUs: 3, Iterations: 10, MaxDuration: time.Minute, GracefulStop: time.Second},
			dur:         every(time.Second),
			wantStarted: 10,
			wantEnd:     4 * time.Second, // 4 + 3 + 3
		},
		{
			name: "fast VUs take more",
			s:    Scenario{VUs: 2, Iterations: 7, MaxDuration: time.Minute},
			dur: func(it Iteration) time.Duration {
				if it.VU == 1 {
					return 300 * time.Millisecond
				}
				return time.Second
			},
			wantStarted: 7,
			wantEnd:     2 * time.Second, // VU 1 runs 5 (0..1.5s), VU 2 runs 2 (0..2s)
		},
		{
			name:            "maxDuration cuts it short",
			s:               Scenario{VUs: 3, Iterations: 100, MaxDuration: 5 * time.Second, GracefulStop: 0},
			dur:             every(2 * time.Second),
			wantStarted:     9,
			wantInterrupted: 3,
			wantEnd:         5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := tt.s
				s.Name, s.Executor = "shared", SharedIterations
				rec, _ := runBubble(t, []Scenario{s}, Segment{}, tt.dur)
				if got := len(rec.started); got != tt.wantStarted {
					t.Errorf("got %d iterations, want %d", got, tt.wantStarted)
				}
				interrupted := 0
				var end time.Duration
				for _, e := range rec.ended {
					if e.interrupted {
						interrupted++
					}
					end = max(end, e.at)
				}
				if interrupted != tt.wantInterrupted {
					t.Errorf("got %d interrupted, want %d", interrupted, tt.wantInterrupted)
				}
				if end != tt.wantEnd {
					t.Errorf("got the last iteration ending at %s, want %s", end, tt.wantEnd)
				}
			})
		})
	}
}

func TestPerVUIterations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "pervu", Executor: PerVUIterations, VUs: 4, Iterations: 3, MaxDuration: time.Minute}
		rec, _ := runBubble(t, []Scenario{s}, Segment{}, func(it Iteration) time.Duration {
			return time.Duration(it.VU) * time.Second // uneven VUs still do 3 each
		})
		iters := map[int][]int64{}
		for _, e := range rec.started {
			iters[e.it.VU] = append(iters[e.it.VU], e.it.Iter)
		}
		if len(iters) != 4 {
			t.Fatalf("got iterations from %d VUs, want 4", len(iters))
		}
		for vu, got := range iters {
			if want := []int64{0, 1, 2}; !slices.Equal(got, want) {
				t.Errorf("VU %d: got iterations %v, want %v", vu, got, want)
			}
		}
	})
}

func TestConstantVUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "const", Executor: ConstantVUs, VUs: 3, Duration: 10 * time.Second, GracefulStop: 30 * time.Second}
		rec, _ := runBubble(t, []Scenario{s}, Segment{}, every(time.Second))
		if got := len(rec.started); got != 30 {
			t.Errorf("got %d iterations, want 30", got)
		}
		for _, e := range rec.ended {
			if e.interrupted {
				t.Errorf("got iteration %+v interrupted, want none", e.it)
			}
		}
		if got, want := rec.vus["const"], []vuEvent{{0, 0, 3}, {0, 1, 3}, {0, 2, 3}, {0, 3, 3}, {10 * time.Second, 2, 3}, {10 * time.Second, 1, 3}, {10 * time.Second, 0, 3}}; !slices.Equal(got, want) {
			t.Errorf("got VU counts %v, want %v", got, want)
		}
	})
}

func TestGracefulStop(t *testing.T) {
	tests := []struct {
		name         string
		gracefulStop time.Duration
		iteration    time.Duration
		wantEnds     []time.Duration
		wantLast     bool // the last iteration interrupted
	}{
		{"finishes within gracefulStop", 5 * time.Second, 3 * time.Second, []time.Duration{3e9, 6e9, 9e9, 12e9}, false},
		{"interrupted gracefulStop after the end", 5 * time.Second, 8 * time.Second, []time.Duration{8e9, 15e9}, true},
		{"no gracefulStop", 0, 8 * time.Second, []time.Duration{8e9, 10e9}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := Scenario{Name: "c", Executor: ConstantVUs, VUs: 1, Duration: 10 * time.Second, GracefulStop: tt.gracefulStop}
				rec, _ := runBubble(t, []Scenario{s}, Segment{}, every(tt.iteration))
				var ends []time.Duration
				for _, e := range rec.ended {
					ends = append(ends, e.at)
				}
				if !slices.Equal(ends, tt.wantEnds) {
					t.Fatalf("got iterations ending at %v, want %v", ends, tt.wantEnds)
				}
				last := rec.ended[len(rec.ended)-1]
				if last.interrupted != tt.wantLast {
					t.Errorf("got the last iteration interrupted=%v, want %v", last.interrupted, tt.wantLast)
				}
				if tt.wantLast && !errors.Is(last.err, context.DeadlineExceeded) {
					t.Errorf("got error %v, want %v", last.err, context.DeadlineExceeded)
				}
			})
		})
	}
}

func TestGracefulRampDown(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		rampDown time.Duration
		stages   []Stage
		want     []event // VU 2's iterations: end time, interrupted
	}{
		{
			name:     "interrupted after gracefulRampDown",
			rampDown: 3 * s,
			stages:   []Stage{{10 * s, 2}, {0, 1}, {20 * s, 1}},
			want:     []event{{at: 7 * s}, {at: 13 * s, interrupted: true}},
		},
		{
			name:     "finishes within gracefulRampDown",
			rampDown: 5 * s,
			stages:   []Stage{{10 * s, 2}, {0, 1}, {20 * s, 1}},
			want:     []event{{at: 7 * s}, {at: 14 * s}},
		},
		{
			name:     "brought back before gracefulRampDown ends",
			rampDown: 3 * s,
			stages:   []Stage{{10 * s, 2}, {0, 1}, {2 * s, 1}, {0, 2}, {18 * s, 2}},
			want:     []event{{at: 7 * s}, {at: 14 * s}, {at: 21 * s}, {at: 28 * s}, {at: 35 * s}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := Scenario{Name: "ramp", Executor: RampingVUs, StartVUs: 2, Stages: tt.stages, GracefulRampDown: tt.rampDown, GracefulStop: 30 * s}
				rec, _ := runBubble(t, []Scenario{sc}, Segment{}, every(7*s))
				var got []event
				for _, e := range rec.ended {
					if e.it.VU == 2 {
						got = append(got, event{at: e.at, interrupted: e.interrupted})
					}
				}
				if !slices.EqualFunc(got, tt.want, func(a, b event) bool { return a.at == b.at && a.interrupted == b.interrupted }) {
					t.Errorf("got VU 2 ending iterations at %v, want %v", got, tt.want)
				}
				// VU 1 loops to the end (30s) and finishes within gracefulStop.
				last := of(rec.ended, "ramp")[len(rec.ended)-1]
				if last.at != 35*s || last.interrupted {
					t.Errorf("got the last iteration ending at %s (interrupted %v), want 35s, not interrupted", last.at, last.interrupted)
				}
			})
		})
	}
}

// TestRampingVUsCounts checks the active VU count over a ramp up, a hold
// and a ramp down.
func TestRampingVUsCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := Scenario{Name: "ramp", Executor: RampingVUs, StartVUs: 0, GracefulRampDown: 30 * time.Second, GracefulStop: 30 * time.Second,
			Stages: []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}, {10 * time.Second, 0}}}
		rec, _ := runBubble(t, []Scenario{sc}, Segment{}, every(500*time.Millisecond))
		for at := 250 * time.Millisecond; at < 31*time.Second; at += 500 * time.Millisecond {
			var want int
			switch sec := int(at / time.Second); {
			case at < 10*time.Second:
				want = sec // VU v starts at v seconds
			case at < 20*time.Second:
				want = 10
			case at < 30*time.Second:
				want = 10 - (sec - 20) // drops to v at 30−v seconds
			}
			if got := rec.activeAt("ramp", at); got != want {
				t.Errorf("at %s: got %d active VUs, want %d", at, got, want)
			}
		}
	})
}

// TestSegmentsRunTheWhole runs every segment of a sequence and checks that
// together they start exactly the iterations the whole test starts, at the
// same scheduled times, and run exactly its VUs at every instant.
func TestSegmentsRunTheWhole(t *testing.T) {
	scenarios := []Scenario{
		{Name: "const", Executor: ConstantArrivalRate, Rate: 7, TimeUnit: time.Second, Duration: 10 * time.Second, PreAllocatedVUs: 12, MaxVUs: 12},
		{Name: "ramp", Executor: RampingArrivalRate, TimeUnit: time.Second, StartRate: 3, PreAllocatedVUs: 12, MaxVUs: 12,
			Stages: []Stage{{5 * time.Second, 13}, {5 * time.Second, 1}}},
		{Name: "poisson", Executor: RampingArrivalRate, TimeUnit: time.Second, PreAllocatedVUs: 12, MaxVUs: 12,
			Stages: []Stage{{5 * time.Second, 13}, {5 * time.Second, 5}}, Arrival: ArrivalPoisson, Seed: 99},
		{Name: "vus", Executor: RampingVUs, StartVUs: 1, GracefulRampDown: time.Minute, GracefulStop: time.Minute,
			Stages: []Stage{{5 * time.Second, 11}, {3 * time.Second, 11}, {2 * time.Second, 4}}},
		{Name: "shared", Executor: SharedIterations, VUs: 5, Iterations: 17, MaxDuration: time.Minute},
	}
	dur := every(5 * time.Millisecond)
	whole := map[string][]time.Duration{}
	var wholeRec *recorder
	synctest.Test(t, func(t *testing.T) {
		wholeRec, _ = runBubble(t, scenarios, Segment{}, dur)
	})
	for _, e := range wholeRec.started {
		whole[e.it.Scenario] = append(whole[e.it.Scenario], e.it.Scheduled.Sub(wholeRec.t0))
	}
	for _, seq := range testSequences[:2] {
		t.Run(seq, func(t *testing.T) {
			parts := map[string][]time.Duration{}
			var recs []*recorder
			for _, seg := range sequenceSegments(t, seq) {
				synctest.Test(t, func(t *testing.T) {
					rec, _ := runBubble(t, scenarios, seg, dur)
					for _, e := range rec.started {
						parts[e.it.Scenario] = append(parts[e.it.Scenario], e.it.Scheduled.Sub(rec.t0))
					}
					if n := len(rec.dropped); n != 0 {
						t.Errorf("segment %s: got drops %v, want none", seg, rec.dropped)
					}
					recs = append(recs, rec)
				})
			}
			for _, s := range scenarios {
				got := parts[s.Name]
				slices.Sort(got)
				if !slices.Equal(got, whole[s.Name]) {
					t.Errorf("%s: segments start %d iterations at %v, want the whole's %d at %v", s.Name, len(got), got, len(whole[s.Name]), whole[s.Name])
				}
			}
			for at := time.Duration(0); at < 10*time.Second; at += 100 * time.Millisecond {
				sum := 0
				for _, r := range recs {
					sum += r.activeAt("vus", at+50*time.Millisecond)
				}
				if want := wholeRec.activeAt("vus", at+50*time.Millisecond); sum != want {
					t.Errorf("at %s: segments run %d VUs, want %d", at, sum, want)
				}
			}
		})
	}
}

func TestStartTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		scenarios := []Scenario{
			{Name: "a", Executor: ConstantVUs, VUs: 2, Duration: 5 * time.Second, GracefulStop: 0},
			{Name: "b", Executor: PerVUIterations, VUs: 1, Iterations: 2, MaxDuration: time.Minute, StartTime: 3 * time.Second},
			{Name: "c", Executor: ConstantArrivalRate, Rate: 2, TimeUnit: time.Second, Duration: 2 * time.Second,
				PreAllocatedVUs: 1, MaxVUs: 1, StartTime: 7 * time.Second},
			// d starts after a has ended (with its gracefulStop), so it
			// reuses a's VUs.
			{Name: "d", Executor: ConstantVUs, VUs: 2, Duration: time.Second, StartTime: 5500 * time.Millisecond},
		}
		rec, pool := runBubble(t, scenarios, Segment{}, every(300*time.Millisecond))
		want := map[string][]time.Duration{
			"a": nil, // checked by count below
			"b": {3 * time.Second, 3300 * time.Millisecond},
			"c": {7 * time.Second, 7500 * time.Millisecond, 8 * time.Second, 8500 * time.Millisecond},
		}
		for name, w := range want {
			var got []time.Duration
			for _, e := range of(rec.started, name) {
				got = append(got, e.at)
			}
			if name == "a" {
				if len(got) != 34 || got[0] != 0 { // 2 VUs × 17 iterations in 5s
					t.Errorf("a: got %d iterations from %v, want 34 from 0s", len(got), got[:1])
				}
				continue
			}
			if !slices.Equal(got, w) {
				t.Errorf("%s: got starts %v, want %v", name, got, w)
			}
		}
		if first := of(rec.started, "d")[0].at; first != 5500*time.Millisecond {
			t.Errorf("d: got first start %s, want 5.5s", first)
		}
		// At most 3 at once: a with b, then b with d, then b with c.
		if got := pool.Made(); got != 3 {
			t.Errorf("got %d VUs made, want 3", got)
		}
	})
}

func TestRunCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		rec := newRecorder()
		time.AfterFunc(4500*time.Millisecond, cancel)
		scenarios := []Scenario{
			{Name: "c", Executor: ConstantVUs, VUs: 2, Duration: time.Hour, GracefulStop: time.Hour},
			{Name: "r", Executor: ConstantArrivalRate, Rate: 1, TimeUnit: time.Second, Duration: time.Hour, PreAllocatedVUs: 10, MaxVUs: 10, GracefulStop: time.Hour},
			{Name: "later", Executor: ConstantVUs, VUs: 1, Duration: time.Hour, StartTime: time.Minute},
		}
		err := Run(ctx, scenarios, testPool(every(time.Minute), nil), Segment{}, rec)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want %v", err, context.Canceled)
		}
		if got := time.Since(rec.t0); got != 4500*time.Millisecond {
			t.Errorf("Run returned after %s, want 4.5s", got)
		}
		if len(rec.started) != 7 || len(rec.ended) != 7 { // 2 VUs + 5 arrivals
			t.Fatalf("got %d started and %d ended, want 7 and 7", len(rec.started), len(rec.ended))
		}
		for _, e := range rec.ended {
			if !e.interrupted || e.at != 4500*time.Millisecond {
				t.Errorf("got %s iteration ending at %s (interrupted %v), want interrupted at 4.5s", e.it.Scenario, e.at, e.interrupted)
			}
		}
	})
}

var errInit = errors.New("init failed")

func TestPoolErrors(t *testing.T) {
	tests := []struct {
		name    string
		s       Scenario
		failID  int
		wantErr string
		wantAt  time.Duration
	}{
		{
			name:    "before the start",
			s:       Scenario{Name: "c", Executor: ConstantVUs, VUs: 3, Duration: time.Minute},
			failID:  2,
			wantErr: "initialize VUs: init failed",
		},
		{
			name: "mid-run",
			s: Scenario{Name: "r", Executor: ConstantArrivalRate, Rate: 1, TimeUnit: time.Second, Duration: time.Minute,
				PreAllocatedVUs: 1, MaxVUs: 3, GracefulStop: time.Minute},
			failID:  2,
			wantErr: `scenario "r": get VU: init failed`,
			wantAt:  time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := &Pool{New: func(ctx context.Context, id int) (VU, error) {
					if id == tt.failID {
						return nil, errInit
					}
					return &fakeVU{dur: every(90 * time.Minute)}, nil
				}}
				start := time.Now()
				err := Run(t.Context(), []Scenario{tt.s}, pool, Segment{}, nil)
				if !errors.Is(err, errInit) || err.Error() != tt.wantErr {
					t.Errorf("got error %v, want %q", err, tt.wantErr)
				}
				if got := time.Since(start); got != tt.wantAt {
					t.Errorf("Run returned after %s, want %s", got, tt.wantAt)
				}
			})
		})
	}
}

func TestRunRejects(t *testing.T) {
	ok := Scenario{Name: "a", Executor: ConstantVUs, VUs: 1, Duration: time.Second}
	tests := []struct {
		name      string
		scenarios []Scenario
		want      string
	}{
		{"invalid", []Scenario{{Name: "a", Executor: ConstantVUs}}, `scenario "a": vus: must be greater than 0, got 0`},
		{"duplicate names", []Scenario{ok, ok}, `scenario "a": name: used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(t.Context(), tt.scenarios, testPool(every(0), nil), Segment{}, nil)
			if err == nil || err.Error()[:len(tt.want)] != tt.want {
				t.Errorf("got error %v, want one starting %q", err, tt.want)
			}
		})
	}
}

// TestRunLeavesNoGoroutines runs on the real clock, briefly, and checks
// that every goroutine Run started has ended when it returns.
func TestRunLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // it waits for goroutines that are ending
	scenarios := []Scenario{
		{Name: "v", Executor: RampingVUs, StartVUs: 2, Stages: []Stage{{30 * time.Millisecond, 4}, {20 * time.Millisecond, 0}}},
		{Name: "r", Executor: ConstantArrivalRate, Rate: 200, TimeUnit: time.Second, Duration: 50 * time.Millisecond, PreAllocatedVUs: 1, MaxVUs: 5},
	}
	pool := testPool(every(2*time.Millisecond), func(int) time.Duration { return time.Millisecond })
	if err := Run(t.Context(), scenarios, pool, Segment{}, nil); err != nil {
		t.Fatal(err)
	}
}

func ExampleRun() {
	scenarios, err := ParseOptions([]byte(`{"vus": 3, "iterations": 6}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	pool := &Pool{New: func(ctx context.Context, id int) (VU, error) { return vuFunc(hello), nil }}
	if err := Run(context.Background(), scenarios, pool, Segment{}, nil); err != nil {
		fmt.Println(err)
	}
	fmt.Println(pool.Made(), "VUs")
	// Output: 3 VUs
}

// vuFunc adapts a function to VU.
type vuFunc func(context.Context, Iteration) error

func (f vuFunc) Iterate(ctx context.Context, it Iteration) error { return f(ctx, it) }

func hello(context.Context, Iteration) error { return nil }

// TestPrepareMakesTheVUsFirst checks the init stage: Prepare makes the VUs
// the scenarios hold at their peak before it returns (setup() runs then),
// and Run starts with them, so the first iterations start at the
// scenarios' start whatever making a VU costs.
func TestPrepareMakesTheVUsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "vus", Executor: ConstantVUs, VUs: 3, Duration: time.Second, GracefulStop: time.Second}
		pool := testPool(every(400*time.Millisecond), func(int) time.Duration { return 250 * time.Millisecond })
		p, err := Prepare(t.Context(), []Scenario{s}, pool, Segment{})
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if got := pool.Made(); got != 3 {
			t.Fatalf("Prepare made %d VUs, want 3", got)
		}
		rec := newRecorder()
		if err := p.Run(t.Context(), rec); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := pool.Made(); got != 3 {
			t.Errorf("%d VUs made in all, want the 3 Prepare made", got)
		}
		for i, e := range rec.started[:3] {
			if e.at != 0 {
				t.Errorf("iteration %d started %v after Run began, want at once", i, e.at)
			}
		}
	})
}
