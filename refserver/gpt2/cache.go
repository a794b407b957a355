package gpt2

import (
	"fmt"

	"github.com/llmbench/llmbench/refserver/nn"
)

// Cache is one sequence's key/value cache: for every layer, the keys and
// values of the positions seen so far, head by head: head h's keys are cap
// rows of the head size, contiguous, so that attention reads one stream
// per head. (With all heads side by side in rows of C floats, a head's
// keys lay 3 KiB apart on GPT-2 small, and fell into a quarter of the L1
// cache's sets: attention ran at half the speed.) The elements are
// float32, or IEEE halves when the model's KV type is f16 (K16, V16).
// A cache is owned by one sequence and not safe for concurrent use.
type Cache struct {
	K, V     [][]float32 // L × (heads, cap, head size); nil in an f16 cache
	K16, V16 [][]uint16  // the same in halves; nil in an f32 cache
	cap      int
	c        int
}

// NewCache allocates a cache for up to capacity positions, of the model's
// KV type.
func (m *Model) NewCache(capacity int) (*Cache, error) {
	if capacity <= 0 || capacity > m.Config.NPositions {
		return nil, fmt.Errorf("kv cache of %d positions: want 1..%d", capacity, m.Config.NPositions)
	}
	C, L := m.Config.NEmbd, m.Config.NLayer
	c := &Cache{cap: capacity, c: C}
	// One allocation per cache, so freeing a sequence frees one block.
	if m.KV == nn.F16 {
		c.K16, c.V16 = layers(make([]uint16, 2*L*capacity*C), L, capacity*C)
	} else {
		c.K, c.V = layers(make([]float32, 2*L*capacity*C), L, capacity*C)
	}
	return c, nil
}

// layers cuts slab into L layers of keys then values, n elements each.
func layers[T any](slab []T, L, n int) (k, v [][]T) {
	k, v = make([][]T, L), make([][]T, L)
	for l := range L {
		k[l] = slab[(2*l)*n : (2*l+1)*n]
		v[l] = slab[(2*l+1)*n : (2*l+2)*n]
	}
	return k, v
}

// Half reports whether the cache holds halves (K16, V16).
func (c *Cache) Half() bool { return c.K16 != nil }

// Head returns layer l's keys and values of head h in an f32 cache: cap
// rows of hd floats.
func (c *Cache) Head(l, h, hd int) (k, v []float32) {
	off := h * c.cap * hd
	return c.K[l][off : off+c.cap*hd], c.V[l][off : off+c.cap*hd]
}

// Head16 is Head for an f16 cache.
func (c *Cache) Head16(l, h, hd int) (k, v []uint16) {
	off := h * c.cap * hd
	return c.K16[l][off : off+c.cap*hd], c.V16[l][off : off+c.cap*hd]
}

// Put stores head h's key k and value v (hd floats each) of position pos
// in layer l. An f16 cache rounds them to the nearest half. Heads are
// stored apart, so the heads of one position may be put in parallel.
func (c *Cache) Put(l, h, pos, hd int, k, v []float32) {
	dst := h*c.cap*hd + pos*hd
	if c.K16 != nil {
		nn.ToF16(c.K16[l][dst:dst+hd], k[:hd])
		nn.ToF16(c.V16[l][dst:dst+hd], v[:hd])
		return
	}
	copy(c.K[l][dst:dst+hd], k[:hd])
	copy(c.V[l][dst:dst+hd], v[:hd])
}

// Cap reports how many positions the cache holds.
func (c *Cache) Cap() int { return c.cap }

// Bytes reports the cache's size in bytes.
func (c *Cache) Bytes() int64 {
	elem := int64(4)
	if c.Half() {
		elem = 2
	}
	return int64(max(len(c.K), len(c.K16))) * 2 * int64(c.cap*c.c) * elem
}
