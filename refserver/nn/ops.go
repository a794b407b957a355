package nn

import (
	"math"
	"unsafe"
)

// LayerNorm writes out[i] = (x[i] - mean) / sqrt(var + eps) * g[i] + b[i]
// over one row x of len(g) floats.
func LayerNorm(out, x, g, b []float32, eps float32) { active.layerNorm(out, x, g, b, eps) }

func layerNormGo(out, x, g, b []float32, eps float32) {
	n := len(g)
	x = x[:n]
	out = out[:n]
	var sum float32
	for _, v := range x {
		sum += v
	}
	mean := sum / float32(n)
	var ss float32
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	inv := float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
	for i, v := range x {
		out[i] = (v-mean)*inv*g[i] + b[i]
	}
}

// GELU applies gelu_new (GPT-2's tanh approximation) to x in place.
func GELU(x []float32) { active.gelu(x) }

// Softmax turns x into probabilities in place (max-subtracted, stable).
// It returns false, leaving x unchanged, when x has no finite value.
func Softmax(x []float32) bool { return active.softmax(x) }

func softmaxGo(x []float32) bool {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	if math.IsInf(float64(m), -1) || m != m {
		return false
	}
	var sum float32
	for i, v := range x {
		e := Exp(v - m)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
	return true
}

// Scores computes out[j] = scale · (k[j*ldk:][:hd] · q) for j < n: one
// query's attention scores against n cached keys of a head.
func Scores(out, k []float32, ldk int, q []float32, hd, n int, scale float32) {
	active.dot(out, k, ldk, q, hd, n, scale)
}

// Mix adds Σ_j p[j] · v[j*ldv:][:hd] for j < n to out[:hd]: the
// attention-weighted sum of n cached values of a head.
func Mix(out, v []float32, ldv int, p []float32, hd, n int) {
	active.axpy(out, v, ldv, p, hd, n)
}

// ScoresF16 is Scores over keys stored as IEEE halves (an f16 KV cache).
func ScoresF16(out []float32, k []uint16, ldk int, q []float32, hd, n int, scale float32) {
	active.dotF16(out, k, ldk, q, hd, n, scale)
}

// MixF16 is Mix over values stored as IEEE halves.
func MixF16(out []float32, v []uint16, ldv int, p []float32, hd, n int) {
	active.axpyF16(out, v, ldv, p, hd, n)
}

// ScoresI8 is Scores over keys stored as int8 rows, row j scaled by s[j]
// (an int8 KV cache): out[j] = scale · s[j] · (k[j*ldk:][:hd] · q).
func ScoresI8(out []float32, k []int8, ldk int, q []float32, hd, n int, scale float32, s []float32) {
	active.dotI8(out, k, ldk, q, hd, n, scale, s)
}

// MixI8 is Mix over values stored as int8 rows, row j scaled by s[j].
func MixI8(out []float32, v []int8, ldv int, p []float32, hd, n int, s []float32) {
	active.axpyI8(out, v, ldv, p, hd, n, s)
}

// QuantizeRow rounds src to int8 in dst[:len(src)] with one scale, the
// largest |src| over 127 (symmetric), and returns the scale: 0 when src is
// all zero, NaN (with zeros) when it holds a NaN or an Inf.
func QuantizeRow(dst []int8, src []float32) float32 { return active.quantRow(dst[:len(src)], src) }

// ToF16 rounds src to IEEE halves, to nearest even, into dst[:len(src)].
func ToF16(dst []uint16, src []float32) { active.cvtF16(dst[:len(src)], src) }

// Prefetch asks the CPU to bring x into its caches, and returns at once:
// for a short read that the hardware prefetcher would start too late,
// such as one attention head's cache, issued while other work runs.
func Prefetch[T float32 | uint16 | int8](x []T) {
	if len(x) > 0 {
		prefetchLines(unsafe.Pointer(&x[0]), len(x)*int(unsafe.Sizeof(x[0])))
	}
}

// Sum returns the sum of x. It reads memory as fast as a core can, which
// makes it the probe for the memory-bandwidth floor of a decode step.
func Sum(x []float32) float32 { return active.sum(x) }

// Argmax returns the index of the largest value in x, the lowest index
// among ties (+0 and -0 tie), and that value. NaN never compares greater,
// so when no value is greater than -Inf it returns 0 and -Inf; for an
// empty x, -1 and -Inf. Greedy sampling calls it on every row of logits:
// 50,257 of them for GPT-2.
func Argmax(x []float32) (int, float32) {
	if len(x) == 0 {
		return -1, float32(math.Inf(-1))
	}
	return active.argmax(x)
}

// PanelWidth is the number of columns in the panels that Tile multiplies:
// a panel of k rows is k × PanelWidth floats, row after row.
const PanelWidth = panel

// TileRows is the most rows one Tile call takes with this CPU's kernels.
func TileRows() int { return active.mr }

// Tile computes c[r*ldc:][:PanelWidth] = a[r*lda:][:k] · b for each row
// r < mr (at most TileRows), b a panel of k rows of PanelWidth floats.
// It is MatMul's inner kernel, for callers that lay out small operands
// themselves, as the attention over a prompt does.
func Tile(mr, k int, a []float32, lda int, b, c []float32, ldc int) {
	active.tile(mr, k, a, lda, b, c, ldc, nil, false)
}
