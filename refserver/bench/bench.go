package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/cuda"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/sample"
)

// Config is `llmbench-dev refserver-bench`. The zero value benchmarks synthetic
// GPT-2 124M on every CPU Go may use.
type Config struct {
	Model       refserver.ModelConfig
	Threads     int    // compute threads; 0 means GOMAXPROCS
	Out         string // also write the results as JSON to this file
	Quick       bool   // fewer repetitions and shorter runs (for smoke tests)
	HTTP        bool   // also run the HTTP benchmark (1, 4, 8 and 16 streaming clients)
	OnlyHTTP    bool   // run the HTTP benchmark alone
	HTTPClients string // comma-separated concurrency levels of the HTTP benchmark; empty: 1,4,8,16
	HTTPRounds  int    // requests per client in the HTTP benchmark; 0 means 4
	HTTPPairs   int    // engine/HTTP pairs of runs per concurrency; 0 means 4
	CPUProfile  string // write a CPU profile of the whole run here
	// Device, GPU and DType put the HTTP benchmark's engine on a GPU
	// (--only-http --device cuda); the other measurements are the CPU's.
	Device string
	GPU    int
	DType  string
	// KVDType is the CPU engine's KV cache type; "" follows the weights.
	KVDType string
}

// RegisterFlags adds bench's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Model.RegisterFlags(fs)
	fs.IntVar(&c.Threads, "threads", 0, "compute threads (0: all CPUs Go may use)")
	fs.StringVar(&c.Out, "out", "", "also write the results as JSON to this file")
	fs.BoolVar(&c.Quick, "quick", false, "fewer repetitions and shorter runs: a smoke test, not a measurement")
	fs.BoolVar(&c.HTTP, "http", false, "also run the HTTP benchmark: 1, 4, 8 and 16 streaming clients, engine vs HTTP")
	fs.BoolVar(&c.OnlyHTTP, "only-http", false, "run the HTTP benchmark alone")
	fs.StringVar(&c.HTTPClients, "http-clients", "1,4,8,16", "concurrency levels of the HTTP benchmark")
	fs.IntVar(&c.HTTPRounds, "http-rounds", 4, "requests per client in each HTTP benchmark run (more: steadier figures, longer run)")
	fs.IntVar(&c.HTTPPairs, "http-pairs", 4, "engine/HTTP pairs of runs per concurrency, in alternating order; the overhead is the median of their ratios")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&c.Device, "device", "cpu", "with --only-http: cpu, or cuda to run the engine on a GPU")
	fs.IntVar(&c.GPU, "gpu", 0, "with --device cuda: the CUDA device ordinal")
	fs.StringVar(&c.DType, "dtype", "", "the weights' type: on the CPU f32 (default), bf16, f16 or int8; a list (f32,bf16,int8) or all measures each, interleaved, in a dtype table; with --device cuda f16 (default), bf16 or f32")
	fs.StringVar(&c.KVDType, "kv-dtype", "", "the CPU engine's KV cache type: f32, f16 or int8; empty follows the weights (f32 with f32, f16 with bf16 or f16, int8 with int8); --dtype all measures int8 with both")
}

// Result is what `llmbench-dev refserver-bench` measured, in one process.
type Result struct {
	Machine       string  `json:"machine"`
	Kernels       string  `json:"kernels"`
	Threads       int     `json:"threads"`
	Model         string  `json:"model"`
	KVDType       string  `json:"kv_dtype,omitempty"` // the CPU engine's KV cache type
	WeightBytes   int64   `json:"weight_bytes"`
	BandwidthGBs  float64 `json:"bandwidth_gb_s"`
	FloorMs       float64 `json:"floor_ms"`
	DecodeStepMs  float64 `json:"decode_step_ms"`  // median, one sequence
	DecodeVsFloor float64 `json:"decode_vs_floor"` // median of the per-pair ratios
	// DecodeVsFloorMin and Max are the range of the per-pair ratios.
	DecodeVsFloorMin float64      `json:"decode_vs_floor_min"`
	DecodeVsFloorMax float64      `json:"decode_vs_floor_max"`
	Prefill128Ms     float64      `json:"prefill_128_ms"` // median
	SingleTokS       float64      `json:"single_tok_s"`   // one stream through the engine
	Batch8TokS       float64      `json:"batch8_tok_s"`   // eight streams through the engine, in total
	Batch8Ratio      float64      `json:"batch8_ratio"`
	PeakRSSGiB       float64      `json:"peak_rss_gib"` // 8 sequences of 1024 tokens
	Context8x1024    float64      `json:"context_8x1024_s"`
	HTTP             []HTTPResult `json:"http,omitempty"`
	// DTypes are the weight types' figures of a --dtype run of several.
	DTypes []DTypeResult `json:"dtypes,omitempty"`
}

