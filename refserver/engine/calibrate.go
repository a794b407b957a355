package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/refserver/sample"
)

// CostPoint is the measured cost of a decode-only step of Batch sequences:
// the median wall time of the N timed steps, their spread (half the
// interquartile range) and the median CPU time the process used per step.
type CostPoint struct {
	Batch  int
	N      int
	Median time.Duration
	Spread time.Duration
	CPU    time.Duration
}

// Calibration settings: the decode steps are timed at this context length
// (attention is a small part of a GPT-2 step below a few hundred
// positions), in up to calibRounds interleaved rounds, fewer when a round
// is slow, so that calibrating stays near calibBudget.
const (
	calibContext = 32
	calibRounds  = 15
	calibMin     = 3
	calibBudget  = 1500 * time.Millisecond
)

// Calibrate times decode-only steps (one token for each of n sequences,
// forward pass and sampling, as a step of the loop does) for n = 1, 2, 4,
// … up to MaxBatch, in interleaved rounds, and keeps the result for
// StepCost. It must be called before Run, not during it. What a batch of
// one costs against what a batch of n costs is how much of a shared step
// is one sequence's own: the analyzer splits decode time with it rather
// than fit the few batch sizes a run happens to have.
func (e *Engine) Calibrate(ctx context.Context) ([]CostPoint, error) {
	pool := e.samplers()
	c := e.model
	ctxLen := min(calibContext, c.NPositions/2)
	sizes := calibSizes(e.cfg.MaxBatch)
	maxN := sizes[len(sizes)-1]
	caches := make([]backend.Cache, maxN)
	samplers := make([]*sample.Sampler, maxN)
	defer func() {
		for _, c := range caches {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range caches {
		cache, err := e.be.NewCache(min(ctxLen+calibRounds+8, c.NPositions))
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		caches[i] = cache
		samplers[i] = sample.New(sample.Params{Temperature: 1, HasSeed: true, Seed: uint64(i)}, c.VocabSize)
	}
	pos := ctxLen
	rows := make([]backend.Row, 0, maxN)
	next := make([]int, maxN)
	step := func(n int) (time.Duration, time.Duration, error) {
		rows = rows[:0]
		for i := range n {
			rows = append(rows, backend.Row{Cache: caches[i], Pos: pos, Token: (i*7919 + pos) % c.VocabSize, Logits: true})
		}
		cpu0, _ := hostcpu.ProcessCPU()
		start := time.Now()
		logits, err := e.be.Forward(rows)
		if err != nil {
			return 0, 0, fmt.Errorf("calibrate batch %d: %w", n, err)
		}
		pool.For(n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				next[i] = samplers[i].Next(logits[i])
			}
		})
		wall := time.Since(start)
		cpu1, _ := hostcpu.ProcessCPU()
		return wall, cpu1 - cpu0, nil
	}
	// Warm up: page the weights in and let the workers start.
	for _, n := range []int{maxN, 1} {
		if _, _, err := step(n); err != nil {
			return nil, err
		}
	}
	walls := make([][]time.Duration, len(sizes))
	cpus := make([][]time.Duration, len(sizes))
	began := time.Now()
	for round := 0; round < calibRounds; round++ {
		pos = ctxLen + 1 + round
		for i, n := range sizes {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("calibrate: %w", err)
			}
			w, cpu, err := step(n)
			if err != nil {
				return nil, err
			}
			walls[i] = append(walls[i], w)
			cpus[i] = append(cpus[i], cpu)
		}
		if round+1 >= calibMin && time.Since(began)*time.Duration(round+2)/time.Duration(round+1) > calibBudget {
			break
		}
	}
	pool.Rest()
	points := make([]CostPoint, len(sizes))
	for i, n := range sizes {
		slices.Sort(walls[i])
		slices.Sort(cpus[i])
		w := walls[i]
		points[i] = CostPoint{Batch: n, N: len(w), Median: quantile(w, 0.5), Spread: (quantile(w, 0.75) - quantile(w, 0.25)) / 2, CPU: quantile(cpus[i], 0.5)}
	}
	e.mu.Lock()
	e.costs = points
	e.mu.Unlock()
	return points, nil
}

// StepCost returns what Calibrate measured; nil before it ran.
func (e *Engine) StepCost() []CostPoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.costs)
}

// calibSizes are the batch sizes Calibrate times: 1, 2, 4, … and maxBatch.
func calibSizes(maxBatch int) []int {
	var sizes []int
	for n := 1; n < maxBatch; n *= 2 {
		sizes = append(sizes, n)
	}
	return append(sizes, max(maxBatch, 1))
}

// quantile is the q-quantile of sorted durations (stats.Quantile).
func quantile(sorted []time.Duration, q float64) time.Duration {
	fs := make([]float64, len(sorted))
	for i, d := range sorted {
		fs[i] = float64(d)
	}
	return time.Duration(stats.Quantile(fs, q))
}
