package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/cuda"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/sample"
)

// DeviceConfig is `llmbench-dev device-bench`: the engine on one device
// (the CPU or a GPU) measured the way deploy/gpu/hf_bench.py measures
// Hugging Face transformers, so that the two can sit in one table. The zero
// value measures synthetic GPT-2 124M on the CPU at 1 and 8 sequences.
type DeviceConfig struct {
	Model       refserver.ModelConfig
	Device      string // cpu or cuda
	GPU         int
	DType       string
	Threads     int    // CPU compute threads; 0 means GOMAXPROCS
	Concurrency string // comma-separated numbers of concurrent sequences, e.g. 1,8,32,64,128
	Tokens      int    // new tokens per sequence; 0 means 128
	Prompt      int    // prompt tokens per sequence; 0 means 16
	Reps        int    // repetitions of each measurement (the median is kept); 0 means 3
	Out         string // write the results as JSON here too
}

// RegisterFlags adds device-bench's flags to fs.
func (c *DeviceConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Model.RegisterFlags(fs)
	fs.StringVar(&c.Device, "device", "cpu", "cpu or cuda")
	fs.IntVar(&c.GPU, "gpu", 0, "the CUDA device ordinal")
	fs.StringVar(&c.DType, "dtype", "", "weights: on the GPU f16 (default), bf16 or f32; on the CPU f32 (default), bf16, f16 or int8")
	fs.IntVar(&c.Threads, "threads", 0, "CPU compute threads (0: all CPUs Go may use)")
	fs.StringVar(&c.Concurrency, "concurrency", "1,8", "concurrent sequences to measure decode throughput at, e.g. 1,8,32,64,128")
	fs.IntVar(&c.Tokens, "tokens", 128, "new tokens per sequence")
	fs.IntVar(&c.Prompt, "prompt", 16, "prompt tokens per sequence")
	fs.IntVar(&c.Reps, "reps", 3, "repetitions of each measurement; the median is kept")
	fs.StringVar(&c.Out, "out", "", "also write the results as JSON to this file")
}

// DeviceResult is what device-bench measured.
type DeviceResult struct {
	Backend    backend.Info  `json:"backend"`
	Model      string        `json:"model"`
	Prefill128 float64       `json:"prefill_128_ms"` // one sequence's 128-token prompt, one forward step
	TPOT       float64       `json:"single_tpot_ms"` // one sequence, after its first token
	Decode     []DevicePoint `json:"decode"`         // aggregate decode throughput by concurrency
	Tokens     int           `json:"tokens_per_seq"` // new tokens per sequence
	Prompt     int           `json:"prompt_per_seq"` // prompt tokens per sequence
	Definition string        `json:"decode_definition"`
}

// DevicePoint is the decode throughput with N concurrent sequences.
type DevicePoint struct {
	N         int     `json:"n"`
	TokS      float64 `json:"decode_tok_s"`
	TPOTms    float64 `json:"tpot_ms"` // the batch's time per output token
	Seconds   float64 `json:"seconds"` // Tokens new tokens for all N
	PrefillSS float64 `json:"prefill_s"`
}

const decodeDefinition = "N·(T−1) / (t(T) − t(1)): the time to generate T tokens for N sequences at once, less the time to generate 1 (the prefills), per decoded token"

