package gpt2

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/llmbench/llmbench/refserver/nn"
)

// Row is one token of a batched forward step: the token at position Pos of
// the sequence that owns Cache. The rows of one sequence in one step must
// be consecutive positions, in order, continuing what its cache holds.
type Row struct {
	Cache  *Cache
	Pos    int
	Token  int
	Logits bool // compute this row's next-token logits
}

// Runner runs batched forward steps. It owns the scratch memory for up to
// MaxRows rows per step and is not safe for concurrent use.
type Runner struct {
	m       *Model
	pool    *nn.Pool
	maxRows int

	x, xn, qkv, att, fc []float32 // activations, MaxRows × (C | C | 3C | C | 4C)
	scores              [][]float32
	chunks              []chunkScratch // each worker's, for attendChunk
	chunkMin            int            // chunkRows; a benchmark raises it to compare
	seqs                []int          // where each sequence's rows start, and M
	items               []attnItem
	// next is the attention's next work item, on a cache line of its own:
	// both workers add to it, and read the fields around it.
	_            [64]byte
	next         atomic.Int64
	_            [56]byte
	head, logits []float32
	out          [][]float32
}

// NewRunner returns a Runner for steps of up to maxRows rows, running its
// kernels on pool.
func NewRunner(m *Model, pool *nn.Pool, maxRows int) *Runner {
	C := m.Config.NEmbd
	r := &Runner{m: m, pool: pool, maxRows: maxRows,
		x: make([]float32, maxRows*C), xn: make([]float32, maxRows*C),
		qkv: make([]float32, maxRows*3*C), att: make([]float32, maxRows*C),
		fc: make([]float32, maxRows*4*C),
	}
	r.chunks, r.chunkMin = make([]chunkScratch, pool.Workers()), chunkRows
	r.scores = make([][]float32, pool.Workers())
	for i := range r.scores {
		r.scores[i] = make([]float32, m.Config.NHead*m.Config.NPositions)
	}
	return r
}

// MaxRows reports the most rows a step may have.
func (r *Runner) MaxRows() int { return r.maxRows }

// Forward runs one step over rows: it appends every row's key and value to
// its sequence's cache and returns the vocabulary logits of the rows that
// asked for them, in order. The returned slices are reused by the next call.
func (r *Runner) Forward(rows []Row) ([][]float32, error) {
	cfg := r.m.Config
	C, hd := cfg.NEmbd, cfg.HeadSize()
	M := len(rows)
	if M == 0 {
		return nil, nil
	}
	if M > r.maxRows {
		return nil, fmt.Errorf("forward: %d rows, the runner holds %d", M, r.maxRows)
	}
	nLogits := 0
	for i, row := range rows {
		if row.Token < 0 || row.Token >= cfg.VocabSize {
			return nil, fmt.Errorf("forward: row %d: token %d outside the vocabulary of %d", i, row.Token, cfg.VocabSize)
		}
		if row.Pos < 0 || row.Cache == nil || row.Pos >= row.Cache.cap {
			return nil, fmt.Errorf("forward: row %d: position %d outside its cache", i, row.Pos)
		}
		if row.Logits {
			nLogits++
		}
	}
	x, xn, qkv, att, fc := r.x[:M*C], r.xn[:M*C], r.qkv[:M*3*C], r.att[:M*C], r.fc[:M*4*C]
	eps := float32(cfg.LNEps)

	// Embeddings: token + position.
	wpe := r.m.wpe()
	r.pool.For(M, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*C : (i+1)*C]
			r.m.WTE.Col(xi, rows[i].Token)
			pe := wpe[rows[i].Pos*C : (rows[i].Pos+1)*C]
			for j := range xi {
				xi[j] += pe[j]
			}
		}
	})

	scale := float32(1 / math.Sqrt(float64(hd)))
	r.seqs = r.seqs[:0]
	for i := range rows {
		if i == 0 || rows[i].Cache != rows[i-1].Cache {
			r.seqs = append(r.seqs, i)
		}
	}
	r.seqs = append(r.seqs, M)
	r.planAttention()
	for l := range r.m.Blocks {
		b := &r.m.Blocks[l]
		r.layerNorm(xn, x, M, b.LN1G, b.LN1B, eps)
		nn.MatMul(r.pool, qkv, 3*C, xn, C, M, b.QKV, false)
		r.attention(l, rows, qkv, att, scale)
		nn.MatMul(r.pool, x, C, att, C, M, b.AttnProj, true)
		r.layerNorm(xn, x, M, b.LN2G, b.LN2B, eps)
		nn.MatMul(r.pool, fc, 4*C, xn, C, M, b.FC, false)
		r.parallelRows(M, 4*C, func(lo, hi int) { nn.GELU(fc[lo*4*C : hi*4*C]) })
		nn.MatMul(r.pool, x, C, fc, 4*C, M, b.Proj, true)
	}

	// Final LayerNorm and LM head, only for the rows that need logits.
	if nLogits == 0 {
		return nil, nil
	}
	V := cfg.VocabSize
	if len(r.logits) < nLogits*V {
		r.logits = make([]float32, nLogits*V)
		r.head = make([]float32, nLogits*C)
	}
	head := r.head[:nLogits*C]
	j := 0
	for i, row := range rows {
		if row.Logits {
			nn.LayerNorm(head[j*C:(j+1)*C], x[i*C:(i+1)*C], r.m.LNFG, r.m.LNFB, eps)
			j++
		}
	}
	logits := r.logits[:nLogits*V]
	nn.MatMul(r.pool, logits, V, head, C, nLogits, r.m.LMHead, false)
	r.out = r.out[:0]
	for j := 0; j < nLogits; j++ {
		r.out = append(r.out, logits[j*V:(j+1)*V])
	}
	return r.out, nil
}

