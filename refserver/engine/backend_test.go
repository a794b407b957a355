package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/gpt2"
)

// fakeDevice is a Backend that computes nothing: its logits put all the
// weight on token (Token + 1) mod vocab, so a greedy sequence counts up. It
// records every step's rows, holds a fixed number of cache slots, and can
// be made to fail. It is what a GPU backend looks like to the engine,
// without a GPU.
type fakeDevice struct {
	cfg   gpt2.Config
	slots int

	mu       sync.Mutex
	live     map[*fakeCache]bool
	steps    [][]backend.Row
	failAt   int // the step that fails; 0: none
	released int
	logits   [][]float32
	// holdAt, when not 0, is the step that waits for hold to close before
	// it runs: a test's look at the engine between two steps.
	holdAt int
	hold   chan struct{}
}

type fakeCache struct {
	d        *fakeDevice
	capacity int
	filled   []bool
	freed    bool
}

func (c *fakeCache) Cap() int { return c.capacity }

func (c *fakeCache) Release() {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if !c.freed {
		c.freed = true
		delete(c.d.live, c)
		c.d.released++
	}
}

func newFakeDevice(slots int) *fakeDevice {
	return &fakeDevice{cfg: gpt2.Config{NLayer: 1, NEmbd: 8, NHead: 2, NPositions: 64, VocabSize: 100, EOSTokenID: 99},
		slots: slots, live: map[*fakeCache]bool{}}
}

func (d *fakeDevice) Config() gpt2.Config { return d.cfg }

func (d *fakeDevice) NewCache(capacity int) (backend.Cache, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.live) >= d.slots {
		return nil, fmt.Errorf("out of device memory: %d caches live", len(d.live))
	}
	c := &fakeCache{d: d, capacity: capacity, filled: make([]bool, capacity)}
	d.live[c] = true
	return c, nil
}

func (d *fakeDevice) Forward(rows []backend.Row) ([][]float32, error) {
	d.mu.Lock()
	if d.holdAt > 0 && len(d.steps)+1 == d.holdAt {
		d.mu.Unlock()
		<-d.hold
		d.mu.Lock()
	}
	defer d.mu.Unlock()
	d.steps = append(d.steps, slices.Clone(rows))
	if d.failAt > 0 && len(d.steps) >= d.failAt {
		return nil, errors.New("device lost")
	}
	d.logits = d.logits[:0]
	for i, r := range rows {
		c, ok := r.Cache.(*fakeCache)
		if !ok || c.freed || !d.live[c] {
			return nil, fmt.Errorf("row %d: a released cache", i)
		}
		if r.Pos < 0 || r.Pos >= c.capacity || (r.Pos > 0 && !c.filled[r.Pos-1]) {
			return nil, fmt.Errorf("row %d: position %d does not continue its cache", i, r.Pos)
		}
		c.filled[r.Pos] = true
		if r.Logits {
			l := make([]float32, d.cfg.VocabSize)
			l[(r.Token+1)%d.cfg.VocabSize] = 10
			d.logits = append(d.logits, l)
		}
	}
	return d.logits, nil
}

func (d *fakeDevice) Info() backend.Info {
	return backend.Info{Backend: "fake", Device: "fake", DType: "f16"}
}

func (d *fakeDevice) Close() error { return nil }

func (d *fakeDevice) liveCaches() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}

