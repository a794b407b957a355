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
	seqs                []int // where each sequence's rows start, and M
	items               []attnItem
	parts               attnParts
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
	r.planAttention(rows)
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
// leave no one waiting at the end.
func (r *Runner) attention(l int, rows []Row, qkv, att []float32, scale float32) {
	C := r.m.Config.NEmbd
	items := int64(len(r.items))
	r.next.Store(0)
	r.pool.For(r.pool.Workers(), func(w, _, _ int) {
		s := r.scores[w]
		for it := r.next.Add(1) - 1; it < items; it = r.next.Add(1) - 1 {
			item := r.items[it]
			for i := r.seqs[item.g]; i < r.seqs[item.g+1]; i++ {
				r.attend(l, rows[i], qkv[i*3*C:(i+1)*3*C], att[i*C:(i+1)*C], item, s, scale)
			}
		}
	})
	r.mergeParts(att)
}

// attend puts row's key and value of heads [item.h0, item.h1) in layer l
// into its cache, and writes those heads' attention output to att (the
// row's C outputs), from qkv (the row's query, key and value). Scores go
// to s: head h's in s[(h-h0)*n:][:n], for n positions. Keys and values are
// read block by block, and head by head within a block, so that a
// sequence's are each one stream (see kvBlock). An item that is a part of
// the row's positions writes its partial results instead (see attnPart).
func (r *Runner) attend(l int, row Row, qkv, att []float32, item attnItem, s []float32, scale float32) {
	C, hd := r.m.Config.NEmbd, r.m.Config.HeadSize()
	c := row.Cache
	p0, p1 := 0, row.Pos+1
	if item.part >= 0 {
		p0, p1 = item.p0, item.p1
	}
	if p1 == row.Pos+1 { // the item reads the row's own key and value
		for h := item.h0; h < item.h1; h++ {
			c.Put(l, h, row.Pos, hd, qkv[C+h*hd:], qkv[2*C+h*hd:])
		}
	}
	n := p1 - p0
	for p, e := p0, 0; p < p1; p = e {
		e = min((p/c.block+1)*c.block, p1) // the block's end
		for h := item.h0; h < item.h1; h++ {
			q, sh, m := qkv[h*hd:], s[(h-item.h0)*n+p-p0:], e-p
			if c.Half() {
				k, _ := c.Chunk16(l, h, p, hd)
				nn.ScoresF16(sh, k, hd, q, hd, m, scale)
			} else {
				k, _ := c.Chunk(l, h, p, hd)
				nn.Scores(sh, k, hd, q, hd, m, scale)
			}
		}
	}
	out := att[item.h0*hd : item.h1*hd]
	if item.part >= 0 {
		out = r.parts.out[item.part*C : (item.part+1)*C]
	}
	for h := range item.h1 - item.h0 {
		sh := s[h*n : (h+1)*n]
		if item.part < 0 {
			nn.Softmax(sh)
			continue
		}
		top := 0
		for j, v := range sh {
			if v > sh[top] {
				top = j
			}
		}
		i := item.part*r.m.Config.NHead + h
		r.parts.max[i] = sh[top]
		nn.Softmax(sh)
		// The largest score became exp(0) / sum.
		r.parts.sum[i] = 1 / sh[top]
	}
	clear(out)
	for p, e := p0, 0; p < p1; p = e {
		e = min((p/c.block+1)*c.block, p1)
		for h := item.h0; h < item.h1; h++ {
			o, sh, m := out[(h-item.h0)*hd:], s[(h-item.h0)*n+p-p0:], e-p
			if c.Half() {
				_, v := c.Chunk16(l, h, p, hd)
				nn.MixF16(o, v, hd, sh, hd, m)
			} else {
				_, v := c.Chunk(l, h, p, hd)
				nn.Mix(o, v, hd, sh, hd, m)
			}
		}
	}
}

