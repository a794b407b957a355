// Package refserver is llmbench's reference GPT-2 inference server. This
// package holds its commands (generate, bench); the parts live in the
// subpackages: gpt2 (the model), nn (the kernels), engine (continuous
// batching), bpe (the tokenizer), sample (token selection) and
// safetensors (the checkpoint reader).
package refserver

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/llmbench/llmbench/refserver/gpt2"
)

// ModelConfig says which model to serve. The zero value means synthetic
// GPT-2 124M with seed 1.
type ModelConfig struct {
	Dir  string // a Hugging Face GPT-2 folder (config.json + model.safetensors); empty: synthetic weights
	Size string // synthetic model size: 124M, 355M, 774M or 1558M; empty: 124M
	Seed uint64 // synthetic weights' seed; 0 means 1
}

// RegisterFlags adds the model flags to fs, with $REFSERVER_MODEL,
// $REFSERVER_MODEL_SIZE and $REFSERVER_MODEL_SEED as defaults.
func (c *ModelConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "model", os.Getenv("REFSERVER_MODEL"),
		"Hugging Face GPT-2 folder (config.json + model.safetensors; F32, F16 or BF16) [$REFSERVER_MODEL]; empty: synthetic weights")
	fs.StringVar(&c.Size, "model-size", envOr("REFSERVER_MODEL_SIZE", "124M"),
		"size of the synthetic model when --model is empty: 124M, 355M, 774M or 1558M [$REFSERVER_MODEL_SIZE]")
	seed, _ := strconv.ParseUint(os.Getenv("REFSERVER_MODEL_SEED"), 10, 64)
	fs.Uint64Var(&c.Seed, "model-seed", max(seed, 1), "seed of the synthetic weights [$REFSERVER_MODEL_SEED]")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Load builds the model: from Dir, or synthetic. It tells log, once, when
// the weights are synthetic and the text will be meaningless.
func (c ModelConfig) Load(log io.Writer) (*gpt2.Model, error) {
	start := time.Now()
	if c.Dir != "" {
		m, err := gpt2.Load(c.Dir)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "refserver: loaded GPT-2 (%d layers, %d wide, %.0fM parameters) from %s in %v\n",
			m.Config.NLayer, m.Config.NEmbd, float64(m.Config.Params())/1e6, c.Dir, time.Since(start).Round(time.Millisecond))
		return m, nil
	}
	cfg, err := gpt2.Preset(c.Size)
	if err != nil {
		return nil, err
	}
	m, err := gpt2.NewSynthetic(cfg, max(c.Seed, 1))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "refserver: no --model given: serving GPT-2 %s with SYNTHETIC weights (seed %d). "+
		"It runs at the real model's speed, but its text is meaningless. Pass --model DIR for real GPT-2.\n",
		c.Size, max(c.Seed, 1))
	return m, nil
}

// Help is each command's description, for its -h.
var Help = map[string]string{
	"generate": `usage: refserver generate [flags] --prompt TEXT | --prompt-ids IDS

Generates from one prompt through the continuous-batching engine and prints
the text as it comes (or, with --print-ids, the token ids on one line).
Without --model it runs GPT-2 124M with synthetic weights: real speed,
meaningless text.

  refserver generate --prompt "Hello" --max-tokens 40
  refserver generate --model DIR --prompt-ids 15496,995 --greedy --print-ids --max-tokens 16`,
	"bench": `usage: refserver bench [flags]

Measures, in one run: memory bandwidth (the floor of a decode step), a
single-stream decode step, a 128-token prefill, engine throughput with 1 and
8 sequences, and peak memory with 8 sequences of 1024 tokens. Prints each
figure beside its target. Takes about a minute for GPT-2 124M.`,
}