// waitReleased waits until n caches have been released: a sequence's
// cache goes back just after its last event is sent.
func (d *fakeDevice) waitReleased(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		d.mu.Lock()
		got, live := d.released, len(d.live)
		d.mu.Unlock()
		if got == n && live == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d caches released, %d live; want %d released, 0 live", got, live, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// runOn runs an engine on d until the test ends; the channel it returns
// is closed when Run returns, with Run's error in *runErr.
func runOn(t *testing.T, d *fakeDevice, cfg Config) (*Engine, <-chan struct{}, *error) {
	t.Helper()
	e, err := NewOn(d, byteVocab{}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = e.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return e, done, &runErr
}

func counting(prompt []int, n int) Request {
	r := greedy(prompt, n)
	r.IgnoreEOS = true
	return r
}

func TestBackendBatchAssembly(t *testing.T) {
	d := newFakeDevice(8)
	e, _, _ := runOn(t, d, Config{MaxBatch: 4, StepTokens: 6, AdmitWait: -1, Threads: 1})
	// Hold the engine until both requests wait, so they share steps.
	a, err := e.Submit(t.Context(), counting([]int{1, 2, 3, 4}, 3))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Submit(t.Context(), counting([]int{10, 11, 12, 13, 14, 15, 16}, 2))
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := collect(t, a), collect(t, b)
	if !slices.Equal(ra.tokens, []int{5, 6, 7}) || !slices.Equal(rb.tokens, []int{17, 18}) {
		t.Fatalf("tokens %v and %v, want [5 6 7] and [17 18]: each continues its prompt", ra.tokens, rb.tokens)
	}
	d.waitReleased(t, 2)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, rows := range d.steps {
		if len(rows) > 6 {
			t.Errorf("step %d has %d rows, more than StepTokens 6", i, len(rows))
		}
		// A sequence's rows in a step are consecutive and in order.
		last := map[backend.Cache]int{}
		for j, r := range rows {
			if p, ok := last[r.Cache]; ok && (p != r.Pos-1 || rows[j-1].Cache != r.Cache) {
				t.Errorf("step %d: row %d at position %d does not follow its sequence's row at %d", i, j, r.Pos, p)
			}
			last[r.Cache] = r.Pos
		}
	}
}

func TestBackendCancelReleases(t *testing.T) {
	d := newFakeDevice(8)
	// The second step waits, so the request is still running when the
	// test looks (an instant device would otherwise finish all 60 tokens
	// before the first is read).
	d.holdAt, d.hold = 2, make(chan struct{})
	e, _, _ := runOn(t, d, Config{MaxBatch: 2, Threads: 1})
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := e.Submit(ctx, counting([]int{1}, 60))
	if err != nil {
		t.Fatal(err)
	}
	<-ch // the first token: it holds a cache now
	if d.liveCaches() != 1 {
		t.Fatalf("%d live caches while the request runs, want 1", d.liveCaches())
	}
	cancel()
	close(d.hold)
	r := collect(t, ch)
	if r.finish != FinishCancelled {
		t.Errorf("finish %q, want cancelled", r.finish)
	}
	for deadline := time.Now().Add(5 * time.Second); d.liveCaches() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d caches still live after the request was cancelled: device memory not freed", d.liveCaches())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBackendSlotReuse(t *testing.T) {
	// Two slots for six requests: each finished request's cache is
	// released, and the next one gets the slot.
	d := newFakeDevice(2)
	e, _, _ := runOn(t, d, Config{MaxBatch: 2, Threads: 1})
	var chans []<-chan Event
	for i := range 6 {
		ch, err := e.Submit(t.Context(), counting([]int{i + 1}, 4))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		if r := collect(t, ch); r.finish != FinishLength || len(r.tokens) != 4 {
			t.Errorf("request %d: finish %q with %d tokens (%v), want length with 4", i, r.finish, len(r.tokens), r.err)
		}
	}
	d.waitReleased(t, 6)
}

func TestBackendForwardError(t *testing.T) {
	d := newFakeDevice(8)
	d.failAt = 3
	e, done, runErr := runOn(t, d, Config{MaxBatch: 2, Threads: 1})
	ch, err := e.Submit(t.Context(), counting([]int{1, 2}, 10))
	if err != nil {
		t.Fatal(err)
	}
	r := collect(t, ch)
	if r.finish != FinishError || !errors.Is(r.err, ErrClosed) {
		t.Errorf("finish %q (%v), want an error: the engine stopped", r.finish, r.err)
	}
	select {
	case <-done:
		if err := *runErr; err == nil || !strings.Contains(err.Error(), "device lost") {
			t.Errorf("Run returned %v, want the device's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the backend failed")
	}
	if d.liveCaches() != 0 {
		t.Errorf("%d caches live after the engine stopped, want 0", d.liveCaches())
	}
}
