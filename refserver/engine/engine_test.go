package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/refserver/sample"
)

// byteVocab is a real Vocab for tests: token id i is the text "<i>".
type byteVocab struct{}

func (byteVocab) TokenBytes(id int) []byte { return fmt.Appendf(nil, "<%d>", id) }

var tiny = gpt2.Config{NLayer: 2, NEmbd: 64, NHead: 4, NPositions: 128, VocabSize: 50257}

func synthetic(t testing.TB) *gpt2.Model {
	t.Helper()
	m, err := gpt2.NewSynthetic(tiny, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs an engine in the background and stops it (checking that its
// goroutines are gone) when the test ends.
func start(t *testing.T, m *gpt2.Model, cfg Config) *Engine {
	t.Helper()
	return startObserved(t, m, cfg, nil)
}

// startObserved is start with a StepObserver.
func startObserved(t *testing.T, m *gpt2.Model, cfg Config, obs StepObserver) *Engine {
	t.Helper()
	existing := goleak.IgnoreCurrent()
	e, err := New(m, byteVocab{}, cfg, obs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		goleak.VerifyNone(t, existing)
	})
	return e
}

type result struct {
	tokens []int
	text   string
	finish string
	err    error
	stats  *Stats
}

func collect(t *testing.T, ch <-chan Event) result {
	t.Helper()
	var r result
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return r
			}
			if ev.Token >= 0 {
				r.tokens = append(r.tokens, ev.Token)
			}
			r.text += ev.Text
			if ev.Done {
				r.finish, r.err, r.stats = ev.Finish, ev.Err, ev.Stats
			}
		case <-timeout:
			t.Fatal("no event for 30s")
		}
	}
}

func greedy(prompt []int, n int) Request {
	return Request{Prompt: prompt, MaxTokens: n, Sampling: sample.Params{Greedy: true}}
}

// TestFixtureThroughEngine submits every fixture prompt at once: they share
// the batch, and each must still produce its reference greedy_16.
func TestFixtureThroughEngine(t *testing.T) {
	dir, fx := gpt2test.Load(t)
	m, err := gpt2.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, m, Config{MaxBatch: 8, Threads: 2})
	var chans []<-chan Event
	for _, c := range fx.Cases {
		ch, err := e.Submit(context.Background(), greedy(c.InputIDs, 16))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, c := range fx.Cases {
		r := collect(t, chans[i])
		if !slices.Equal(r.tokens, c.Greedy16) {
			t.Errorf("case %d: tokens %v, want %v", i, r.tokens, c.Greedy16)
		}
		if r.finish != FinishLength {
			t.Errorf("case %d: finish %q, want %q", i, r.finish, FinishLength)
		}
		if r.stats.MeanBatch() <= 1 {
			t.Errorf("case %d: mean batch %.2f, want the prompts batched together", i, r.stats.MeanBatch())
		}
	}
}

// TestBatchedEqualsAlone checks that decoding in a batch gives the same
// greedy tokens as each sequence alone, with prompts of different lengths
// and chunked prefill.
func TestBatchedEqualsAlone(t *testing.T) {
	m := synthetic(t)
	r := rand.New(rand.NewPCG(1, 2))
	var reqs []Request
	for i := 0; i < 6; i++ {
		p := make([]int, 1+r.IntN(40))
		for j := range p {
			p[j] = r.IntN(50257)
		}
		reqs = append(reqs, greedy(p, 12+i))
	}
	alone := start(t, m, Config{MaxBatch: 1, Threads: 1})
	var want [][]int
	for _, req := range reqs {
		ch, err := alone.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, collect(t, ch).tokens)
	}
	// StepTokens 16 forces long prompts into several prefill chunks that
	// share steps with decoding sequences.
	batched := start(t, m, Config{MaxBatch: 8, StepTokens: 16, Threads: 2})
	var chans []<-chan Event
	for _, req := range reqs {
		ch, err := batched.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		if got := collect(t, ch).tokens; !slices.Equal(got, want[i]) {
			t.Errorf("request %d: batched %v, alone %v", i, got, want[i])
		}
	}
}

