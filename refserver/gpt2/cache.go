package gpt2

import (
	"fmt"

	"github.com/llmbench/llmbench/refserver/nn"
)

// kvBlock is how many positions a cache keeps together: its layers hold
// blocks of kvBlock positions, and in a block each head's keys (values) are
// kvBlock contiguous rows of the head size.
//
// A decoding sequence reads every head's keys up to its position, then
// every head's values, and at 8 sequences those reads come from memory:
// the weights' stream has evicted them. Block by block, one sequence's keys
// are one contiguous stream, which the hardware prefetcher follows; with
// each head's rows contiguous over the whole capacity (the layout before
// this one), a sequence was 12 streams of about 12 KiB with gaps, and short
// streams read at half the memory's rate here. Decode steps of 8 sequences
// at positions 96 and 200, against the layout before (with its per-head
// items and their prefetch), alternated in one process: int8 0.93–0.97×
// the time, bf16 0.95–1.00×, f32 1.00×.
// Blocks of 16 and 32 positions did as well at 8 sequences, but a prompt's
// attention reads its keys a block at a time per head, and smaller blocks
// cost its prefill 3–5 %; with 64, 0–2 % (docs/BENCHMARKS.md, "The KV
// cache in blocks").
const kvBlock = 64

// Cache is one sequence's key/value cache: for every layer, the keys and
// values of the positions seen so far, in blocks of kvBlock positions, each
// block head by head (see kvBlock). The elements are float32, or IEEE
// halves when the model's KV type is f16 (K16, V16). A cache is owned by
// one sequence and not safe for concurrent use.
type Cache struct {
	K, V     [][]float32 // L × (blocks, heads, kvBlock, head size); nil in an f16 cache
	K16, V16 [][]uint16  // the same in halves; nil in an f32 cache
	cap      int         // positions asked for
	c        int         // elements of a position: the embedding width
	block    int         // positions in a block: kvBlock, or fewer in a small cache
}

// NewCache allocates a cache for up to capacity positions, of the model's
// KV type. Its storage is rounded up to whole blocks of kvBlock positions.
func (m *Model) NewCache(capacity int) (*Cache, error) {
	if capacity <= 0 || capacity > m.Config.NPositions {
		return nil, fmt.Errorf("kv cache of %d positions: want 1..%d", capacity, m.Config.NPositions)
	}
	C, L := m.Config.NEmbd, m.Config.NLayer
	c := &Cache{cap: capacity, c: C, block: kvBlock}
	n := (capacity + c.block - 1) / c.block * c.block * C
	// One allocation per cache, so freeing a sequence frees one block.
	if m.KV == nn.F16 {
		c.K16, c.V16 = layers(make([]uint16, 2*L*n), L, n)
	} else {
		c.K, c.V = layers(make([]float32, 2*L*n), L, n)
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

// at returns the offset in a layer's keys (or values) of head h's rows in
// the block that holds position pos, and how many of the block's rows come
// before pos's.
func (c *Cache) at(h, pos, hd int) (off, row int) {
	b := pos / c.block
	return b*c.block*c.c + h*c.block*hd, pos - b*c.block
}

// Chunk returns head h's keys and values in layer l of the block that holds
// position pos, from that position to the block's end, in an f32 cache:
// rows of hd floats.
func (c *Cache) Chunk(l, h, pos, hd int) (k, v []float32) {
	off, row := c.at(h, pos, hd)
	return c.K[l][off+row*hd : off+c.block*hd], c.V[l][off+row*hd : off+c.block*hd]
}

// Chunk16 is Chunk for an f16 cache.
func (c *Cache) Chunk16(l, h, pos, hd int) (k, v []uint16) {
	off, row := c.at(h, pos, hd)
	return c.K16[l][off+row*hd : off+c.block*hd], c.V16[l][off+row*hd : off+c.block*hd]
}

// Put stores head h's key k and value v (hd floats each) of position pos
// in layer l. An f16 cache rounds them to the nearest half. Heads are
// stored apart, so the heads of one position may be put in parallel.
func (c *Cache) Put(l, h, pos, hd int, k, v []float32) {
	off, row := c.at(h, pos, hd)
	dst := off + row*hd
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
	var n int
	for l := range c.K {
		n += len(c.K[l]) + len(c.V[l])
	}
	for l := range c.K16 {
		n += len(c.K16[l]) + len(c.V16[l])
	}
	return int64(n) * elem
}
