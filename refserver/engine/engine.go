// Package engine is refserver's continuous-batching GPT-2 engine. One loop
// owns the model: at every step it admits waiting requests, then runs one
// batched forward pass that advances every running sequence by a token and
// feeds prompt chunks of the new ones (prefill), so the weights are read
// once per step for the whole batch. Finished and cancelled sequences leave
// the batch at the next step and their KV cache is freed.
package engine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/sample"
)

// beforePublish, when a test sets it, runs in each step just before the
// step publishes its state: it widens the window in which a reader could
// see a stale State.
var beforePublish func()

// Errors returned by Submit; test with errors.Is.
var (
	ErrQueueFull  = errors.New("engine queue is full")
	ErrClosed     = errors.New("engine is shut down")
	ErrTooLong    = errors.New("request does not fit the context")
	ErrBadRequest = errors.New("invalid request")
	errCancelled  = errors.New("request cancelled")
	defaultConfig = Config{MaxBatch: 8, MaxQueue: 64, StepTokens: 512, AdmitWait: 2 * time.Millisecond}
)

// Reasons a sequence finished, as Event.Finish.
const (
	FinishLength    = "length"    // max_tokens reached
	FinishStop      = "stop"      // a stop sequence was generated
	FinishEOS       = "eos"       // the model emitted end-of-text
	FinishCancelled = "cancelled" // the request's context ended
	FinishError     = "error"     // the engine failed or shut down
)

// Config tunes an Engine. The zero value of each field means its default:
// batches of 8 sequences, a queue of 64 waiting requests, 512 tokens per
// step, a KV cache for MaxBatch full contexts, and one kernel thread per
// CPU that Go may use.
type Config struct {
	MaxBatch   int // sequences running at once, e.g. 8
	MaxQueue   int // requests waiting for a batch slot, e.g. 64
	StepTokens int // most tokens one step processes; long prompts are prefilled in chunks, e.g. 512
	KVTokens   int // KV-cache budget in positions across running sequences; 0 means MaxBatch × n_positions
	Threads    int // kernel threads; 0 means GOMAXPROCS
	// AdmitWait is how long, after a step that finished sequences, the
	// engine holds the next step for the requests that replace them, each
	// arrival restarting it (4 × AdmitWait at most); 0 means 2 ms, negative
	// means never wait.
	AdmitWait time.Duration
	// NoCalibration skips Calibrate at start-up (refserver serve calls it
	// unless this is set): /health then reports no step costs, and the
	// analyzer falls back to fitting the run's own steps.
	NoCalibration bool
}

// RegisterFlags adds the engine's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxBatch, "max-batch", 0, "most sequences decoded together in one step (0: 8)")
	fs.IntVar(&c.MaxQueue, "max-queue", 0, "most requests waiting for a batch slot; more are refused (0: 64)")
	fs.IntVar(&c.StepTokens, "step-tokens", 0, "most tokens per engine step; longer prompts are prefilled in chunks (0: 512)")
	fs.IntVar(&c.KVTokens, "kv-tokens", 0, "KV-cache budget in token positions over all running sequences (0: max-batch × context)")
	fs.IntVar(&c.Threads, "threads", 0, "compute threads (0: all CPUs Go may use)")
	fs.DurationVar(&c.AdmitWait, "admit-wait", 0, "after a step that finished sequences, how long to hold the next step for the requests that replace them; each arrival restarts it, up to 4 times as long in all (0: 2ms; negative: never)")
	fs.BoolVar(&c.NoCalibration, "no-calibration", false, "skip timing decode steps of each batch size at start-up (about a second; the analyzer uses them to split decode time into a request's own and its batch's share)")
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max-batch", c.MaxBatch}, {"max-queue", c.MaxQueue}, {"step-tokens", c.StepTokens}, {"kv-tokens", c.KVTokens}, {"threads", c.Threads}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %d: want 0 (the default) or more", f.name, f.v))
		}
	}
	if d := c.withDefaults(1024); d.StepTokens < d.MaxBatch {
		errs = append(errs, fmt.Errorf("step-tokens %d is below max-batch %d: a step must fit one token per sequence", d.StepTokens, d.MaxBatch))
	}
	return errors.Join(errs...)
}