func TestSubmitErrors(t *testing.T) {
	m := synthetic(t)
	e, err := New(m, byteVocab{}, Config{MaxBatch: 1, MaxQueue: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The loop is not running, so the first request stays queued.
	if _, err := e.Submit(context.Background(), greedy([]int{1}, 1)); err != nil {
		t.Fatal(err)
	}
	long := make([]int, 128)
	tests := []struct {
		name    string
		req     Request
		want    error
		message string
	}{
		{"queue full", greedy([]int{1}, 1), ErrQueueFull, "1 requests waiting"},
		{"empty prompt", greedy(nil, 1), ErrBadRequest, "prompt is empty"},
		{"bad token", greedy([]int{50257}, 1), ErrBadRequest, "token id 50257"},
		{"zero max tokens", greedy([]int{1}, 0), ErrBadRequest, "max_tokens is 0"},
		{"prompt longer than context", greedy(long, 1), ErrTooLong, "128 tokens and the context holds 128"},
		{"max tokens past context", greedy([]int{1, 2}, 127), ErrTooLong, "max_tokens can be at most 126"},
		{"bad temperature", Request{Prompt: []int{1}, MaxTokens: 1, Sampling: sample.Params{Temperature: -1}}, ErrBadRequest, "temperature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Submit(context.Background(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("err = %q, want it to mention %q", err, tc.message)
			}
		})
	}
}

func TestCancelFreesCache(t *testing.T) {
	m := synthetic(t)
	e := start(t, m, Config{MaxBatch: 2, Threads: 1})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := e.Submit(ctx, greedy([]int{1, 2, 3}, 120))
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; ev.Done {
		t.Fatalf("first event is final: %+v", ev)
	}
	// The live state is published at the end of each step, so it may
	// trail the first event by a step.
	deadline := time.Now().Add(5 * time.Second)
	s := e.State()
	for (s.Running != 1 || s.KVUsed < 123) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		s = e.State()
	}
	if s.Running != 1 || s.KVUsed < 123 {
		t.Errorf("state while running = %+v, want 1 running, at least 123 KV positions", s)
	}
	cancel()
	r := collect(t, ch)
	if r.finish != FinishCancelled || !errors.Is(r.err, context.Canceled) {
		t.Errorf("finish %q err %v, want cancelled with context.Canceled", r.finish, r.err)
	}
	if r.stats.OutputTokens >= 120 {
		t.Errorf("generated %d tokens after cancel, want fewer than 120", r.stats.OutputTokens)
	}
	deadline = time.Now().Add(5 * time.Second)
	for e.State().KVUsed != 0 || e.State().Running != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("state after cancel = %+v, want an empty batch", e.State())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStateAfterDone: once a client has a request's final event, State
// (and so /metrics) no longer counts the request as running, whatever
// ended it. A sequence's last event used to go out before the step
// published its state, so a scrape right after a response could still see
// it running.
func TestStateAfterDone(t *testing.T) {
	beforePublish = func() { time.Sleep(2 * time.Millisecond) }
	t.Cleanup(func() { beforePublish = nil })
	m := synthetic(t)
	e := start(t, m, Config{Threads: 1})
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"length", greedy([]int{1, 2}, 1)},
		{"length after decode steps", greedy([]int{3}, 3)},
		{"stop", Request{Prompt: []int{5, 6}, MaxTokens: 10, Sampling: sample.Params{Greedy: true}, Stop: []string{"<"}}},
	} {
		for i := range 5 {
			ch, err := e.Submit(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			r := collect(t, ch)
			if r.finish == "" {
				t.Fatalf("%s: no final event", tc.name)
			}
			if s := e.State(); s.Running != 0 || s.KVUsed != 0 {
				t.Fatalf("%s, request %d: state after its final event (%s) = %+v, want nothing running", tc.name, i, r.finish, s)
			}
		}
	}
}

