package gpt2

import (
	"fmt"
	"math"
	"slices"
	"sync"

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
// block head by head (see kvBlock). The elements are float32, IEEE halves
// when the model's KV type is f16 (K16, V16), or int8 when it is int8 (K8,
// V8): each head's key (value) of a position rounded with its own scale,
// the largest |x| over 127 (KS, VS). A cache is owned by one sequence and
// not safe for concurrent use.
type Cache struct {
	K, V     [][]float32 // L × (blocks, heads, kvBlock, head size); nil unless f32
	K16, V16 [][]uint16  // the same in halves; nil unless f16
	K8, V8   [][]int8    // the same in int8; nil unless int8
	KS, VS   [][]float32 // L × (blocks, heads, kvBlock): K8's and V8's scales
	cap      int         // positions asked for
	c        int         // elements of a position: the embedding width
	block    int         // positions in a block: kvBlock, or fewer in a small cache
	store    cacheStore  // the allocations the layers are cut from
	m        *Model      // where Release gives store back
}

// cacheStore is a cache's memory: one slab of keys and values (of the
// cache's element type), and for int8 one of scales. Its slices may be
// longer than the cache it backs: a reused store is cut to the new
// cache's size.
type cacheStore struct {
	kv   nn.DType
	f32  []float32
	f16  []uint16
	i8   []int8
	scal []float32
}

// elems is how many key and value elements the store holds.
func (s cacheStore) elems() int { return max(len(s.f32), len(s.f16), len(s.i8)) }

// cacheFree is a model's released cache stores, for NewCache to reuse.
//
// A new cache's memory is mapped by the OS page by page as its positions
// are first written, and on this 2-vCPU VM a fault costs about 7 µs: a
// run of 8 fresh sequences took 16,000 of them. An engine that keeps its
// caches (vLLM and llama.cpp allocate theirs once) pays that once; so
// does this one, by reusing a finished sequence's store for the next one.
// The list never holds more than the caches the process has had live at
// once: a fresh allocation drops as many bytes of stores from it, for
// the garbage collector.
type cacheFree struct {
	mu     sync.Mutex
	stores []cacheStore
}

// take returns the smallest free store of type kv with at least elems
// elements and scal scales, and whether there was one. When there is
// none, it drops stores of as many bytes as such a store holds, or all of
// them: the caller is about to allocate one.
func (f *cacheFree) take(kv nn.DType, elems, scal int) (cacheStore, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := -1
	for i, s := range f.stores {
		if s.kv == kv && s.elems() >= elems && len(s.scal) >= scal && (best < 0 || s.elems() < f.stores[best].elems()) {
			best = i
		}
	}
	if best >= 0 {
		s := f.stores[best]
		f.stores = slices.Delete(f.stores, best, best+1)
		return s, true
	}
	for bytes := storeBytes(kv, elems, scal); len(f.stores) > 0 && bytes > 0; {
		bytes -= f.stores[0].bytes()
		f.stores = slices.Delete(f.stores, 0, 1)
	}
	return cacheStore{}, false
}

// put keeps s for a later take.
func (f *cacheFree) put(s cacheStore) {
	f.mu.Lock()
	f.stores = append(f.stores, s)
	f.mu.Unlock()
}

// bytes is the store's size.
func (s cacheStore) bytes() int64 { return storeBytes(s.kv, s.elems(), len(s.scal)) }

// storeBytes is the size of a store of type kv with elems elements and
// scal scales.
func storeBytes(kv nn.DType, elems, scal int) int64 {
	per := int64(4)
	switch kv {
	case nn.F16:
		per = 2
	case nn.Int8:
		per = 1
	}
	return per*int64(elems) + 4*int64(scal)
}

// Release gives the cache's memory back to its model, for a later
// NewCache of the same type to reuse; the cache must not be used after.
// Releasing twice is harmless. A cache that is never released is freed
// by the garbage collector, as any other.
func (c *Cache) Release() {
	if c.m == nil {
		return
	}
	c.m.free.put(c.store)
	c.m, c.store = nil, cacheStore{}
	c.K, c.V, c.K16, c.V16, c.K8, c.V8, c.KS, c.VS = nil, nil, nil, nil, nil, nil, nil, nil
}

// NewCache allocates a cache for up to capacity positions, of the model's
// KV type. Its storage is rounded up to whole blocks of kvBlock positions.
func (m *Model) NewCache(capacity int) (*Cache, error) {
	if capacity <= 0 || capacity > m.Config.NPositions {
		return nil, fmt.Errorf("kv cache of %d positions: want 1..%d", capacity, m.Config.NPositions)
	}
	C, L := m.Config.NEmbd, m.Config.NLayer
	c := &Cache{cap: capacity, c: C, block: kvBlock, m: m}
	n := (capacity + c.block - 1) / c.block * c.block * C
	kv, ns := m.KV, 0
	if kv == "" {
		kv = nn.F32
	}
	if kv == nn.Int8 {
		ns = n / m.Config.HeadSize()
	}
	// One store per cache: one allocation (two for int8's rows and
	// scales), reused from a released cache where one is big enough. Its
	// old contents need no clearing: a row reads only the positions up to
	// its own, which it and the rows before it have written.
	st, ok := m.free.take(kv, 2*L*n, 2*L*ns)
	if !ok {
		st = cacheStore{kv: kv}
		switch kv {
		case nn.F16:
			st.f16 = make([]uint16, 2*L*n)
		case nn.Int8:
			st.i8, st.scal = make([]int8, 2*L*n), make([]float32, 2*L*ns)
		default:
			st.f32 = make([]float32, 2*L*n)
		}
	}
	c.store = st
	switch kv {
	case nn.F16:
		c.K16, c.V16 = layers(st.f16[:2*L*n], L, n)
	case nn.Int8:
		c.K8, c.V8 = layers(st.i8[:2*L*n], L, n)
		c.KS, c.VS = layers(st.scal[:2*L*ns], L, ns)
	default:
		c.K, c.V = layers(st.f32[:2*L*n], L, n)
	}
	return c, nil
}

// SetKV sets the element type of the caches NewCache makes from now on:
// nn.F32, nn.F16 or nn.Int8; a later Convert keeps it (without SetKV,
// Convert picks one for the weights' type). An int8 cache needs the
// queries and keys re-expressed first (smoothKeys), which reads and
// writes the QKV weights in float32: choose it before Convert.
func (m *Model) SetKV(t nn.DType) error {
	switch t {
	case nn.F32, nn.F16:
	case nn.Int8:
		if !m.keysSmoothed {
			for _, b := range m.Blocks {
				if b.QKV.DType() != nn.F32 {
					return fmt.Errorf("int8 KV cache: the attention's weights are %s already; choose the cache before converting them", b.QKV.DType())
				}
			}
			m.smoothKeys()
		}
	default:
		return fmt.Errorf("KV cache type %q: want f32, f16 or int8", t)
	}
	m.KV, m.kvSet = t, true
	return nil
}

// smoothKeys re-expresses every layer's queries and keys so that the keys
// round well to int8 rows: the attention's scores change by a constant
// per query, which softmax ignores, and nothing else.
//
// A row of int8 has one scale, the row's largest |x| over 127, and a key's
// channels are far from alike: a channel's mean (its bias, and the
// LayerNorm's bias through the weights) and its spread differ from
// channel to channel. On the fixture, int8 keys alone moved the logits by
// 11 % of the largest (values alone by 0.8 %). For channel d of a head,
// with the LayerNorm's gain g and bias β before the product W:
//   - its constant part, b_d + Σ_i β_i·W[i,d], comes out of the key: q·k
//     then falls by q·const for every key of the query alike;
//   - it is divided by its spread c_d = √(Σ_i g_i²·W[i,d]²) (the key's
//     standard deviation for unit-variance normalized inputs), and the
//     query's channel d is multiplied by c_d, so q·k keeps its value.
//
// With both, int8 keys and values moved the fixture's logits by 3.0–3.8 %
// of the largest (f32 weights; the fixture stored as F32, F16, BF16), and
// int8 weights' error went from 7.6 / 11.2 / 15.5 % with a cache of halves
// to 6.3 / 9.3 / 27.2 % (docs/BENCHMARKS.md, "An int8 KV cache").
func (m *Model) smoothKeys() {
	C := m.Config.NEmbd
	for _, b := range m.Blocks {
		for d := range C {
			var c2, shift float64
			for i := range C {
				w := float64(b.QKV.At(i, C+d))
				g := float64(b.LN1G[i])
				c2 += g * g * w * w
				shift += float64(b.LN1B[i]) * w
			}
			c := math.Sqrt(c2)
			if c == 0 || math.IsInf(c, 0) || c != c {
				c = 1
			}
			for i := range C {
				b.QKV.Set(i, C+d, float32(float64(b.QKV.At(i, C+d))/c))
				b.QKV.Set(i, d, float32(float64(b.QKV.At(i, d))*c))
			}
			b.QKV.Bias[C+d] = float32(-shift / c)
			b.QKV.Bias[d] = float32(float64(b.QKV.Bias[d]) * c)
		}
	}
	m.keysSmoothed = true
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

// Int8 reports whether the cache holds int8 rows (K8, V8) and their scales.
func (c *Cache) Int8() bool { return c.K8 != nil }

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

// Chunk8 is Chunk for an int8 cache, with the rows' scales.
func (c *Cache) Chunk8(l, h, pos, hd int) (k, v []int8, ks, vs []float32) {
	off, row := c.at(h, pos, hd)
	so := off / hd
	return c.K8[l][off+row*hd : off+c.block*hd], c.V8[l][off+row*hd : off+c.block*hd],
		c.KS[l][so+row : so+c.block], c.VS[l][so+row : so+c.block]
}

// Row writes head h's key (keys) or value of position pos in layer l to
// dst (hd floats), widened to float32 from the cache's type. It goes
// through the attention's own kernel, as a mix of one row with weight 1,
// which widens halves and int8 rows exactly as the attention reads them.
func (c *Cache) Row(l, h, pos, hd int, dst []float32, keys bool) {
	off, row := c.at(h, pos, hd)
	at := off + row*hd
	one := [1]float32{1}
	switch {
	case c.K16 != nil:
		src := c.V16[l][at : at+hd]
		if keys {
			src = c.K16[l][at : at+hd]
		}
		clear(dst[:hd])
		nn.MixF16(dst, src, hd, one[:], hd, 1)
	case c.K8 != nil:
		src, sc := c.V8[l][at:at+hd], c.VS[l][off/hd+row:][:1]
		if keys {
			src, sc = c.K8[l][at:at+hd], c.KS[l][off/hd+row:][:1]
		}
		clear(dst[:hd])
		nn.MixI8(dst, src, hd, one[:], hd, 1, sc)
	case keys:
		copy(dst[:hd], c.K[l][at:at+hd])
	default:
		copy(dst[:hd], c.V[l][at:at+hd])
	}
}

// Put stores head h's key k and value v (hd floats each) of position pos
// in layer l. An f16 cache rounds them to the nearest half, an int8 cache
// each to int8 with its own scale. Heads are stored apart, so the heads of
// one position may be put in parallel.
func (c *Cache) Put(l, h, pos, hd int, k, v []float32) {
	off, row := c.at(h, pos, hd)
	dst := off + row*hd
	switch {
	case c.K16 != nil:
		nn.ToF16(c.K16[l][dst:dst+hd], k[:hd])
		nn.ToF16(c.V16[l][dst:dst+hd], v[:hd])
	case c.K8 != nil:
		c.KS[l][off/hd+row] = nn.QuantizeRow(c.K8[l][dst:dst+hd], k[:hd])
		c.VS[l][off/hd+row] = nn.QuantizeRow(c.V8[l][dst:dst+hd], v[:hd])
	default:
		copy(c.K[l][dst:dst+hd], k[:hd])
		copy(c.V[l][dst:dst+hd], v[:hd])
	}
}

// Cap reports how many positions the cache holds.
func (c *Cache) Cap() int { return c.cap }

// Bytes reports the cache's size in bytes, the int8 cache's scales
// included.
func (c *Cache) Bytes() int64 {
	var n int
	for l := range c.K {
		n += 4*len(c.K[l]) + 4*len(c.V[l])
	}
	for l := range c.K16 {
		n += 2*len(c.K16[l]) + 2*len(c.V16[l])
	}
	for l := range c.K8 {
		n += len(c.K8[l]) + len(c.V8[l]) + 4*len(c.KS[l]) + 4*len(c.VS[l])
	}
	return int64(n)
}