// attention stores every row's key and value of layer l in its cache and
// writes the rows' attention outputs to att. Its work items (r.items, see
// planAttention) are taken from a counter by whichever worker is free, so
// sequences of different lengths, and a worker that the host holds up,
// leave no one waiting at the end. An item of one head over a prompt's
// chunk of at least chunkRows rows goes through attendChunk.
//
// An item of one head reads two short streams from memory (the weights'
// stream evicted them), so a worker asks for its values before it
// computes its scores, and for the next such item's keys after its first
// row. When every decode item was one head (int8, 8 sequences, alternated
// in one process against no prefetch and against the whole next item
// asked for at once): 0.96× the step time of either, median of 6 pairs at
// positions 96 and 200. One int8 sequence on the blocked cache, per-head
// items with and without it: 1.02–1.04× against 1.05–1.07× the old
// layout's step time.
func (r *Runner) attention(l int, rows []Row, qkv, att []float32, scale float32) {
	C, hd := r.m.Config.NEmbd, r.m.Config.HeadSize()
	items := int64(len(r.items))
	r.next.Store(0)
	r.pool.For(r.pool.Workers(), func(w, _, _ int) {
		s := r.scores[w]
		for it, next := r.next.Add(1)-1, int64(0); it < items; it = next {
			next = r.next.Add(1) - 1
			item := r.items[it]
			first, end := r.seqs[item.g], r.seqs[item.g+1]
			single := item.h1-item.h0 == 1
			if single {
				prefetch(rows[end-1], l, item.h0, hd, false)
			} else {
				prefetchTail(rows[end-1], l, item.h0, item.h1, hd)
			}
			if single && end-first > 1 {
				prefetchHead(qkv[first*3*C:end*3*C], C, item.h0, hd)
			}
			if single && end-first >= r.chunkMin && hd%nn.PanelWidth == 0 {
				r.attendChunk(&r.chunks[w], l, rows[first:end], qkv[first*3*C:end*3*C], att[first*C:end*C], item.h0, scale)
				continue
			}
			for i := first; i < end; i++ {
				r.attend(l, rows[i], qkv[i*3*C:(i+1)*3*C], att[i*C:(i+1)*C], item, s, scale)
				if !single || i != first || next >= items {
					continue
				}
				if nx := r.items[next]; nx.h1-nx.h0 == 1 {
					prefetch(rows[r.seqs[nx.g+1]-1], l, nx.h0, hd, true)
				}
			}
		}
	})
}

// headRows is the most rows of a prompt's chunk whose query, key and
// value of one head prefetchHead asks for.
const headRows = 64

