package backend

import (
	"fmt"

	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/nn"
)

// CPU runs GPT-2 with package gpt2's kernels on a pool of threads. Its
// pool is also the engine's for sampling (Pool). Build it with NewCPU.
type CPU struct {
	m      *gpt2.Model
	pool   *nn.Pool
	runner *gpt2.Runner
	rows   []gpt2.Row // reused by Forward
}

// NewCPU returns a CPU backend for m with threads kernel threads (at least
// one) and steps of up to maxRows rows.
func NewCPU(m *gpt2.Model, threads, maxRows int) *CPU {
	pool := nn.NewPool(threads)
	return &CPU{m: m, pool: pool, runner: gpt2.NewRunner(m, pool, maxRows)}
}

// Config implements Backend.
func (c *CPU) Config() gpt2.Config { return c.m.Config }

// Model is the model the backend runs.
func (c *CPU) Model() *gpt2.Model { return c.m }

// Pool is the backend's thread pool; the engine samples on it too.
func (c *CPU) Pool() *nn.Pool { return c.pool }

// NewCache implements Backend.
func (c *CPU) NewCache(capacity int) (Cache, error) {
	kv, err := c.m.NewCache(capacity)
	if err != nil {
		return nil, err
	}
	return &cpuCache{kv}, nil
}

// Forward implements Backend.
func (c *CPU) Forward(rows []Row) ([][]float32, error) {
	c.rows = c.rows[:0]
	for i, r := range rows {
		kv, ok := r.Cache.(*cpuCache)
		if !ok || kv.c == nil {
			return nil, fmt.Errorf("forward: row %d: not a live cache of this backend", i)
		}
		c.rows = append(c.rows, gpt2.Row{Cache: kv.c, Pos: r.Pos, Token: r.Token, Logits: r.Logits})
	}
	return c.runner.Forward(c.rows)
}

// Info implements Backend.
func (c *CPU) Info() Info {
	return Info{Backend: "cpu", Device: "cpu", Name: nn.Kernels(), DType: c.m.DType(), KVDType: c.m.KVType()}
}

// Close stops the thread pool.
func (c *CPU) Close() error {
	c.pool.Close()
	return nil
}

// cpuCache is a gpt2.Cache in host memory. Release gives its memory to
// the model, for the next sequence's cache (see gpt2.Cache.Release).
type cpuCache struct{ c *gpt2.Cache }

func (k *cpuCache) Cap() int {
	if k.c == nil {
		return 0
	}
	return k.c.Cap()
}

func (k *cpuCache) Release() {
	if k.c != nil {
		k.c.Release()
		k.c = nil
	}
}