// Bench measures the engine against the machine it runs on, in one run:
// the memory bandwidth (the floor of a decode step, which must stream every
// weight), a single-stream decode step, a 128-token prefill, engine
// throughput with 1 and 8 concurrent sequences, and peak memory with 8
// sequences of 1024 tokens. It prints each figure beside its target.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	m, err := cfg.Model.Load(io.Discard)
	if err != nil {
		return err
	}
	var precs []precision
	if !cfg.OnlyHTTP || cfg.Device != "cuda" {
		var kv nn.DType
		if cfg.KVDType != "" {
			if kv, err = refserver.ParseKVDType(cfg.KVDType); err != nil {
				return err
			}
		}
		switch {
		case cfg.DType != "":
			if precs, err = parsePrecisions(cfg.DType, kv); err != nil {
				return err
			}
		case kv != "":
			precs = []precision{{nn.F32, nn.ActDefault, kv}}
		}
		if len(precs) == 1 {
			if err := convert(m, precs[0]); err != nil {
				return err
			}
		}
	}
	tok, err := bpe.New()
	if err != nil {
		return err
	}
	res := Result{Machine: machine(), Kernels: nn.Kernels(), Threads: threads,
		Model: describe(m), WeightBytes: m.WeightBytes()}
	if len(precs) <= 1 && (!cfg.OnlyHTTP || cfg.Device != "cuda") {
		res.KVDType = m.KVType() // a dtype table says each row's
	}
	kvNote := ""
	if res.KVDType != "" {
		kvNote = ", KV cache " + res.KVDType
	}
	fmt.Fprintf(w, "machine: %s\nkernels: %s, %d threads\nmodel:   %s%s, %.0f MB of weights streamed per decode step\n\n",
		res.Machine, res.Kernels, threads, res.Model, kvNote, float64(res.WeightBytes)/1e6)
	reps := 7
	if cfg.Quick {
		reps = 2
	}
	step := func(name string) { fmt.Fprintf(w, "  measuring %s...\n", name) }

	if cfg.OnlyHTTP {
		return benchHTTPOnly(ctx, cfg, m, tok, threads, w, res, step)
	}
	if len(precs) > 1 {
		return benchDTypes(ctx, cfg, precs, m, tok, threads, w, res, step)
	}
	// Memory first, so the peak resident size is the engine's alone.
	step("peak memory with 8 sequences of 1024 tokens")
	ctxLen := min(1024, m.Config.NPositions)
	if cfg.Quick {
		ctxLen = min(ctxLen, 64)
	}
	start := time.Now()
	if _, err := runEngine(ctx, m, tok, threads, 8, ctxLen-24, 24); err != nil {
		return err
	}
	res.Context8x1024 = time.Since(start).Seconds()
	res.PeakRSSGiB = peakRSS() / (1 << 30)

	pool := nn.NewPool(threads)
	defer pool.Close()
	r := gpt2.NewRunner(m, pool, 512)

	// The host's bandwidth moves by 2× within minutes on a shared machine,
	// so the floor is read beside each decode step, in alternating pairs,
	// and the ratio is the median of the pairs' (issue 22).
	step("single-stream decode step against the bandwidth floor, in pairs")
	decodeSteps := 64
	if cfg.Quick {
		decodeSteps = 8
	}
	pairs, err := stepsVsFloor(r, m, int(res.WeightBytes/4), threads, decodeSteps)
	if err != nil {
		return err
	}
	res.DecodeStepMs, res.BandwidthGBs, res.DecodeVsFloor = pairs.stepMs, pairs.bandwidthGBs, pairs.ratio
	res.DecodeVsFloorMin, res.DecodeVsFloorMax = pairs.ratioMin, pairs.ratioMax
	res.FloorMs = float64(res.WeightBytes) / (res.BandwidthGBs * 1e9) * 1e3
	if ctx.Err() != nil {
		return ctx.Err()
	}

	step("prefill of 128 tokens")
	if res.Prefill128Ms, err = prefill(r, m, min(128, m.Config.NPositions), reps); err != nil {
		return err
	}
	pool.Close()

	outTokens := 128
	if cfg.Quick {
		outTokens = 16
	}
	step("engine throughput, 1 sequence")
	one, err := runEngine(ctx, m, tok, threads, 1, 32, outTokens)
	if err != nil {
		return err
	}
	res.SingleTokS = one.TokS
	step("engine throughput, 8 sequences")
	eight, err := runEngine(ctx, m, tok, threads, 8, 32, outTokens)
	if err != nil {
		return err
	}
	res.Batch8TokS = eight.TokS
	res.Batch8Ratio = res.Batch8TokS / res.SingleTokS

	if cfg.HTTP {
		if res.HTTP, err = runHTTPBench(ctx, cfg, m, tok, threads, step); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	report(w, res)
	if len(res.HTTP) > 0 {
		reportHTTP(w, res.HTTP)
	}
	return writeResult(cfg.Out, res)
}