// WithDefaults returns c with its zero fields set to their defaults, for
// a model of nPositions positions.
func (c Config) WithDefaults(nPositions int) Config { return c.withDefaults(nPositions) }

func (c Config) withDefaults(nPositions int) Config {
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultConfig.MaxBatch
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = defaultConfig.MaxQueue
	}
	if c.StepTokens == 0 {
		c.StepTokens = max(defaultConfig.StepTokens, c.MaxBatch)
	}
	if c.KVTokens == 0 {
		c.KVTokens = c.MaxBatch * nPositions
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.AdmitWait == 0 {
		c.AdmitWait = defaultConfig.AdmitWait
	}
	return c
}

// Vocab gives the bytes of a token, for text and stop sequences.
type Vocab interface {
	TokenBytes(id int) []byte
}

// Request is one generation.
type Request struct {
	Prompt    []int         // token ids, at least one
	MaxTokens int           // tokens to generate, at least one
	Sampling  sample.Params // how each token is chosen
	Stop      []string      // stop sequences: generation ends before the first one
	IgnoreEOS bool          // keep generating past end-of-text (for benchmarks: fixed output lengths)
	// Tag is returned in StepInfo.Tags for every step this request is part
	// of, so an observer can link steps to requests (e.g. a span context).
	Tag any
}

// Event is one generated token, or the end of a request. Every request's
// channel ends with exactly one event that has Done set, then it is closed.
type Event struct {
	Token  int    // generated token id; -1 when the event carries none
	Text   string // text that is now complete: whole UTF-8 characters, stop sequences held back
	Done   bool
	Finish string // on the Done event: FinishLength, FinishStop, FinishEOS, FinishCancelled or FinishError
	Err    error  // on the Done event, when Finish is FinishCancelled or FinishError
	Stats  *Stats // on the Done event
}

// Stats are one request's timings and counts.
type Stats struct {
	PromptTokens int
	OutputTokens int
	Submitted    time.Time // Submit called
	Scheduled    time.Time // admitted into the running batch (zero if never)
	FirstToken   time.Time // first token sampled (zero if none)
	Finished     time.Time
	DecodeSteps  int           // steps after the first token
	Detokenize   time.Duration // time spent turning tokens into text, summed
	batchSum     int
}

// MeanBatch reports the mean number of sequences in the decode steps this
// request took part in.
func (s *Stats) MeanBatch() float64 {
	if s.DecodeSteps == 0 {
		return 0
	}
	return float64(s.batchSum) / float64(s.DecodeSteps)
}

// StepInfo describes one engine step, for tracing.
type StepInfo struct {
	Start    time.Time
	Duration time.Duration
	// CPU is the CPU time the whole process used during the step (its
	// compute threads, and whatever else ran meanwhile); 0 where the OS
	// does not say. Far less than Threads × Duration means the step's
	// threads waited for cores.
	CPU     time.Duration
	Device  string // where the step ran: the backend's device, e.g. cpu or cuda
	DType   string // the weights' type: f32, bf16, f16 or int8
	Prefill int    // prompt tokens processed
	Decode  int    // sequences advanced by one generated token
	Tags    []any  // Request.Tag of each sequence in the step
}

// StepObserver is told about every step. It runs on the engine loop and
// must return quickly.
type StepObserver interface {
	Step(StepInfo)
}

// State is a snapshot of the engine's live state.
type State struct {
	Running   int    // sequences in the batch
	Waiting   int    // requests queued
	BatchSize int    // sequences in the last step
	KVUsed    int    // KV positions reserved by running sequences
	KVTotal   int    // KV budget in positions
	Steps     uint64 // steps run so far
	// Busy is the wall time spent in steps so far, and BusyCPU the
	// process's CPU time during them.
	Busy    time.Duration
	BusyCPU time.Duration
}

// KVUsage reports the reserved share of the KV budget, 0 to 1.
func (s State) KVUsage() float64 {
	if s.KVTotal == 0 {
		return 0
	}
	return float64(s.KVUsed) / float64(s.KVTotal)
}