// prefetchHead asks for head h's query, key and value (hd floats each) in
// the first headRows rows of qkv (3C floats a row). An item of one head
// over a prompt's chunk reads them a row at a time, 3C floats apart,
// which the hardware prefetcher does not follow: 8 prompts of 32 tokens,
// alternated in one process, took 7.1 against 9.4 ms of attention row by
// row (8.5 against 10.6 in tiles), one of 128 tokens 6.1–7.0 against
// 6.5–7.5 ms; 512 tokens alike.
func prefetchHead(qkv []float32, C, h, hd int) {
	for i := 0; i < min(len(qkv)/(3*C), headRows); i++ {
		for part := range 3 {
			nn.Prefetch(qkv[i*3*C+part*C+h*hd:][:hd])
		}
	}
}

// tailRows is the most rows of the last block that prefetchTail asks for.
const tailRows = 48

// prefetchTail asks for the keys and values of heads [h0, h1) in the last
// block that the row reads, when at most tailRows of it are filled. Each
// head's rows there are a short stream followed by a gap, which the
// hardware prefetcher does not run ahead of, while the full blocks before
// it are one stream. An item of all heads asks for them first, so that
// they come in while it reads the full blocks. 8 sequences, alternated
// in one process against none (50 rounds, medians): int8 0.96–0.99× the
// step time at positions 70, 90, 96, 100, 110, 140 and 200, bf16
// 0.98–0.995×; with the last block full (position 127) asking for all 64
// rows was slower (1.02–1.06×), hence the limit.
func prefetchTail(last Row, l, h0, h1, hd int) {
	c := last.Cache
	p0 := last.Pos / c.block * c.block
	n := last.Pos + 1 - p0
	if n > tailRows {
		return
	}
	for h := h0; h < h1; h++ {
		prefetchBlock(c, l, h, p0, n, hd, true)
		prefetchBlock(c, l, h, p0, n, hd, false)
	}
}

// prefetchRows is how many positions of a head's keys or values prefetch
// asks for: 16 KiB of f16 with GPT-2's 64-float heads. Past that the
// hardware prefetcher has caught on.
const prefetchRows = 128

// prefetch asks for the cached keys (or values) of head h in layer l of
// the sequence whose last row in this step is last, as far as that row
// reads, up to prefetchRows positions.
func prefetch(last Row, l, h, hd int, keys bool) {
	c, n := last.Cache, min(last.Pos+1, prefetchRows)
	for p := 0; p < n; p += c.block {
		prefetchBlock(c, l, h, p, min(c.block, n-p), hd, keys)
	}
}

// prefetchBlock asks for head h's keys (or values) of positions [p, p+n)
// in layer l, which lie in one block.
func prefetchBlock(c *Cache, l, h, p, n, hd int, keys bool) {
	m := n * hd
	switch {
	case c.Int8() && keys:
		k, _, _, _ := c.Chunk8(l, h, p, hd)
		nn.Prefetch(k[:m])
	case c.Int8():
		_, v, _, _ := c.Chunk8(l, h, p, hd)
		nn.Prefetch(v[:m])
	case c.Half() && keys:
		k, _ := c.Chunk16(l, h, p, hd)
		nn.Prefetch(k[:m])
	case c.Half():
		_, v := c.Chunk16(l, h, p, hd)
		nn.Prefetch(v[:m])
	case keys:
		k, _ := c.Chunk(l, h, p, hd)
		nn.Prefetch(k[:m])
	default:
		_, v := c.Chunk(l, h, p, hd)
		nn.Prefetch(v[:m])
	}
}