func runHTTPBench(ctx context.Context, cfg Config, m *gpt2.Model, tok *bpe.Tokenizer, threads int, step func(string)) ([]HTTPResult, error) {
	clients, rounds, prompt, out := []int{1, 4, 8, 16}, 4, 128, 64
	if cfg.HTTPRounds > 0 {
		rounds = cfg.HTTPRounds
	}
	if cfg.HTTPClients != "" {
		var err error
		if clients, err = parseInts(cfg.HTTPClients); err != nil {
			return nil, fmt.Errorf("--http-clients: %w", err)
		}
	}
	if cfg.Quick {
		clients, rounds, prompt, out = []int{1, 8}, 1, min(16, m.Config.NPositions/4), 4
	}
	pairs := 4
	if cfg.HTTPPairs > 0 {
		pairs = cfg.HTTPPairs
	}
	if cfg.Quick {
		pairs = 1
	}
	mk := func() (*engine.Engine, error) {
		return engine.New(m, tok, engine.Config{Threads: threads, NoCalibration: true}, nil)
	}
	switch cfg.Device {
	case "", "cpu":
	case "cuda":
		if !cfg.OnlyHTTP {
			return nil, errors.New("--device cuda: only the HTTP benchmark runs on a GPU; add --only-http (llmbench-dev device-bench measures the engine on a GPU)")
		}
		ec := engine.Config{NoCalibration: true}.WithDefaults(m.Config.NPositions)
		g, err := cuda.Open(cuda.Config{Device: cfg.GPU, DType: cfg.DType, MaxRows: ec.StepTokens, Slots: ec.MaxBatch}, m)
		if err != nil {
			return nil, err
		}
		defer g.Close()
		mk = func() (*engine.Engine, error) { return engine.NewOn(g, tok, engine.Config{NoCalibration: true}, nil) }
	default:
		return nil, fmt.Errorf("--device %q: want cpu or cuda", cfg.Device)
	}
	return benchHTTP(ctx, m, tok, mk, clients, rounds, pairs, prompt, out, func(s string) { step("HTTP: " + s) })
}

func benchHTTPOnly(ctx context.Context, cfg Config, m *gpt2.Model, tok *bpe.Tokenizer, threads int, w io.Writer, res Result, step func(string)) error {
	var err error
	if res.HTTP, err = runHTTPBench(ctx, cfg, m, tok, threads, step); err != nil {
		return err
	}
	reportHTTP(w, res.HTTP)
	return writeResult(cfg.Out, res)
}

func writeResult(path string, res Result) error {
	if path == "" {
		return nil
	}
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write bench results: %w", err)
	}
	return nil
}

func report(w io.Writer, r Result) {
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "%-44s %12s   %s\n", "measure", "figure", "target")
	line := func(name, fig, target string) { fmt.Fprintf(w, "%-44s %12s   %s\n", name, fig, target) }
	line("memory bandwidth (read, all threads; median of the reads beside the steps)", fmt.Sprintf("%.1f GB/s", r.BandwidthGBs), "")
	line("decode floor (weights / bandwidth)", fmt.Sprintf("%.1f ms", r.FloorMs), "")
	line("single-stream decode step (median)", fmt.Sprintf("%.1f ms", r.DecodeStepMs), "")
	line("  step / floor (median of the pairs)", fmt.Sprintf("%.2f× [%.2f–%.2f]", r.DecodeVsFloor, r.DecodeVsFloorMin, r.DecodeVsFloorMax), "≤ 1.40× "+mark(r.DecodeVsFloor <= 1.4))
	line("prefill, 128 tokens (median)", fmt.Sprintf("%.0f ms", r.Prefill128Ms), "≤ 200 ms "+mark(r.Prefill128Ms <= 200))
	line("engine, 1 sequence", fmt.Sprintf("%.1f tok/s", r.SingleTokS), "")
	line("engine, 8 sequences (total)", fmt.Sprintf("%.1f tok/s", r.Batch8TokS), "≥ 150 tok/s "+mark(r.Batch8TokS >= 150))
	line("  8 sequences / 1 sequence", fmt.Sprintf("%.2f×", r.Batch8Ratio), "≥ 3.5× "+mark(r.Batch8Ratio >= 3.5))
	line("peak RSS, 8 sequences × 1024 tokens", fmt.Sprintf("%.2f GiB", r.PeakRSSGiB), "≤ 1.5 GiB "+mark(r.PeakRSSGiB <= 1.5))
	line("  time to run them (prefill + 24 tokens)", fmt.Sprintf("%.1f s", r.Context8x1024), "")
}

