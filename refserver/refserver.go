// Package refserver is llmbench's reference GPT-2 inference server. This
// package holds its commands (serve, generate); the parts live in the
// subpackages: gpt2 (the model), nn (the kernels), engine (continuous
// batching), bpe (the tokenizer), sample (token selection) and
// safetensors (the checkpoint reader).
package refserver

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/nn"
)

// ModelConfig says which model to serve. The zero value means synthetic
// GPT-2 124M with seed 1.
type ModelConfig struct {
	Dir  string // a Hugging Face GPT-2 folder (config.json + model.safetensors); empty: synthetic weights
	Size string // synthetic model size: 124M, 355M, 774M or 1558M; empty: 124M
	Seed uint64 // synthetic weights' seed; 0 means 1
}

// RegisterFlags adds the model flags to fs.
func (c *ModelConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "model", "",
		"Hugging Face GPT-2 folder (config.json + model.safetensors; F32, F16 or BF16); empty: synthetic weights")
	fs.StringVar(&c.Size, "model-size", "124M",
		"size of the synthetic model when --model is empty: 124M, 355M, 774M or 1558M")
	fs.Uint64Var(&c.Seed, "model-seed", 1, "seed of the synthetic weights")
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
	"serve": `usage: refserver [serve] [flags]
       refserver generate [flags]   (refserver generate -h for its flags)
       (its benchmarks: llmbench-dev refserver-bench, llmbench-dev device-bench)

Serves GPT-2 over HTTP on loopback: POST /generate, /generate/stream,
/v1/completions, /v1/chat/completions; GET /v1/models, /health, /metrics,
/docs. Without --model it serves GPT-2 124M with synthetic weights (real
speed, meaningless text). Traces go to --otlp-endpoint (or
$OTEL_EXPORTER_OTLP_ENDPOINT) when one is set. SIGTERM drains: new requests
get 503, those in flight finish, traces are flushed, exit 0.

Every flag can also be set from the environment variable shown beside it.`,
	"generate": `usage: refserver generate [flags] --prompt TEXT | --prompt-ids IDS

Generates from one prompt through the continuous-batching engine and prints
the text as it comes (or, with --print-ids, the token ids on one line).
Without --model it runs GPT-2 124M with synthetic weights: real speed,
meaningless text.

  refserver generate --prompt "Hello" --max-tokens 40
  refserver generate --model DIR --prompt-ids 15496,995 --greedy --print-ids --max-tokens 16`,
}

// ConvertOnCPU keeps m's weights in dtype for the CPU engine, and its KV
// caches in kvDType: "" and f32 leave the weights as loaded (float32,
// whatever the checkpoint's type), bf16 and f16 round them to 16 bits,
// int8 quantizes them (a scale per column). Sums stay float32. An empty
// kvDType follows the weights (gpt2.Model.Convert): f32 with f32, f16 with
// bf16 and f16, int8 with int8 (where the CPU has VPDPBUSD, so that the
// activations are int8 too; f16 otherwise). It returns a line that says what it did,
// empty when it did nothing.
func ConvertOnCPU(m *gpt2.Model, dtype, kvDType string) (string, error) {
	if dtype == "" {
		dtype = "f32"
	}
	t, err := nn.ParseDType(dtype)
	if err != nil {
		return "", fmt.Errorf("--dtype: %w", err)
	}
	var kv nn.DType
	if kvDType != "" {
		if kv, err = ParseKVDType(kvDType); err != nil {
			return "", err
		}
	}
	if t == nn.F32 && kv == "" {
		return "", nil
	}
	start, before := time.Now(), m.WeightBytes()
	// The cache first: an int8 one re-expresses the keys in the float32
	// weights, and Convert keeps the choice.
	if kv != "" {
		if err := m.SetKV(kv); err != nil {
			return "", err
		}
	}
	if err := m.Convert(t, nn.ActDefault); err != nil {
		return "", err
	}
	what := m.Precision() // it names the cache's type where it is not the weights'
	if !strings.HasSuffix(what, " KV)") {
		what += ", KV cache in " + m.KVType()
	}
	return fmt.Sprintf("weights in %s on the CPU: %.0f MB a decode step streams, from %.0f MB in f32 (converted in %v)",
		what, float64(m.WeightBytes())/1e6, float64(before)/1e6, time.Since(start).Round(time.Millisecond)), nil
}

// ParseKVDType reads --kv-dtype: f32, f16 or int8.
func ParseKVDType(s string) (nn.DType, error) {
	switch t := nn.DType(s); t {
	case nn.F32, nn.F16, nn.Int8:
		return t, nil
	}
	return "", fmt.Errorf("--kv-dtype %q: want f32, f16 or int8", s)
}

// kvDTypeUsage is --kv-dtype's help, the same in every command.
const kvDTypeUsage = "the CPU engine's KV cache type: f32, f16 (IEEE halves) or int8 (a row of each head's key or value with its own scale, the keys re-expressed so that they round well); empty follows the weights: f32 with f32, f16 with bf16 or f16, int8 with int8 (f16 on a CPU without AVX512_VNNI, whose int8 products keep f32 activations)"
