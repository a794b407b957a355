// Package gpt2 is the GPT-2 model of refserver: its configuration, its
// weights (loaded from a Hugging Face folder or made up from a seed), and a
// batched forward pass over a key/value cache.
//
// The architecture is Hugging Face's GPT2LMHeadModel: learned position
// embeddings, pre-LayerNorm blocks of causal self-attention and a gelu_new
// MLP, Conv1D weights stored (in, out), and an LM head tied to the token
// embedding. It follows llm.c's layout: one field per weight, with its shape.
package gpt2

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Config is a GPT-2 model's shape, as in a Hugging Face config.json. Sizes
// are examples from GPT-2 124M.
type Config struct {
	NLayer     int     `json:"n_layer"`     // L, e.g. 12
	NEmbd      int     `json:"n_embd"`      // C, e.g. 768
	NHead      int     `json:"n_head"`      // NH, e.g. 12
	NPositions int     `json:"n_positions"` // maxT, e.g. 1024
	VocabSize  int     `json:"vocab_size"`  // V, e.g. 50257
	LNEps      float64 `json:"layer_norm_epsilon"`
	Activation string  `json:"activation_function"`
	ModelType  string  `json:"model_type"`
	EOSTokenID int     `json:"eos_token_id"`
}

// Named configurations of the released GPT-2 models.
var (
	GPT2Small  = Config{NLayer: 12, NEmbd: 768, NHead: 12, NPositions: 1024, VocabSize: 50257}
	GPT2Medium = Config{NLayer: 24, NEmbd: 1024, NHead: 16, NPositions: 1024, VocabSize: 50257}
	GPT2Large  = Config{NLayer: 36, NEmbd: 1280, NHead: 20, NPositions: 1024, VocabSize: 50257}
	GPT2XL     = Config{NLayer: 48, NEmbd: 1600, NHead: 25, NPositions: 1024, VocabSize: 50257}
)

// Preset returns the configuration of a released GPT-2 by name: "124M"
// (or "gpt2", "small"), "355M" ("medium"), "774M" ("large"), "1558M" ("xl").
func Preset(name string) (Config, error) {
	switch name {
	case "124M", "gpt2", "small", "":
		return GPT2Small.withDefaults(), nil
	case "355M", "medium", "gpt2-medium":
		return GPT2Medium.withDefaults(), nil
	case "774M", "large", "gpt2-large":
		return GPT2Large.withDefaults(), nil
	case "1558M", "xl", "gpt2-xl":
		return GPT2XL.withDefaults(), nil
	}
	return Config{}, fmt.Errorf("unknown GPT-2 size %q (want 124M, 355M, 774M or 1558M)", name)
}

func (c Config) withDefaults() Config {
	if c.LNEps == 0 {
		c.LNEps = 1e-5
	}
	if c.Activation == "" {
		c.Activation = "gelu_new"
	}
	if c.ModelType == "" {
		c.ModelType = "gpt2"
	}
	if c.EOSTokenID == 0 {
		c.EOSTokenID = 50256
	}
	return c
}

// HeadSize reports C / NH, e.g. 64.
func (c Config) HeadSize() int { return c.NEmbd / c.NHead }

// Params reports the number of parameters (the tied LM head counted once).
func (c Config) Params() int {
	C, L := c.NEmbd, c.NLayer
	perLayer := 2*C + C*3*C + 3*C + C*C + C + 2*C + C*4*C + 4*C + 4*C*C + C
	return c.VocabSize*C + c.NPositions*C + L*perLayer + 2*C
}

// Bounds of Validate: well above GPT-2 XL (48 layers, 1600 wide, 1024
// positions, 50257 tokens), far below what would exhaust a machine.
const (
	maxLayers    = 1024
	maxEmbd      = 1 << 16
	maxPositions = 1 << 17
	maxVocab     = 1 << 20
)

// Validate reports whether the configuration describes a GPT-2 this
// package can run.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ModelType == "" || c.ModelType == "gpt2", "model_type is %q, want gpt2", c.ModelType)
	check(c.NLayer > 0, "n_layer is %d, want > 0", c.NLayer)
	check(c.NEmbd > 0, "n_embd is %d, want > 0", c.NEmbd)
	check(c.NHead > 0 && c.NEmbd%max(c.NHead, 1) == 0, "n_embd %d is not a multiple of n_head %d", c.NEmbd, c.NHead)
	check(c.NPositions > 0, "n_positions is %d, want > 0", c.NPositions)
	check(c.VocabSize > 0, "vocab_size is %d, want > 0", c.VocabSize)
	// Sane bounds, far above any GPT-2, so that a corrupt config cannot
	// make refserver allocate without end.
	check(c.NLayer <= maxLayers, "n_layer is %d, more than %d", c.NLayer, maxLayers)
	check(c.NEmbd <= maxEmbd, "n_embd is %d, more than %d", c.NEmbd, maxEmbd)
	check(c.NPositions <= maxPositions, "n_positions is %d, more than %d", c.NPositions, maxPositions)
	check(c.VocabSize <= maxVocab, "vocab_size is %d, more than %d", c.VocabSize, maxVocab)
	check(c.LNEps > 0, "layer_norm_epsilon is %g, want > 0", c.LNEps)
	check(c.Activation == "gelu_new" || c.Activation == "gelu_pytorch_tanh",
		"activation_function is %q, want gelu_new", c.Activation)
	check(c.EOSTokenID >= 0 && c.EOSTokenID < c.VocabSize, "eos_token_id %d is outside the vocabulary of %d", c.EOSTokenID, c.VocabSize)
	return errors.Join(errs...)
}

// LoadConfig reads a Hugging Face config.json. Missing optional fields
// (epsilon, activation, eos) take GPT-2's values; n_ctx is accepted in
// place of n_positions.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	var raw struct {
		Config
		NCtx int  `json:"n_ctx"`
		EOS  *int `json:"eos_token_id"` // 0 is a valid id, so absence is told apart
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("parse model config %s: %w", path, err)
	}
	c := raw.Config
	if c.NPositions == 0 {
		c.NPositions = raw.NCtx
	}
	c = c.withDefaults()
	if raw.EOS != nil {
		c.EOSTokenID = *raw.EOS
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}
