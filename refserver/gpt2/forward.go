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
		r.scores[i] = make([]float32, m.Config.NPositions)
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
// writes the rows' attention outputs to att. A work item is one head of one
// sequence: its rows of this step, in order, each put and then attended
// (a prefill's later rows read what its earlier rows put). Items go to
// whichever worker is free, so sequences of different lengths, and a
// worker that the host holds up, leave no one waiting at the end.
//
// The cached keys and values come from memory (the weights' stream evicted
// them), so a worker asks for an item's values before it computes the
// item's scores, and for the next item's keys before the softmax. Int8, 8
// sequences, alternated in one process against no prefetch and against
// the whole next item asked for at once: 0.96× the step time of either
// (median of 6 pairs, at positions 96 and 200).
func (r *Runner) attention(l int, rows []Row, qkv, att []float32, scale float32) {
	cfg := r.m.Config
	C, NH, hd := cfg.NEmbd, cfg.NHead, cfg.HeadSize()
	items := int64((len(r.seqs) - 1) * NH)
	r.next.Store(0)
	r.pool.For(r.pool.Workers(), func(w, _, _ int) {
		s := r.scores[w]
		for it, next := r.next.Add(1)-1, int64(0); it < items; it = next {
			next = r.next.Add(1) - 1
			g, h := int(it)/NH, int(it)%NH
			prefetch(rows[r.seqs[g+1]-1], l, h, hd, false)
			for i := r.seqs[g]; i < r.seqs[g+1]; i++ {
				row := rows[i]
				q := qkv[i*3*C+h*hd : i*3*C+(h+1)*hd]
				k, v := qkv[i*3*C+C+h*hd:], qkv[i*3*C+2*C+h*hd:]
				row.Cache.Put(l, h, row.Pos, hd, k, v)
				n := row.Pos + 1
				out := att[i*C+h*hd : i*C+(h+1)*hd]
				clear(out)
				half := row.Cache.Half()
				if half {
					K, _ := row.Cache.Head16(l, h, hd)
					nn.ScoresF16(s, K, hd, q, hd, n, scale)
				} else {
					K, _ := row.Cache.Head(l, h, hd)
					nn.Scores(s, K, hd, q, hd, n, scale)
				}
				if i == r.seqs[g] && next < items {
					prefetch(rows[r.seqs[int(next)/NH+1]-1], l, int(next)%NH, hd, true)
				}
				nn.Softmax(s[:n])
				if half {
					_, V := row.Cache.Head16(l, h, hd)
					nn.MixF16(out, V, hd, s, hd, n)
				} else {
					_, V := row.Cache.Head(l, h, hd)
					nn.Mix(out, V, hd, s, hd, n)
				}
			}
		}
	})
}

// prefetchRows is how many positions of an attention item's keys or
// values are prefetched: 16 KiB of f16 with GPT-2's 64-float heads. Past
// that the hardware prefetcher has caught on.
const prefetchRows = 128

// prefetch asks for the cached keys (or values) of head h in layer l of the
// sequence whose last row in this step is last, as far as that row reads.
func prefetch(last Row, l, h, hd int, keys bool) {
	n := min(last.Pos+1, prefetchRows) * hd
	switch {
	case last.Cache.Half() && keys:
		K, _ := last.Cache.Head16(l, h, hd)
		nn.Prefetch(K[:n])
	case last.Cache.Half():
		_, V := last.Cache.Head16(l, h, hd)
		nn.Prefetch(V[:n])
	case keys:
		K, _ := last.Cache.Head(l, h, hd)
		nn.Prefetch(K[:n])
	default:
		_, V := last.Cache.Head(l, h, hd)
		nn.Prefetch(V[:n])
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