func TestStopSequenceAndText(t *testing.T) {
	m := synthetic(t)
	e := start(t, m, Config{Threads: 1})
	ch, err := e.Submit(context.Background(), greedy([]int{5, 6}, 10))
	if err != nil {
		t.Fatal(err)
	}
	full := collect(t, ch)
	if len(full.tokens) < 3 {
		t.Fatalf("want at least 3 tokens, got %v", full.tokens)
	}
	// Stop on the third token's text: the output is the first two tokens.
	stop := fmt.Sprintf("<%d>", full.tokens[2])
	ch, err = e.Submit(context.Background(), Request{Prompt: []int{5, 6}, MaxTokens: 10, Sampling: sample.Params{Greedy: true}, Stop: []string{stop}})
	if err != nil {
		t.Fatal(err)
	}
	r := collect(t, ch)
	want := fmt.Sprintf("<%d><%d>", full.tokens[0], full.tokens[1])
	if strings.Contains(fmt.Sprintf("<%d><%d>", full.tokens[0], full.tokens[1]), stop) {
		t.Skip("the stop text occurs earlier by chance")
	}
	if r.text != want || r.finish != FinishStop {
		t.Errorf("text %q finish %q, want %q and %q", r.text, r.finish, want, FinishStop)
	}
}

func TestSeededSamplingReproducible(t *testing.T) {
	m := synthetic(t)
	e := start(t, m, Config{MaxBatch: 4, Threads: 2})
	req := Request{Prompt: []int{10, 20, 30}, MaxTokens: 20, Sampling: sample.Params{Temperature: 1.5, TopK: 50, Seed: 42, HasSeed: true}}
	var runs [][]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		ch, err := e.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := collect(t, ch)
			mu.Lock()
			runs = append(runs, r.tokens)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range runs[1:] {
		if !slices.Equal(r, runs[0]) {
			t.Errorf("seeded runs differ: %v and %v", r, runs[0])
		}
	}
}