// Engine batches requests onto one model on one backend. Submit and State
// are safe for concurrent use; Run is the loop and must be called once.
type Engine struct {
	be       backend.Backend
	device   string // be's device, for the steps' spans
	dtype    string // be's weight type, for the steps' spans
	model    gpt2.Config
	ownsBE   bool // the engine made be (New) and closes it when Run ends
	vocab    Vocab
	cfg      Config
	observer StepObserver

	mu      sync.Mutex
	waiting []*seq
	closed  bool
	state   State
	wake    chan struct{}

	running []*seq // owned by the loop
	ended   []*seq // the step's finished sequences, reused
	freed   int    // sequences the last step finished; owned by the loop
	// pool samples the next tokens in parallel: the CPU backend's own, or
	// one the engine makes on first use; owned by the loop (Calibrate runs
	// before it).
	pool     *nn.Pool
	ownsPool bool
	rows     []backend.Row // reused by step
	costs    []CostPoint   // Calibrate's result, under mu
	// sched are the scheduler's runnable and running goroutine counts,
	// read by settle; owned by the loop.
	sched [2]metrics.Sample
}

// New returns an engine for m on the CPU, with Config.Threads kernel
// threads; Run closes the backend it makes. observer may be nil.
func New(m *gpt2.Model, vocab Vocab, cfg Config, observer StepObserver) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := cfg.withDefaults(m.Config.NPositions)
	e, err := NewOn(backend.NewCPU(m, d.Threads, d.StepTokens), vocab, cfg, observer)
	if err != nil {
		return nil, err
	}
	e.ownsBE = true
	return e, nil
}

// NewOn returns an engine for the model that b runs; the caller closes b
// after Run returns. observer may be nil.
func NewOn(b backend.Backend, vocab Vocab, cfg Config, observer StepObserver) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(b.Config().NPositions)
	return &Engine{be: b, device: b.Info().Device, dtype: b.Info().DType, model: b.Config(), vocab: vocab, cfg: cfg, observer: observer,
		wake:  make(chan struct{}, 1),
		state: State{KVTotal: cfg.KVTokens},
		sched: [2]metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}, {Name: "/sched/goroutines/running:goroutines"}}}, nil
}

// Backend returns what the engine runs on.
func (e *Engine) Backend() backend.Backend { return e.be }

// Config returns the engine's settings with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// State returns a snapshot of the live state.
func (e *Engine) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.state
	s.Waiting = len(e.waiting)
	return s
}

type seq struct {
	ctx     context.Context
	req     Request
	out     chan Event
	tokens  []int // prompt, then generated
	cached  int   // positions in the KV cache
	cache   backend.Cache
	sampler *sample.Sampler
	text    textOut
	stats   Stats
	ending  string // the finish reason emit chose; the step sends it after publishing its state
}

// Submit queues a request. It returns the channel of its events, or an
// error at once: ErrBadRequest or ErrTooLong for a request that can never
// run, ErrQueueFull when the queue is full, ErrClosed after shutdown. The
// request is cancelled when ctx ends.
func (e *Engine) Submit(ctx context.Context, req Request) (<-chan Event, error) {
	if err := e.check(req); err != nil {
		return nil, err
	}
	s := &seq{ctx: ctx, req: req,
		out:    make(chan Event, req.MaxTokens+1),
		tokens: append(make([]int, 0, len(req.Prompt)+req.MaxTokens), req.Prompt...),
		text:   textOut{stops: req.Stop},
		stats:  Stats{PromptTokens: len(req.Prompt), Submitted: time.Now()},
	}
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return nil, ErrClosed
	case len(e.waiting) >= e.cfg.MaxQueue:
		e.mu.Unlock()
		return nil, fmt.Errorf("%w (%d requests waiting)", ErrQueueFull, e.cfg.MaxQueue)
	}
	e.waiting = append(e.waiting, s)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return s.out, nil
}

