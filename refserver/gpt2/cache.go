package gpt2

import "fmt"

// Cache is one sequence's key/value cache: for every layer, the keys and
// values of the positions seen so far, head by head: head h's keys are cap
// rows of the head size, contiguous, so that attention reads one stream
// per head. (With all heads side by side in rows of C floats, a head's
// keys lay 3 KiB apart on GPT-2 small, and fell into a quarter of the L1
// cache's sets: attention ran at half the speed.) A cache is owned by one
// sequence and not safe for concurrent use.
type Cache struct {
	K, V [][]float32 // L × (heads, cap, head size)
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

// Head returns layer l's keys and values of head h: cap rows of hd floats.
func (c *Cache) Head(l, h, hd int) (k, v []float32) {
	off := h * c.cap * hd
	return c.K[l][off : off+c.cap*hd], c.V[l][off : off+c.cap*hd]
}

// Put stores the key and value of position pos in layer l; kv holds the
// heads' keys (C floats) then their values (C floats), as the QKV product
// leaves them.
func (c *Cache) Put(l, pos, hd int, kv []float32) {
	C := c.c
	for off := 0; off < C; off += hd {
		dst := (off/hd)*c.cap*hd + pos*hd
		copy(c.K[l][dst:dst+hd], kv[off:off+hd])
		copy(c.V[l][dst:dst+hd], kv[C+off:C+off+hd])
	}
}

// Cap reports how many positions the cache holds.
func (c *Cache) Cap() int { return c.cap }

// Bytes reports the cache's size in bytes.
func (c *Cache) Bytes() int64 { return int64(len(c.K)) * 2 * int64(c.cap*c.c) * 4 }