// attnItem is a unit of the attention's work: heads [h0, h1) of the rows
// of sequence group g (r.seqs[g] up to r.seqs[g+1]). With part ≥ 0 it is
// the positions [p0, p1) of a decode row, whose partial results go to
// part part of r.parts.
type attnItem struct {
	g, h0, h1 int
	p0, p1    int
	part      int
}

// attnParts holds the partial results of the decode rows cut into parts,
// part by part: for each head the largest score over the part's
// positions and the sum of exp(score - largest), and the part's output,
// every head, as if its positions were all (normalised by that sum).
type attnParts struct {
	max, sum []float32 // parts × heads
	out      []float32 // parts × C
	wt       []float32 // scratch: a head's weight per part
}

// planAttention cuts the step's sequences into the attention's work
// items. A sequence with more rows than one in the step (a prompt's
// chunk) is an item per head, its rows in order, each put and then
// attended: the work is the rows' products, over keys that stay in cache
// from row to row. A decoding sequence (one row) is one item of all its
// heads: its keys, then its values, are each one stream through the
// cache's blocks (see kvBlock). With fewer decoding sequences than
// workers, and no prompt, each is cut by position into parts, one a
// worker, which mergeParts puts together: one int8 sequence at position
// 500 took 1.14× the old layout's step time as one item, 1.03–1.04× in
// parts (f32 at position 96: 1.03–1.04× and 1.00–1.02×).
func (r *Runner) planAttention(rows []Row) {
	NH, C, workers := r.m.Config.NHead, r.m.Config.NEmbd, r.pool.Workers()
	groups := len(r.seqs) - 1
	split := 0
	if groups < workers && len(rows) == groups {
		split = (workers + groups - 1) / groups
	}
	r.items = r.items[:0]
	parts := 0
	for g := range groups {
		if r.seqs[g+1]-r.seqs[g] > 1 {
			for h := range NH {
				r.items = append(r.items, attnItem{g: g, h0: h, h1: h + 1, part: -1})
			}
			continue
		}
		n := rows[r.seqs[g]].Pos + 1
		if split < 2 || n < split*minPart {
			r.items = append(r.items, attnItem{g: g, h0: 0, h1: NH, part: -1})
			continue
		}
		for k := range split {
			r.items = append(r.items, attnItem{g: g, h0: 0, h1: NH, p0: k * n / split, p1: (k + 1) * n / split, part: parts})
			parts++
		}
	}
	if len(r.parts.out) < parts*C {
		r.parts = attnParts{max: make([]float32, parts*NH), sum: make([]float32, parts*NH),
			out: make([]float32, parts*C), wt: make([]float32, parts)}
	}
}

// minPart is the fewest positions worth a part of their own.
const minPart = 16

// mergeParts writes the attention output of each decode row that was cut
// into parts: per head, the parts' outputs weighted by their sums, each
// rescaled to the largest score of them all, over the total weight.
func (r *Runner) mergeParts(att []float32) {
	C, NH, hd := r.m.Config.NEmbd, r.m.Config.NHead, r.m.Config.HeadSize()
	wt := r.parts.wt
	for i := 0; i < len(r.items); {
		first := r.items[i]
		if first.part < 0 {
			i++
			continue
		}
		j := i + 1
		for j < len(r.items) && r.items[j].g == first.g {
			j++
		}
		np := j - i // parts first.part, first.part+1, ...
		row := r.seqs[first.g]
		for h := range NH {
			top := float32(math.Inf(-1))
			for p := range np {
				top = max(top, r.parts.max[(first.part+p)*NH+h])
			}
			var total float64
			for p := range np {
				k := (first.part+p)*NH + h
				w := float64(r.parts.sum[k]) * math.Exp(float64(r.parts.max[k]-top))
				wt[p], total = float32(w), total+w
			}
			out := att[row*C+h*hd : row*C+(h+1)*hd]
			clear(out)
			nn.Mix(out, r.parts.out[first.part*C+h*hd:], C, wt[:np], hd, np)
			inv := float32(1 / total)
			for k := range out {
				out[k] *= inv
			}
		}
		i = j
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