func (e *Engine) check(req Request) error {
	c := e.model
	if len(req.Prompt) == 0 {
		return fmt.Errorf("%w: the prompt is empty", ErrBadRequest)
	}
	for _, id := range req.Prompt {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("%w: token id %d is outside the vocabulary (0..%d)", ErrBadRequest, id, c.VocabSize-1)
		}
	}
	if req.MaxTokens <= 0 {
		return fmt.Errorf("%w: max_tokens is %d, want at least 1", ErrBadRequest, req.MaxTokens)
	}
	if err := req.Sampling.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if n := len(req.Prompt); n >= c.NPositions {
		return fmt.Errorf("%w: the prompt has %d tokens and the context holds %d", ErrTooLong, n, c.NPositions)
	}
	// Compare without adding: a max_tokens near the int's limit would wrap
	// the sum negative and pass.
	if room := c.NPositions - len(req.Prompt); req.MaxTokens > room {
		return fmt.Errorf("%w: %d prompt tokens + max_tokens %d exceed the context of %d (max_tokens can be at most %d)",
			ErrTooLong, len(req.Prompt), req.MaxTokens, c.NPositions, room)
	}
	if n := len(req.Prompt) + req.MaxTokens; n > e.cfg.KVTokens {
		return fmt.Errorf("%w: %d positions exceed the KV-cache budget of %d", ErrTooLong, n, e.cfg.KVTokens)
	}
	return nil
}

// Run is the engine loop. It returns when ctx ends, after finishing every
// queued and running request with FinishError and ErrClosed.
func (e *Engine) Run(ctx context.Context) error {
	pool := e.samplers()
	defer func() {
		if e.ownsPool {
			pool.Close()
		}
		if e.ownsBE {
			e.be.Close()
		}
	}()
	defer e.shutdown()
	for {
		if ctx.Err() != nil {
			return nil
		}
		e.dropCancelled()
		e.admit()
		if e.freed > 0 {
			e.awaitArrivals(ctx)
			e.admit()
		}
		if len(e.running) == 0 {
			e.publish(0, nil)
			select {
			case <-e.wake:
			case <-ctx.Done():
			}
			continue
		}
		if err := e.step(pool); err != nil {
			return err
		}
	}
}

// samplers returns the threads that sample the next tokens: the
// backend's own pool when it has one (the CPU's), else one the engine
// makes on first use.
func (e *Engine) samplers() *nn.Pool {
	if e.pool == nil {
		if p, ok := e.be.(interface{ Pool() *nn.Pool }); ok {
			e.pool = p.Pool()
		} else {
			e.pool, e.ownsPool = nn.NewPool(e.cfg.Threads), true
		}
	}
	return e.pool
}

// shutdown refuses new requests and ends every pending one.
func (e *Engine) shutdown() {
	e.mu.Lock()
	e.closed = true
	pending := append(e.waiting, e.running...)
	e.waiting = nil
	e.mu.Unlock()
	for _, s := range pending {
		e.finish(s, FinishError, ErrClosed)
	}
	e.running = nil
	e.publish(0, nil)
}

// dropCancelled removes the requests whose context has ended, running or
// waiting, and frees their caches.
func (e *Engine) dropCancelled() {
	keep := e.running[:0]
	for _, s := range e.running {
		if err := s.ctx.Err(); err != nil {
			e.finish(s, FinishCancelled, fmt.Errorf("%w: %w", errCancelled, err))
			continue
		}
		keep = append(keep, s)
	}
	clear(e.running[len(keep):])
	e.running = keep
	e.mu.Lock()
	var dropped []*seq
	wait := e.waiting[:0]
	for _, s := range e.waiting {
		if s.ctx.Err() != nil {
			dropped = append(dropped, s)
			continue
		}
		wait = append(wait, s)
	}
	clear(e.waiting[len(wait):])
	e.waiting = wait
	e.mu.Unlock()
	for _, s := range dropped {
		e.finish(s, FinishCancelled, fmt.Errorf("%w: %w", errCancelled, s.ctx.Err()))
	}
}