// readRate streams buf with threads readers once and returns the read
// rate in GB/s.
func readRate(buf []float32, threads int, sink *float32) float64 {
	n := len(buf)
	var wg sync.WaitGroup
	sums := make([]float32, threads)
	start := time.Now()
	for t := range threads {
		wg.Go(func() { sums[t] = nn.Sum(buf[t*n/threads : (t+1)*n/threads]) })
	}
	wg.Wait()
	*sink += sums[0]
	return float64(4*n) / time.Since(start).Seconds() / 1e9
}

type floorPairs struct {
	stepMs, bandwidthGBs      float64
	ratio, ratioMin, ratioMax float64
}

// floorPairs is stepsVsFloor's result: medians, and the ratios' range.
// floorRaw holds the pairs themselves, to be gathered over rounds.
type floorRaw struct{ stepMs, rates, ratios []float64 }

func (f *floorRaw) add(o floorRaw) {
	f.stepMs, f.rates, f.ratios = append(f.stepMs, o.stepMs...), append(f.rates, o.rates...), append(f.ratios, o.ratios...)
}

func (f floorRaw) summary() floorPairs {
	return floorPairs{stepMs: median(f.stepMs), bandwidthGBs: median(f.rates), ratio: median(f.ratios),
		ratioMin: slices.Min(f.ratios), ratioMax: slices.Max(f.ratios)}
}

// stepsVsFloor times steps one-sequence decode steps after a 32-token
// prompt, each right after a read of n floats (the weights' size) that
// gives the floor it is compared with: step ÷ (weight bytes ÷ that read's
// rate). It returns the medians of the steps, the rates and the per-pair
// ratios, so that the host's bandwidth moving between the two kinds of
// measurement cannot make the ratio.
func stepsVsFloor(r *gpt2.Runner, m *gpt2.Model, n, threads, steps int) (floorPairs, error) {
	buf := make([]float32, n)
	fr, err := stepsVsFloorRaw(r, m, buf, threads, steps)
	if err != nil {
		return floorPairs{}, err
	}
	return fr.summary(), nil
}

// stepsVsFloorRaw is stepsVsFloor's measurement, reading buf (at least the
// weights' size; only that much is read for each floor).
func stepsVsFloorRaw(r *gpt2.Runner, m *gpt2.Model, buf []float32, threads, steps int) (floorRaw, error) {
	buf = buf[:m.WeightBytes()/4]
	for i := range buf {
		buf[i] = 1
	}
	var sink float32
	readRate(buf, threads, &sink) // page the buffer in
	c, err := m.NewCache(min(32+steps+1, m.Config.NPositions))
	if err != nil {
		return floorRaw{}, err
	}
	rows := make([]gpt2.Row, 32)
	for i := range rows {
		rows[i] = gpt2.Row{Cache: c, Pos: i, Token: (i * 7919) % m.Config.VocabSize, Logits: i == 31}
	}
	out, err := r.Forward(rows)
	if err != nil {
		return floorRaw{}, err
	}
	next := sample.Argmax(out[0])
	weightBytes := float64(m.WeightBytes())
	var fr floorRaw
	for i := 0; i < steps && 32+i < m.Config.NPositions; i++ {
		rate := readRate(buf, threads, &sink)
		start := time.Now()
		out, err := r.Forward([]gpt2.Row{{Cache: c, Pos: 32 + i, Token: next, Logits: true}})
		if err != nil {
			return floorRaw{}, err
		}
		ms := time.Since(start).Seconds() * 1e3
		next = sample.Argmax(out[0])
		fr.stepMs, fr.rates = append(fr.stepMs, ms), append(fr.rates, rate)
		fr.ratios = append(fr.ratios, ms/(weightBytes/(rate*1e9)*1e3))
	}
	if sink == 0 {
		panic("bandwidth: buffer read as zeros")
	}
	return fr, nil
}