// attend puts row's key and value of heads [item.h0, item.h1) in layer l
// into its cache, and writes those heads' attention output to att (the
// row's C outputs), from qkv (the row's query, key and value). Scores go
// to s: head h's in s[(h-h0)*n:][:n], for n positions. Keys and values are
// read block by block, and head by head within a block, so that a
// sequence's are each one stream (see kvBlock).
func (r *Runner) attend(l int, row Row, qkv, att []float32, item attnItem, s []float32, scale float32) {
	C, hd := r.m.Config.NEmbd, r.m.Config.HeadSize()
	c, n := row.Cache, row.Pos+1
	for h := item.h0; h < item.h1; h++ {
		c.Put(l, h, row.Pos, hd, qkv[C+h*hd:], qkv[2*C+h*hd:])
	}
	for p := 0; p < n; p += c.block {
		m := min(c.block, n-p)
		for h := item.h0; h < item.h1; h++ {
			q, sh := qkv[h*hd:], s[(h-item.h0)*n+p:]
			switch {
			case c.Half():
				k, _ := c.Chunk16(l, h, p, hd)
				nn.ScoresF16(sh, k, hd, q, hd, m, scale)
			case c.Int8():
				k, _, ks, _ := c.Chunk8(l, h, p, hd)
				nn.ScoresI8(sh, k, hd, q, hd, m, scale, ks)
			default:
				k, _ := c.Chunk(l, h, p, hd)
				nn.Scores(sh, k, hd, q, hd, m, scale)
			}
		}
	}
	for h := range item.h1 - item.h0 {
		nn.Softmax(s[h*n : (h+1)*n])
	}
	out := att[item.h0*hd : item.h1*hd]
	clear(out)
	for p := 0; p < n; p += c.block {
		m := min(c.block, n-p)
		for h := item.h0; h < item.h1; h++ {
			o, sh := out[(h-item.h0)*hd:], s[(h-item.h0)*n+p:]
			switch {
			case c.Half():
				_, v := c.Chunk16(l, h, p, hd)
				nn.MixF16(o, v, hd, sh, hd, m)
			case c.Int8():
				_, v, _, vs := c.Chunk8(l, h, p, hd)
				nn.MixI8(o, v, hd, sh, hd, m, vs)
			default:
				_, v := c.Chunk(l, h, p, hd)
				nn.Mix(o, v, hd, sh, hd, m)
			}
		}
	}
}

// chunkRows is the fewest rows of one sequence in a step (a prompt's
// chunk) whose attention goes through attendChunk rather than row by row.
// Below it, laying out the keys and values costs what the tiles save:
// 8 prompts of 32 tokens took 0.98–1.03× the time through attendChunk,
// 4 of 64 0.97–1.00×, one of 128 0.95–0.99×. BenchmarkPromptAttention
// measures both paths.
const chunkRows = 48

// chunkScratch is one worker's memory for attendChunk: a head's keys as
// panels of PanelWidth keys (kt), its values as panels of PanelWidth
// dimensions (vp), a tile of rows' scores (s) and scaled queries (q),
// and one key or value (row).
type chunkScratch struct{ kt, vp, s, q, row []float32 }

