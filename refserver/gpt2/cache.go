package gpt2

import "fmt"

// Cache is one sequence's key/value cache: for every layer, the keys and
// values of the positions seen so far, T rows of C floats (all heads side
// by side). It is owned by one sequence and not safe for concurrent use.
type Cache struct {
	K, V [][]float32 // L × (cap, C)
	cap  int
	c    int
}

// NewCache allocates a cache for up to capacity positions.
func (m *Model) NewCache(capacity int) (*Cache, error) {
	if capacity <= 0 || capacity > m.Config.NPositions {
		return nil, fmt.Errorf("kv cache of %d positions: want 1..%d", capacity, m.Config.NPositions)
	}
	C, L := m.Config.NEmbd, m.Config.NLayer
	// One allocation per cache, so freeing a sequence frees one block.
	slab := make([]float32, 2*L*capacity*C)
	c := &Cache{K: make([][]float32, L), V: make([][]float32, L), cap: capacity, c: C}
	for l := 0; l < L; l++ {
		c.K[l] = slab[(2*l)*capacity*C : (2*l+1)*capacity*C]
		c.V[l] = slab[(2*l+1)*capacity*C : (2*l+2)*capacity*C]
	}
	return c, nil
}

// Cap reports how many positions the cache holds.
func (c *Cache) Cap() int { return c.cap }

// Bytes reports the cache's size in bytes.
func (c *Cache) Bytes() int64 { return int64(len(c.K)) * 2 * int64(c.cap*c.c) * 4 }
