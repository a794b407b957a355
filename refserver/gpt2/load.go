package gpt2

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/safetensors"
)

// Load reads a Hugging Face GPT-2 folder: config.json and model.safetensors,
// with F32, F16 or BF16 weights, tensor names with or without the
// "transformer." prefix, and an lm_head.weight that may be present or
// absent. Causal-mask buffers (h.N.attn.bias, h.N.attn.masked_bias) are
// skipped. A missing, misshapen, non-finite or unexpected tensor is an error
// that names it.
func Load(dir string) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load model: %w (only .safetensors checkpoints are read)", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer f.Close()
	// config.json is checked against the checkpoint before anything is
	// allocated from it: a config that claims a billion positions must
	// not allocate them.
	if err := checkShapes(f, cfg); err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	m := newModel(cfg)
	m.Source = dir
	if err := (&loader{f: f, m: m, used: map[string]bool{}}).load(); err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// checkShapes compares the embeddings' shapes and the number of layers in
// the checkpoint with cfg.
func checkShapes(f *safetensors.File, cfg Config) error {
	prefix := ""
	if _, ok := f.Info("transformer.wte.weight"); ok {
		prefix = "transformer."
	}
	for _, want := range []struct {
		name       string
		rows, cols int
		what       string
	}{
		{"wte.weight", cfg.VocabSize, cfg.NEmbd, "vocab_size × n_embd"},
		{"wpe.weight", cfg.NPositions, cfg.NEmbd, "n_positions × n_embd"},
	} {
		t, ok := f.Info(prefix + want.name)
		if !ok {
			return fmt.Errorf("the checkpoint has no %s", prefix+want.name)
		}
		if len(t.Shape) != 2 || t.Shape[0] != want.rows || t.Shape[1] != want.cols {
			return fmt.Errorf("config.json says %s is %d × %d, but %q has shape %v", want.what, want.rows, want.cols, prefix+want.name, t.Shape)
		}
	}
	layers := 0
	for _, name := range f.Names() {
		var l int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix), "h.%d.", &l); err == nil {
			layers = max(layers, l+1)
		}
	}
	// More layers than the config are reported by name once loaded (as
	// unexpected tensors); fewer must not be allocated first.
	if layers < cfg.NLayer {
		return fmt.Errorf("config.json says n_layer %d, the checkpoint has %d layers", cfg.NLayer, layers)
	}
	return nil
}

// maskBuffer matches the attention-mask buffers that old checkpoints store
// beside the weights.
var maskBuffer = regexp.MustCompile(`^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$`)

type loader struct {
	f      *safetensors.File
	m      *Model
	prefix string
	used   map[string]bool
	buf    []float32
}

func (l *loader) load() error {
	c := l.m.Config
	C, V, T := c.NEmbd, c.VocabSize, c.NPositions
	if _, ok := l.f.Info("transformer.wte.weight"); ok {
		l.prefix = "transformer."
	}
	if err := l.matrixT(l.m.WTE, "wte.weight", V, C); err != nil {
		return err
	}
	if err := l.vector(l.m.wpe(), "wpe.weight", T, C); err != nil {
		return err
	}
	for i := range l.m.Blocks {
		b := &l.m.Blocks[i]
		h := fmt.Sprintf("h.%d.", i)
		steps := []error{
			l.vector(b.LN1G, h+"ln_1.weight", C),
			l.vector(b.LN1B, h+"ln_1.bias", C),
			l.linear(b.QKV, h+"attn.c_attn", C, 3*C),
			l.linear(b.AttnProj, h+"attn.c_proj", C, C),
			l.vector(b.LN2G, h+"ln_2.weight", C),
			l.vector(b.LN2B, h+"ln_2.bias", C),
			l.linear(b.FC, h+"mlp.c_fc", C, 4*C),
			l.linear(b.Proj, h+"mlp.c_proj", 4*C, C),
		}
		if err := errors.Join(steps...); err != nil {
			return err
		}
	}
	if err := errors.Join(l.vector(l.m.LNFG, "ln_f.weight", C), l.vector(l.m.LNFB, "ln_f.bias", C)); err != nil {
		return err
	}
	if err := l.lmHead(); err != nil {
		return err
	}
	var extra []string
	for _, name := range l.f.Names() {
		if !l.used[name] && !maskBuffer.MatchString(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		if len(extra) > 5 {
			extra = append(extra[:5], fmt.Sprintf("and %d more", len(extra)-5))
		}
		return fmt.Errorf("unexpected tensors for a %d-layer GPT-2: %s", c.NLayer, strings.Join(extra, ", "))
	}
	return nil
}

// read decodes tensor name (under the file's prefix) after checking its
// shape, into a reused buffer.
func (l *loader) read(name string, shape ...int) ([]float32, string, error) {
	full := l.prefix + name
	info, ok := l.f.Info(full)
	if !ok {
		return nil, full, fmt.Errorf("tensor %q is missing", full)
	}
	if !slices.Equal(info.Shape, shape) {
		return nil, full, fmt.Errorf("tensor %q has shape %v, the config needs %v", full, info.Shape, shape)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if cap(l.buf) < n {
		l.buf = make([]float32, n)
	}
	buf := l.buf[:n]
	if err := l.f.Float32s(full, buf); err != nil {
		return nil, full, err
	}
	for i, v := range buf {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, full, fmt.Errorf("tensor %q holds a non-finite value (%v) at element %d", full, v, i)
		}
	}
	l.used[full] = true
	return buf, full, nil
}

func (l *loader) vector(dst []float32, name string, shape ...int) error {
	buf, _, err := l.read(name, shape...)
	if err != nil {
		return err
	}
	copy(dst, buf)
	return nil
}

func (l *loader) linear(dst interface {
	SetRows([]float32) error
	SetBias([]float32) error
}, name string, in, out int) error {
	w, full, err := l.read(name+".weight", in, out)
	if err != nil {
		return err
	}
	if err := dst.SetRows(w); err != nil {
		return fmt.Errorf("tensor %q: %w", full, err)
	}
	b, full, err := l.read(name+".bias", out)
	if err != nil {
		return err
	}
	if err := dst.SetBias(b); err != nil {
		return fmt.Errorf("tensor %q: %w", full, err)
	}
	return nil
}

func (l *loader) matrixT(dst interface{ SetCols([]float32) error }, name string, rows, cols int) error {
	w, full, err := l.read(name, rows, cols)
	if err != nil {
		return err
	}
	if err := dst.SetCols(w); err != nil {
		return fmt.Errorf("tensor %q: %w", full, err)
	}
	return nil
}

// lmHead reads lm_head.weight when the file has one. It is normally the
// token embedding again (tied); a different one gets its own matrix.
func (l *loader) lmHead() error {
	const name = "lm_head.weight"
	if _, ok := l.f.Info(name); !ok {
		return nil
	}
	c := l.m.Config
	saved := l.prefix
	l.prefix = ""
	w, _, err := l.read(name, c.VocabSize, c.NEmbd)
	l.prefix = saved
	if err != nil {
		return err
	}
	tied := true
	col := make([]float32, c.NEmbd)
	for v := 0; v < c.VocabSize && tied; v++ {
		l.m.WTE.Col(col, v)
		tied = slices.Equal(col, w[v*c.NEmbd:(v+1)*c.NEmbd])
	}
	if tied {
		return nil
	}
	l.m.LMHead = nn.NewPacked(c.NEmbd, c.VocabSize, false)
	return l.m.LMHead.SetCols(w)
}