// prefill times a prompt of n tokens, up to its first logits, and returns
// the median in ms.
func prefill(r *gpt2.Runner, m *gpt2.Model, n, reps int) (float64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var times []float64
	for range reps {
		c, err := m.NewCache(n)
		if err != nil {
			return 0, err
		}
		rows := make([]gpt2.Row, n)
		for i := range rows {
			rows[i] = gpt2.Row{Cache: c, Pos: i, Token: rng.IntN(m.Config.VocabSize), Logits: i == n-1}
		}
		start := time.Now()
		if _, err := r.Forward(rows); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start).Seconds()*1e3)
	}
	return stats.Percentile(slices.Sorted(slices.Values(times)), 50), nil
}

// engineRun is what runEngine measured: output tokens per second over the
// whole run, prefill included (TokS); the decode tokens per second of its
// steps without prompt rows, over their own time (DecodeTokS); and the
// share of the run's time its steps with prompt rows took (PrefillFrac).
type engineRun struct {
	TokS, DecodeTokS, PrefillFrac float64
}

// stepSums adds up an engine's steps: those with prompt rows, and the
// others with their decode tokens.
type stepSums struct {
	mu             sync.Mutex
	prefill, other time.Duration
	decodeTokens   int
}

// Step implements engine.StepObserver.
func (s *stepSums) Step(info engine.StepInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info.Prefill > 0 {
		s.prefill += info.Duration
		return
	}
	s.other += info.Duration
	s.decodeTokens += info.Decode
}

// runEngine runs n concurrent greedy requests of prompt tokens and out
// output tokens through an engine, and returns its rates (engineRun).
func runEngine(ctx context.Context, m *gpt2.Model, tok *bpe.Tokenizer, threads, n, prompt, out int) (engineRun, error) {
	sums := &stepSums{}
	e, err := engine.New(m, tok, engine.Config{MaxBatch: n, Threads: threads}, sums)
	if err != nil {
		return engineRun{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stop := func() { cancel(); <-done } // the engine's last step is observed by the time Run returns
	total, wall, err := generate(ctx, e, n, prompt, out)
	stop()
	if err != nil {
		return engineRun{}, err
	}
	r := engineRun{TokS: float64(total) / wall.Seconds(), PrefillFrac: sums.prefill.Seconds() / wall.Seconds()}
	if sums.other > 0 {
		r.DecodeTokS = float64(sums.decodeTokens) / sums.other.Seconds()
	}
	return r, nil
}

// generate submits n requests of prompt random tokens for out tokens each
// to e, reads every event, and returns the tokens generated and the time
// from the first submission to the last event.
func generate(ctx context.Context, e *engine.Engine, n, prompt, out int) (int, time.Duration, error) {
	rng := rand.New(rand.NewPCG(3, uint64(n)))
	start := time.Now()
	var chans []<-chan engine.Event
	for range n {
		p := make([]int, prompt)
		for i := range p {
			p[i] = rng.IntN(50000)
		}
		ch, err := e.Submit(ctx, engine.Request{Prompt: p, MaxTokens: out, Sampling: sample.Params{Greedy: true}, IgnoreEOS: true})
		if err != nil {
			return 0, 0, err
		}
		chans = append(chans, ch)
	}
	total := 0
	for _, ch := range chans {
		for ev := range ch {
			if ev.Done && ev.Err != nil {
				return 0, 0, ev.Err
			}
			if ev.Token >= 0 {
				total++
			}
		}
	}
	wall := time.Since(start)
	if total != n*out {
		return 0, 0, fmt.Errorf("bench: %d tokens generated, want %d", total, n*out)
	}
	return total, wall, nil
}

// peakRSS returns the process's peak resident set size in bytes: VmHWM
// from /proc/self/status where there is one. getrusage's maxrss is the
// fallback only, because Linux carries it across exec: a process started by
// a large parent (a Python harness, say) reports the parent's peak.
func peakRSS() float64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb float64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
					return kb * 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) * 1024 // Linux reports KiB
}

func describe(m *gpt2.Model) string {
	c := m.Config
	kind := "real weights from " + m.Source
	if m.Synthetic {
		kind = m.Source
	}
	return fmt.Sprintf("GPT-2 %.0fM %s (%d layers, %d wide; %s)", float64(c.Params())/1e6, m.DType(), c.NLayer, c.NEmbd, kind)
}

// machine names the CPU, from /proc/cpuinfo where there is one.
func machine() string {
	name := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs", name, runtime.NumCPU())
}

// parseInts parses a comma-separated list of integers, e.g. "1,4,8".
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