// awaitArrivals holds the loop after a step that finished sequences, until
// requests wait for the slots they freed, or AdmitWait passes without a new
// arrival (and at most 4 × AdmitWait in all). A client that sends its next
// request when the last one ends (a closed loop, a chat turn) reaches the
// queue a little after the step that ended it; without the wait the next
// step starts without that request, which then waits a whole step more.
// Clients that finished together arrive one after another, so each arrival
// restarts the wait. The wait costs the running sequences at most AdmitWait
// per step that finished one when nobody comes, and nothing while the queue
// holds requests or the batch is full.
func (e *Engine) awaitArrivals(ctx context.Context) {
	want := min(e.freed, e.cfg.MaxBatch-len(e.running))
	e.freed = 0
	if e.cfg.AdmitWait < 0 || want <= 0 {
		return
	}
	var idle, limit *time.Timer
	seen := -1
	for {
		e.mu.Lock()
		n := len(e.waiting)
		e.mu.Unlock()
		if n >= want {
			return
		}
		if idle == nil {
			idle, limit = time.NewTimer(e.cfg.AdmitWait), time.NewTimer(4*e.cfg.AdmitWait)
			defer idle.Stop()
			defer limit.Stop()
		} else if n > seen {
			idle.Reset(e.cfg.AdmitWait)
		}
		seen = n
		select {
		case <-e.wake:
		case <-idle.C:
			return
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// admit moves waiting requests into the batch, in order, while there is a
// batch slot and KV budget for them.
func (e *Engine) admit() {
	e.mu.Lock()
	defer e.mu.Unlock()
	used := e.kvUsed()
	for len(e.waiting) > 0 && len(e.running) < e.cfg.MaxBatch {
		s := e.waiting[0]
		need := len(s.req.Prompt) + s.req.MaxTokens
		if used+need > e.cfg.KVTokens {
			break
		}
		cache, err := e.be.NewCache(need)
		if err != nil { // checked in Submit; kept as a guard
			e.waiting = e.waiting[1:]
			e.finish(s, FinishError, err)
			continue
		}
		s.cache = cache
		s.sampler = sample.New(s.req.Sampling, e.model.VocabSize)
		s.stats.Scheduled = time.Now()
		e.waiting = e.waiting[1:]
		e.running = append(e.running, s)
		used += need
	}
}

func (e *Engine) kvUsed() int {
	n := 0
	for _, s := range e.running {
		n += s.cache.Cap()
	}
	return n
}

// step runs one forward pass: one token for every decoding sequence, then
// prompt chunks for the prefilling ones, within StepTokens.
func (e *Engine) step(pool *nn.Pool) error {
	start := time.Now()
	cpu0, _ := hostcpu.ProcessCPU()
	rows := e.rows[:0]
	var withLogits []*seq
	var tags []any
	type feed struct {
		s *seq
		n int
	}
	var fed []feed
	budget := e.cfg.StepTokens
	decode, prefill := 0, 0
	// Decoding sequences first, so a long prompt never stalls them.
	for _, s := range e.running {
		if s.stats.OutputTokens > 0 {
			rows = append(rows, backend.Row{Cache: s.cache, Pos: s.cached, Token: s.tokens[s.cached], Logits: true})
			withLogits = append(withLogits, s)
			fed = append(fed, feed{s, 1})
			tags = append(tags, s.req.Tag)
			budget--
			decode++
		}
	}
	for _, s := range e.running {
		if s.stats.OutputTokens > 0 || budget == 0 {
			continue
		}
		n := min(len(s.tokens)-s.cached, budget)
		for i := 0; i < n; i++ {
			pos := s.cached + i
			rows = append(rows, backend.Row{Cache: s.cache, Pos: pos, Token: s.tokens[pos], Logits: pos == len(s.tokens)-1})
		}
		if s.cached+n == len(s.tokens) {
			withLogits = append(withLogits, s)
		}
		fed = append(fed, feed{s, n})
		tags = append(tags, s.req.Tag)
		budget -= n
		prefill += n
	}
	e.rows = rows
	logits, err := e.be.Forward(rows)
	if err != nil {
		return fmt.Errorf("engine step: %w", err)
	}
	for _, f := range fed {
		f.s.cached += f.n
	}
	batch := len(e.running)
	now := time.Now()
	// Sampling a 50k vocabulary costs up to about a hundred microseconds
	// per sequence (top-p; temperature alone 60, greedy 1.5), so the
	// sequences sample in parallel; each has its own RNG.
	next := make([]int, len(withLogits))
	pool.For(len(withLogits), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			next[i] = withLogits[i].sampler.Next(logits[i])
		}
	})
	for i, s := range withLogits {
		e.emit(s, next[i], now, batch)
	}
	keep, ended := e.running[:0], e.ended[:0]
	for _, s := range e.running {
		if s.ending == "" {
			keep = append(keep, s)
		} else {
			ended = append(ended, s)
		}
	}
	clear(e.running[len(keep):])
	e.freed = len(e.running) - len(keep)
	e.running = keep
	info := StepInfo{Start: start, Duration: time.Since(start), Device: e.device, DType: e.dtype, Prefill: prefill, Decode: decode, Tags: tags}
	if cpu1, ok := hostcpu.ProcessCPU(); ok {
		info.CPU = cpu1 - cpu0
	}
	if beforePublish != nil {
		beforePublish()
	}
	e.publish(batch, &info)
	// The sequences that ended get their last event only now, so that a
	// client who has its whole answer never reads a State (or /metrics)
	// that still counts it as running.
	for _, s := range ended {
		e.finish(s, s.ending, nil)
	}
	clear(ended)
	e.ended = ended
	if e.observer != nil {
		e.observer.Step(info)
	}
	// Let the goroutines this step woke (whoever streams the tokens), and
	// those the network has news for (the next requests), run now, between
	// steps, rather than wait for the end of the next one: the workers park,
	// which leaves an idle P that polls the network, and this goroutine
	// yields until they are done (settle).
	pool.Rest()
	e.settle(time.Since(start) / 20)
	return nil
}

// settle yields until no other goroutine is running or ready to run, or
// for at most budget. The goroutines a step wakes (handlers writing the new
// tokens, and on a shared machine their readers) then finish on both cores
// before the next step needs them, rather than delay its parallel loops
// one goroutine at a time. It reads two scheduler counters per yield
// (runtime/metrics, about 150 ns); with nothing else to run it returns
// after one yield. It reports whether it stopped because nothing else
// was left to run (true) rather than at the end of its budget, or because
// the runtime does not measure the counters (both false).
func (e *Engine) settle(budget time.Duration) (settled bool) {
	deadline := time.Now().Add(budget)
	for {
		runtime.Gosched()
		metrics.Read(e.sched[:])
		runnable, running := e.sched[0].Value, e.sched[1].Value
		if runnable.Kind() != metrics.KindUint64 || running.Kind() != metrics.KindUint64 {
			return false // not measured by this runtime
		}
		if runnable.Uint64() == 0 && running.Uint64() <= 1 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
	}
}

// emit sends s's next token and, when s is done, sets s.ending to the
// reason; the step then takes s out of the batch and finishes it.
func (e *Engine) emit(s *seq, tok int, now time.Time, batch int) {
	if s.stats.OutputTokens == 0 {
		s.stats.FirstToken = now
	} else {
		s.stats.DecodeSteps++
		s.stats.batchSum += batch
	}
	s.stats.OutputTokens++
	if tok == e.model.EOSTokenID && !s.req.IgnoreEOS {
		s.ending = FinishEOS
		return
	}
	s.tokens = append(s.tokens, tok)
	t0 := time.Now()
	text, stopped := s.text.push(e.vocab.TokenBytes(tok))
	s.stats.Detokenize += time.Since(t0)
	switch {
	case stopped:
		s.out <- Event{Token: tok, Text: text}
		s.ending = FinishStop
	case s.stats.OutputTokens >= s.req.MaxTokens:
		s.out <- Event{Token: tok, Text: text}
		s.ending = FinishLength
	default:
		s.out <- Event{Token: tok, Text: text}
	}
}

// finish sends s's final event, closes its channel and frees its cache.
func (e *Engine) finish(s *seq, reason string, err error) {
	text := ""
	if reason != FinishStop {
		t0 := time.Now()
		text = s.text.flush()
		s.stats.Detokenize += time.Since(t0)
	}
	s.stats.Finished = time.Now()
	stats := s.stats
	s.out <- Event{Token: -1, Text: text, Done: true, Finish: reason, Err: err, Stats: &stats}
	close(s.out)
	if s.cache != nil {
		s.cache.Release() // a device's memory comes back now, not at the next GC
	}
	s.cache = nil
}

// publish updates the snapshot State returns; a step, when not nil, is
// counted.
func (e *Engine) publish(batch int, step *StepInfo) {
	e.mu.Lock()
	e.state.Running = len(e.running)
	e.state.BatchSize = batch
	e.state.KVUsed = e.kvUsed()
	if step != nil {
		e.state.Steps++
		e.state.Busy += step.Duration
		e.state.BusyCPU += step.CPU
	}
	e.mu.Unlock()
}
