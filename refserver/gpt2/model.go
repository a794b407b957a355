package gpt2

import (
	"fmt"
	"strings"

	"gorgonia.org/tensor"

	"github.com/llmbench/llmbench/refserver/nn"
)

// Model holds a GPT-2's weights. It is read-only after it is built and safe
// for concurrent use.
type Model struct {
	Config Config
	// Synthetic is true when the weights are made up from a seed: the model
	// costs the same as the real one but its text is meaningless.
	Synthetic bool
	// Source says where the weights came from (a folder, or "synthetic, seed N").
	Source string

	WTE    *nn.Packed    // token embedding, stored as the tied LM head: (C, V)
	LMHead *nn.Packed    // (C, V); the same as WTE unless a checkpoint unties them
	WPE    *tensor.Dense // position embedding (maxT, C)
	Blocks []Block       // L
	LNFG   []float32     // final LayerNorm gain (C)
	LNFB   []float32     // final LayerNorm bias (C)
	// KV is the element type of the caches NewCache makes: nn.F32 (or
	// empty), nn.F16 or nn.Int8. Set it with SetKV.
	KV nn.DType
	// kvSet says that SetKV chose KV, which Convert then keeps;
	// keysSmoothed that SetKV(nn.Int8) has re-expressed the queries and
	// keys (smoothKeys).
	kvSet, keysSmoothed bool
	// free keeps the storage of released caches for NewCache to reuse.
	free cacheFree
}

// Block is one transformer layer.
type Block struct {
	LN1G, LN1B []float32  // (C)
	QKV        *nn.Packed // c_attn: (C, 3C) + (3C)
	AttnProj   *nn.Packed // attn.c_proj: (C, C) + (C)
	LN2G, LN2B []float32  // (C)
	FC         *nn.Packed // mlp.c_fc: (C, 4C) + (4C)
	Proj       *nn.Packed // mlp.c_proj: (4C, C) + (C)
}

// newModel allocates a model of the given shape with zero weights and unit
// LayerNorm gains.
func newModel(c Config) *Model {
	C := c.NEmbd
	m := &Model{
		Config: c,
		WTE:    nn.NewPacked(C, c.VocabSize, false),
		WPE:    tensor.New(tensor.WithShape(c.NPositions, C), tensor.Of(tensor.Float32)),
		LNFG:   ones(C),
		LNFB:   make([]float32, C),
	}
	m.LMHead = m.WTE
	m.Blocks = make([]Block, c.NLayer)
	for l := range m.Blocks {
		m.Blocks[l] = Block{
			LN1G: ones(C), LN1B: make([]float32, C),
			QKV:      nn.NewPacked(C, 3*C, true),
			AttnProj: nn.NewPacked(C, C, true),
			LN2G:     ones(C), LN2B: make([]float32, C),
			FC:   nn.NewPacked(C, 4*C, true),
			Proj: nn.NewPacked(4*C, C, true),
		}
	}
	return m
}

func ones(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// wpe returns the position embedding's backing slice.
func (m *Model) wpe() []float32 { return m.WPE.Data().([]float32) }

// ToBF16 is Convert(nn.BF16, nn.ActDefault), which cannot fail.
func (m *Model) ToBF16() {
	if err := m.Convert(nn.BF16, nn.ActDefault); err != nil {
		panic(err)
	}
}

// Convert keeps every weight matrix in type t from now on (see
// nn.Packed.Convert): a decode step streams half the bytes in bf16 or
// f16, a quarter in int8. The LayerNorms, biases and the position
// embedding stay float32. act picks how the products treat the
// activations. Unless SetKV chose it before, the KV caches made from now
// on follow the weights: f32 weights keep an f32 cache, the exact
// reference; bf16, f16, and int8 weights with f32 activations
// (weight-only) a cache of halves, as llama.cpp's is by default; int8
// weights with int8 activations an int8 cache, a row of each head's key
// (value) with its own scale. At 8 sequences of 96 positions an f32 cache
// streams 57 MB a step, half as much as int8 weights: halves made the
// engine's 8-sequence throughput 11 % faster in int8 and 5 % in f32, and
// int8 rows took another 9 % off an int8 step of 8 sequences, for about
// the logits' error that halves gave (docs/BENCHMARKS.md, "An int8 KV
// cache").
func (m *Model) Convert(t nn.DType, act nn.Activations) error {
	kv := nn.F16
	switch {
	case m.kvSet:
		kv = m.KV
	case t == nn.F32:
		kv = nn.F32
	case t == nn.Int8 && act.Low(t):
		kv = nn.Int8
	}
	// An int8 cache's keys are re-expressed in the float32 weights.
	if err := m.SetKV(kv); err != nil {
		return err
	}
	mats := []*nn.Packed{m.WTE}
	if m.LMHead != m.WTE {
		mats = append(mats, m.LMHead)
	}
	for _, b := range m.Blocks {
		mats = append(mats, b.QKV, b.AttnProj, b.FC, b.Proj)
	}
	for _, p := range mats {
		if err := p.Convert(t, act); err != nil {
			return fmt.Errorf("gpt2: %w", err)
		}
	}
	return nil
}

// KVType is the KV cache's element type: "f32", "f16" or "int8".
func (m *Model) KVType() string {
	if m.KV == "" {
		return string(nn.F32)
	}
	return string(m.KV)
}

// DType is the weights' type: "f32", "bf16", "f16" or "int8".
func (m *Model) DType() string { return string(m.LMHead.DType()) }

// Precision is the weights' type; for the types that can round the
// activations too (bf16, int8), how the products treat them; and the KV
// cache's type where it is not the weights': "f32",
// "bf16 (f32 activations, f16 KV)", "f16", "int8 (int8 activations)",
// "int8 (f32 activations, f16 KV)".
func (m *Model) Precision() string {
	t := m.LMHead.DType()
	var notes []string
	switch {
	case t != nn.BF16 && t != nn.Int8:
	case m.LMHead.LowActivations():
		notes = append(notes, fmt.Sprintf("%s activations", t))
	default:
		notes = append(notes, "f32 activations")
	}
	if kv := m.KVType(); kv != string(t) {
		notes = append(notes, kv+" KV")
	}
	if len(notes) == 0 {
		return string(t)
	}
	return fmt.Sprintf("%s (%s)", t, strings.Join(notes, ", "))
}

// WeightBytes reports the bytes of weights a decode step streams: every
// matrix, the LM head included.
func (m *Model) WeightBytes() int64 {
	n := m.LMHead.Bytes()
	for _, b := range m.Blocks {
		n += b.QKV.Bytes() + b.AttnProj.Bytes() + b.FC.Bytes() + b.Proj.Bytes()
	}
	return n
}
