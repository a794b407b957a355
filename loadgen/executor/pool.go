package executor

import (
	"context"
	"slices"
	"sync"
)

// Pool is a VUPool that makes VUs with New and keeps the VUs put back for
// reuse. It hands out the free VU with the lowest id first, so runs are
// repeatable. Ids are 1, 2, 3, ... in the order Get asked New for them; an
// id whose New failed is not used again. Set New before the first Get and
// do not change it. A Pool is safe for concurrent use; New may be called
// for several VUs at once.
type Pool struct {
	// New initializes a VU with the given id, e.g. builds its JavaScript
	// runtime and runs the script's init code.
	New func(ctx context.Context, id int) (VU, error)

	mu   sync.Mutex
	free []pooled // by id, highest first
	made int
}

type pooled struct {
	vu VU
	id int
}

// Get returns a free VU, or makes a new one.
func (p *Pool) Get(ctx context.Context) (VU, int, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		v := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return v.vu, v.id, nil
	}
	p.made++
	id := p.made
	p.mu.Unlock()
	vu, err := p.New(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	return vu, id, nil
}

// Put makes vu available again.
func (p *Pool) Put(vu VU, id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, _ := slices.BinarySearchFunc(p.free, id, func(v pooled, id int) int { return id - v.id })
	p.free = slices.Insert(p.free, i, pooled{vu, id})
}

// Made is how many VUs the pool has asked New for (k6's vus_max, counting
// failures).
func (p *Pool) Made() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}