// grow returns buf with room for n floats, reallocating only to grow.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// attendChunk is attend for one head h of a sequence's prompt chunk: rows
// of consecutive positions, with their queries, keys and values in qkv
// and their outputs to att (3C and C floats a row). Row by row, each
// query would read every earlier key again and sum each score across a
// vector; here the head's keys and values are laid out once as panels,
// in float32 whatever the cache's type, and a tile of rows at a time
// takes its scores and its output as small matrix products (nn.Tile),
// the causal mask applied between them. A prefill of 1024 tokens took
// 0.77× (int8), 0.81× (bf16) and 0.82× (f32) the time of row by row, one
// of 512 tokens 0.84–0.91× (docs/BENCHMARKS.md, "Attention over a prompt
// in tiles"; BenchmarkPromptAttention). Past prefetchHead's rows, the keys and values are asked for
// headRows rows ahead and the queries two tiles ahead: 1024 tokens int8
// 0.93×, f32 0.98× the time without.
func (r *Runner) attendChunk(cs *chunkScratch, l int, rows []Row, qkv, att []float32, h int, scale float32) {
	C, hd := r.m.Config.NEmbd, r.m.Config.HeadSize()
	c := rows[0].Cache
	for i, row := range rows {
		// prefetchHead asked for the first headRows rows; the rest as it goes.
		if j := i + headRows; j < len(rows) {
			nn.Prefetch(qkv[j*3*C+C+h*hd:][:hd])
			nn.Prefetch(qkv[j*3*C+2*C+h*hd:][:hd])
		}
		c.Put(l, h, row.Pos, hd, qkv[i*3*C+C+h*hd:], qkv[i*3*C+2*C+h*hd:])
	}
	const pw = nn.PanelWidth
	n := rows[len(rows)-1].Pos + 1
	np := (n + pw - 1) / pw * pw
	cs.kt, cs.vp = grow(cs.kt, np*hd), grow(cs.vp, np*hd)
	kt, vp := cs.kt, cs.vp
	// kt: panel jp holds keys [jp·pw, (jp+1)·pw), dimension d's row of
	// them at d·pw. vp: panel q holds dimensions [q·pw, (q+1)·pw) of
	// every position, np rows of pw.
	cs.row = grow(cs.row, hd)
	x := cs.row
	for pos := range n {
		c.Row(l, h, pos, hd, x, true)
		base := pos / pw * hd * pw
		for d, v := range x {
			kt[base+d*pw+pos%pw] = v
		}
		c.Row(l, h, pos, hd, x, false)
		for q := range hd / pw {
			copy(vp[q*np*pw+pos*pw:][:pw], x[q*pw:(q+1)*pw])
		}
	}
	for pos := n; pos < np; pos++ {
		base := pos / pw * hd * pw
		for d := range hd {
			kt[base+d*pw+pos%pw] = 0
		}
		for q := range hd / pw {
			clear(vp[q*np*pw+pos*pw:][:pw])
		}
	}
	mr := nn.TileRows()
	cs.s, cs.q = grow(cs.s, mr*np), grow(cs.q, mr*hd)
	for i0 := 0; i0 < len(rows); i0 += mr {
		t := min(mr, len(rows)-i0)
		for j := i0 + 2*mr; j < min(i0+3*mr, len(rows)); j++ {
			nn.Prefetch(qkv[j*3*C+h*hd:][:hd]) // the queries two tiles on
		}
		nk := rows[i0+t-1].Pos + 1
		nkp := (nk + pw - 1) / pw * pw
		s, qs := cs.s[:t*nkp], cs.q[:t*hd]
		for i := range t {
			for d, v := range qkv[(i0+i)*3*C+h*hd:][:hd] {
				qs[i*hd+d] = v * scale
			}
		}
		for jp := 0; jp < nkp/pw; jp++ {
			nn.Tile(t, hd, qs, hd, kt[jp*hd*pw:], s[jp*pw:], nkp)
		}
		for i := range t {
			sr := s[i*nkp : (i+1)*nkp]
			valid := rows[i0+i].Pos + 1
			nn.Softmax(sr[:valid])
			clear(sr[valid:])
		}
		for q := range hd / pw {
			nn.Tile(t, nkp, s, nkp, vp[q*np*pw:], att[i0*C+h*hd+q*pw:], C)
		}
	}
}

// attnItem is a unit of the attention's work: heads [h0, h1) of the rows
// of sequence group g (r.seqs[g] up to r.seqs[g+1]).
type attnItem struct{ g, h0, h1 int }

// planAttention cuts the step's sequences into the attention's work
// items. With at least as many sequences as workers, a decoding sequence
// (one row) is one item of all its heads: its keys, then its values, are
// each one stream through the cache's blocks (see kvBlock). Otherwise,
// and for a prompt's chunk (its rows in order, each put and then
// attended, over keys that stay in cache from row to row), each head is
// an item, so that every worker has work. One int8 sequence at positions
// 96 and 200, against the layout before the blocks, alternated in one
// process: per-head items 1.02–1.04× the step time; its heads split in
// one group a worker 1.05–1.10×; cut by position into parts, one a
// worker, their softmaxes merged as flash-decoding does, 1.06–1.10×.
func (r *Runner) planAttention() {
	NH := r.m.Config.NHead
	groups := len(r.seqs) - 1
	whole := groups >= r.pool.Workers()
	r.items = r.items[:0]
	for g := range groups {
		if whole && r.seqs[g+1]-r.seqs[g] == 1 {
			r.items = append(r.items, attnItem{g, 0, NH})
			continue
		}
		for h := range NH {
			r.items = append(r.items, attnItem{g, h, h + 1})
		}
	}
}

func (r *Runner) layerNorm(out, x []float32, M int, g, b []float32, eps float32) {
	C := len(g)
	r.parallelRows(M, C, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			nn.LayerNorm(out[i*C:(i+1)*C], x[i*C:(i+1)*C], g, b, eps)
		}
	})
}

// parallelRows runs fn over rows [0, M) of width floats each, on the pool
// when there is enough work to pay for the hand-off (a few decode rows are
// cheaper done in place).
func (r *Runner) parallelRows(M, width int, fn func(lo, hi int)) {
	if M*width < 1<<14 {
		fn(0, M)
		return
	}
	r.pool.For(M, func(_, lo, hi int) { fn(lo, hi) })
}