func TestShutdownEndsPending(t *testing.T) {
	m := synthetic(t)
	e, err := New(m, byteVocab{}, Config{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.Submit(context.Background(), greedy([]int{1}, 100))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatal(err)
	}
	r := collect(t, ch)
	if r.finish != FinishError || !errors.Is(r.err, ErrClosed) {
		t.Errorf("finish %q err %v, want error with ErrClosed", r.finish, r.err)
	}
	if _, err := e.Submit(context.Background(), greedy([]int{1}, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after shutdown: %v, want ErrClosed", err)
	}
}

// stepLog records when each step started.
type stepLog struct {
	mu     sync.Mutex
	starts []time.Time
}

func (l *stepLog) Step(s StepInfo) {
	l.mu.Lock()
	l.starts = append(l.starts, s.Start)
	l.mu.Unlock()
}

// after returns the starts of the steps that began after t.
func (l *stepLog) after(t time.Time) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Time
	for _, s := range l.starts {
		if s.After(t) {
			out = append(out, s)
		}
	}
	return out
}

// submitFixed submits a greedy request for exactly n tokens.
func submitFixed(t *testing.T, e *Engine, prompt []int, n int) <-chan Event {
	t.Helper()
	ch, err := e.Submit(context.Background(), Request{Prompt: prompt, MaxTokens: n, IgnoreEOS: true, Sampling: sample.Params{Greedy: true}})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestAdmitWait checks the hold after a step that finished a sequence: a
// request that arrives within AdmitWait joins the very next step, and with
// nobody arriving the running sequences lose AdmitWait once, not per step.
func TestAdmitWait(t *testing.T) {
	const turnaround = 30 * time.Millisecond // the client's time between its requests
	for _, tc := range []struct {
		name       string
		wait       time.Duration
		stepsFirst bool // steps run before the next request is admitted
	}{
		{"held for the next request", 500 * time.Millisecond, false},
		{"never held", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &stepLog{}
			e := startObserved(t, synthetic(t), Config{AdmitWait: tc.wait}, log)
			ctx := context.Background()
			long := submitFixed(t, e, []int{1, 2, 3}, 120)
			short := submitFixed(t, e, []int{4, 5}, 2)
			ended := collect(t, short).stats.Finished
			time.Sleep(turnaround)
			next, err := e.Submit(ctx, greedy([]int{6}, 1))
			if err != nil {
				t.Fatal(err)
			}
			admitted := collect(t, next).stats.Scheduled
			var between int
			for _, s := range log.after(ended) {
				if s.Before(admitted) {
					between++
				}
			}
			if got := between > 0; got != tc.stepsFirst {
				t.Errorf("%d steps ran between the end of one request and the admission of the next %v later; want steps: %v",
					between, admitted.Sub(ended), tc.stepsFirst)
			}
			if r := collect(t, long); r.err != nil || len(r.tokens) != 120 {
				t.Errorf("the running sequence: %d tokens, %v", len(r.tokens), r.err)
			}
		})
	}
}

// TestAdmitWaitBounded checks that with nobody arriving the hold ends after
// AdmitWait, once per step that finished a sequence.
func TestAdmitWaitBounded(t *testing.T) {
	const wait = 300 * time.Millisecond
	log := &stepLog{}
	e := startObserved(t, synthetic(t), Config{AdmitWait: wait}, log)
	long := submitFixed(t, e, []int{1, 2, 3}, 60)
	short := submitFixed(t, e, []int{4, 5}, 2)
	ended := collect(t, short).stats.Finished
	if r := collect(t, long); r.err != nil || len(r.tokens) != 60 {
		t.Fatalf("the running sequence: %d tokens, %v", len(r.tokens), r.err)
	}
	steps := log.after(ended)
	if len(steps) == 0 {
		t.Fatal("no step after the short request ended")
	}
	if held := steps[0].Sub(ended); held < wait {
		t.Errorf("the next step started %v after a sequence finished, want the hold of %v", held, wait)
	}
	gaps := 0
	for i := 1; i < len(steps); i++ {
		if steps[i].Sub(steps[i-1]) >= wait {
			gaps++
		}
	}
	if gaps > 0 {
		t.Errorf("%d later steps were held %v or more; only a step that finished a sequence may be", gaps, wait)
	}
}

// TestAdmitWaitRestarts checks that each arrival restarts the hold: two
// sequences finish together, their replacements arrive 0.6 and 1.2
// AdmitWaits later (the second after the first hold would have ended), and
// both join the same step, the first after the hold.
func TestAdmitWaitRestarts(t *testing.T) {
	const wait = 400 * time.Millisecond
	log := &stepLog{}
	e := startObserved(t, synthetic(t), Config{AdmitWait: wait}, log)
	ctx := context.Background()
	long := submitFixed(t, e, []int{1, 2, 3}, 40)
	var shorts []<-chan Event
	for _, p := range [][]int{{4, 5}, {6, 7}} {
		shorts = append(shorts, submitFixed(t, e, p, 2))
	}
	var ended time.Time
	for _, ch := range shorts {
		if f := collect(t, ch).stats.Finished; f.After(ended) {
			ended = f
		}
	}
	var next []<-chan Event
	for _, after := range []time.Duration{wait * 6 / 10, wait * 12 / 10} {
		time.Sleep(time.Until(ended.Add(after)))
		ch, err := e.Submit(ctx, greedy([]int{8}, 1))
		if err != nil {
			t.Fatal(err)
		}
		next = append(next, ch)
	}
	a, b := collect(t, next[0]).stats.Scheduled, collect(t, next[1]).stats.Scheduled
	var between int
	for _, s := range log.after(ended) {
		if s.Before(b) {
			between++
		}
	}
	if between > 0 {
		t.Errorf("%d steps ran before the second replacement, %v after the end, was admitted; want none (admitted %v and %v after it)",
			between, b.Sub(ended), a.Sub(ended), b.Sub(ended))
	}
	if r := collect(t, long); r.err != nil || len(r.tokens) != 40 {
		t.Errorf("the running sequence: %d tokens, %v", len(r.tokens), r.err)
	}
}

// TestSettle checks the yield between steps: with no other goroutine to
// run it stops because nothing is left to run, and while another goroutine
// keeps running it stops at the end of its budget. Its time is not
// asserted (make test asserts no timing), only a bound that a hang would
// break.
func TestSettle(t *testing.T) {
	const budget = 100 * time.Millisecond
	e, err := New(synthetic(t), byteVocab{}, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !e.settle(budget) {
		t.Errorf("with nothing else to run, settle ran out its budget, want it to stop at once")
	}

	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // always running or ready to run
		defer close(done)
		for !stop.Load() {
		}
	}()
	start := time.Now()
	settled := e.settle(budget)
	took := time.Since(start)
	stop.Store(true)
	<-done
	if settled {
		t.Errorf("with a goroutine always ready, settle said nothing else was running")
	}
	if took > time.Minute {
		t.Errorf("with a goroutine always ready, settle took %v, want it to end with its budget %v", took, budget)
	}
}

// FuzzSubmit: no prompt length, token id or max_tokens may panic Submit;
// what it accepts fits the context. max_tokens near the int's limit once
// wrapped a sum negative and panicked in makechan.
func FuzzSubmit(f *testing.F) {
	for _, seed := range []struct {
		prompt int
		tok    int
		max    int
	}{{3, 5, 10}, {1, 0, math.MaxInt}, {1, 0, math.MaxInt - 1}, {100, 7, math.MaxInt / 2}, {0, 0, 1}, {1, -1, 1}, {1, 1 << 30, 1}, {127, 1, 1}, {128, 1, 1}} {
		f.Add(seed.prompt, seed.tok, seed.max)
	}
	e, err := New(synthetic(f), byteVocab{}, Config{MaxBatch: 2}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, promptLen, tok, maxTokens int) {
		if promptLen < 0 || promptLen > 4096 {
			return
		}
		prompt := make([]int, promptLen)
		for i := range prompt {
			prompt[i] = tok
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := e.Submit(ctx, Request{Prompt: prompt, MaxTokens: maxTokens, Sampling: sample.Params{Greedy: true}})
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Submit(%d tokens, max_tokens %d): %v, want a bad-request or too-long error", promptLen, maxTokens, err)
			}
			return
		}
		if promptLen+maxTokens > tiny.NPositions || maxTokens < 1 {
			t.Fatalf("Submit accepted %d prompt tokens with max_tokens %d, the context holds %d", promptLen, maxTokens, tiny.NPositions)
		}
		_ = ch
	})
}

// TestConfigValidate: a setting that cannot work is refused by its flag's
// name, every one of them at once.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string // in the error; none for a valid config
	}{
		{Config{}, nil},
		{Config{MaxBatch: 16, StepTokens: 64}, nil},
		{Config{MaxBatch: -1}, []string{"max-batch is -1"}},
		{Config{MaxQueue: -2, Threads: -3}, []string{"max-queue is -2", "threads is -3"}},
		{Config{KVTokens: -5, StepTokens: -1}, []string{"kv-tokens is -5", "step-tokens is -1"}},
		{Config{MaxBatch: 32, StepTokens: 16}, []string{"step-tokens 16 is below max-batch 32"}},
	} {
		err := tc.cfg.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%+v: %v", tc.cfg, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want an error containing %q", tc.cfg, err, w)
			}
		}
	}
}