// DeviceBench measures the engine on cfg's device: the prefill of 128
// tokens, single-stream time per output token, and aggregate decode
// throughput with each number of concurrent sequences, greedy, EOS ignored.
func Device(ctx context.Context, cfg DeviceConfig, w io.Writer) (*DeviceResult, error) {
	if cfg.Tokens <= 1 {
		cfg.Tokens = 128
	}
	if cfg.Prompt <= 0 {
		cfg.Prompt = 16
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 3
	}
	var levels []int
	for _, s := range strings.Split(cfg.Concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--concurrency %q: want numbers of sequences, e.g. 1,8,32", cfg.Concurrency)
		}
		levels = append(levels, n)
	}
	m, err := cfg.Model.Load(io.Discard)
	if err != nil {
		return nil, err
	}
	tok, err := bpe.New()
	if err != nil {
		return nil, err
	}
	maxN := 1
	for _, n := range levels {
		maxN = max(maxN, n)
	}
	stepRows := max(512, maxN)
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var be backend.Backend
	switch cfg.Device {
	case "", "cpu":
		if _, err := refserver.ConvertOnCPU(m, cfg.DType, ""); err != nil {
			return nil, err
		}
		be = backend.NewCPU(m, threads, stepRows)
	case "cuda":
		g, err := cuda.Open(cuda.Config{Device: cfg.GPU, DType: cfg.DType, MaxRows: stepRows, Slots: maxN}, m)
		if err != nil {
			return nil, err
		}
		be = g
	default:
		return nil, fmt.Errorf("--device %q: want cpu or cuda", cfg.Device)
	}
	defer be.Close()
	res := &DeviceResult{Backend: be.Info(), Model: describe(m), Tokens: cfg.Tokens, Prompt: cfg.Prompt, Definition: decodeDefinition}
	fmt.Fprintf(w, "device: %s %s (%s weights)\nmodel:  %s\n", res.Backend.Device, res.Backend.Name, res.Backend.DType, res.Model)

	// Prefill of 128 tokens: one forward step, its logits read back.
	var pre []float64
	for r := range cfg.Reps + 1 {
		c, err := be.NewCache(128)
		if err != nil {
			return nil, err
		}
		rows := make([]backend.Row, 128)
		for i := range rows {
			rows[i] = backend.Row{Cache: c, Pos: i, Token: (i*7919 + 13) % m.Config.VocabSize, Logits: i == 127}
		}
		start := time.Now()
		_, err = be.Forward(rows)
		d := time.Since(start)
		c.Release()
		if err != nil {
			return nil, err
		}
		if r > 0 { // the first warms up
			pre = append(pre, ms(d))
		}
	}
	res.Prefill128 = stats.Percentile(slices.Sorted(slices.Values(pre)), 50)
	fmt.Fprintf(w, "prefill, 128 tokens:          %8.2f ms\n", res.Prefill128)

	var tpots []float64
	for range cfg.Reps {
		st, _, err := generateN(ctx, be, tok, 1, cfg.Prompt, cfg.Tokens)
		if err != nil {
			return nil, err
		}
		tpots = append(tpots, ms(st[0].Finished.Sub(st[0].FirstToken))/float64(st[0].OutputTokens-1))
	}
	res.TPOT = stats.Percentile(slices.Sorted(slices.Values(tpots)), 50)
	fmt.Fprintf(w, "single-stream TPOT:           %8.2f ms\n", res.TPOT)

	fmt.Fprintf(w, "decode throughput (%s):\n", decodeDefinition)
	for _, n := range levels {
		var all, first []float64
		for range cfg.Reps {
			_, dT, err := generateN(ctx, be, tok, n, cfg.Prompt, cfg.Tokens)
			if err != nil {
				return nil, err
			}
			_, d1, err := generateN(ctx, be, tok, n, cfg.Prompt, 1)
			if err != nil {
				return nil, err
			}
			all, first = append(all, dT.Seconds()), append(first, d1.Seconds())
		}
		tT, t1 := stats.Percentile(slices.Sorted(slices.Values(all)), 50), stats.Percentile(slices.Sorted(slices.Values(first)), 50)
		p := DevicePoint{N: n, Seconds: tT, PrefillSS: t1}
		if tT > t1 {
			p.TokS = float64(n*(cfg.Tokens-1)) / (tT - t1)
			p.TPOTms = 1e3 * (tT - t1) / float64(cfg.Tokens-1)
		}
		res.Decode = append(res.Decode, p)
		fmt.Fprintf(w, "  %4d sequences: %10.1f tokens/s  (%.2f ms per step)\n", n, p.TokS, p.TPOTms)
	}
	if cfg.Out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.Out, append(b, '\n'), 0o644); err != nil {
			return res, fmt.Errorf("write %s: %w", cfg.Out, err)
		}
	}
	return res, nil
}

// generateN runs n greedy requests of prompt tokens and out new tokens at
// once on a fresh engine over be, and returns their stats and the wall time
// from the first submit to the last token.
func generateN(ctx context.Context, be backend.Backend, tok *bpe.Tokenizer, n, prompt, out int) ([]*engine.Stats, time.Duration, error) {
	e, err := engine.NewOn(be, tok, engine.Config{MaxBatch: n, StepTokens: max(512, n), AdmitWait: -1, NoCalibration: true}, nil)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rng := rand.New(rand.NewPCG(5, uint64(n)))
	vocab := be.Config().VocabSize
	start := time.Now()
	var chans []<-chan engine.Event
	for range n {
		p := make([]int, prompt)
		for i := range p {
			p[i] = rng.IntN(vocab - 1)
		}
		ch, err := e.Submit(ctx, engine.Request{Prompt: p, MaxTokens: out, Sampling: sample.Params{Greedy: true}, IgnoreEOS: true})
		if err != nil {
			return nil, 0, err
		}
		chans = append(chans, ch)
	}
	var stats []*engine.Stats
	for _, ch := range chans {
		for ev := range ch {
			if ev.Done {
				if ev.Err != nil {
					return nil, 0, ev.Err
				}
				stats = append(stats, ev.Stats)
			}
		}
	}
	return stats, time.Since(start), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
