package refserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/sample"
)

// GenerateConfig is `refserver generate`: one prompt through the engine,
// printed to the console.
type GenerateConfig struct {
	Model       ModelConfig
	Engine      engine.Config
	DType       string  // the weights' type on the CPU: f32 (""), bf16, f16 or int8
	KVDType     string  // the KV cache's type: f32, f16, int8; "" follows the weights
	Prompt      string  // text prompt
	PromptIDs   string  // comma-separated token ids, instead of Prompt
	MaxTokens   int     // tokens to generate; 0 means 32
	Temperature float64 // 0 means greedy
	TopK        int
	TopP        float64
	Seed        int64 // -1 means unseeded
	Greedy      bool  // argmax, whatever the temperature
	PrintIDs    bool  // print the generated ids, comma-separated, instead of text
	Stop        stopList
}

type stopList []string

// String implements flag.Value.
func (s *stopList) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value: each --stop adds one sequence.
func (s *stopList) Set(v string) error { *s = append(*s, v); return nil }

// RegisterFlags adds generate's flags to fs.
func (c *GenerateConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Model.RegisterFlags(fs)
	c.Engine.RegisterFlags(fs)
	fs.StringVar(&c.DType, "dtype", "f32", "the weights' type: f32, bf16 or f16 (16 bits a weight, sums in f32), or int8 (a scale per column)")
	fs.StringVar(&c.KVDType, "kv-dtype", "", kvDTypeUsage)
	fs.StringVar(&c.Prompt, "prompt", "", "prompt text")
	fs.StringVar(&c.PromptIDs, "prompt-ids", "", "prompt as comma-separated GPT-2 token ids (e.g. 15496,995), instead of --prompt")
	fs.IntVar(&c.MaxTokens, "max-tokens", 32, "tokens to generate")
	fs.Float64Var(&c.Temperature, "temperature", 0.7, "sampling temperature; 0 is greedy")
	fs.IntVar(&c.TopK, "top-k", 0, "keep the k most likely tokens (0: all)")
	fs.Float64Var(&c.TopP, "top-p", 0, "nucleus sampling threshold in (0, 1] (0: off)")
	fs.Int64Var(&c.Seed, "seed", -1, "sampling seed for reproducible output (-1: random)")
	fs.BoolVar(&c.Greedy, "greedy", false, "always pick the most likely token")
	fs.BoolVar(&c.PrintIDs, "print-ids", false, "print the generated token ids on one line, comma-separated, instead of text")
	fs.Var(&c.Stop, "stop", "stop sequence (repeatable)")
}

// Validate checks the flags that need no model.
func (c GenerateConfig) Validate() error {
	if (c.Prompt == "") == (c.PromptIDs == "") {
		return errors.New("give exactly one of --prompt and --prompt-ids")
	}
	if c.DType != "" && c.DType != "f32" {
		if _, err := nn.ParseDType(c.DType); err != nil {
			return fmt.Errorf("--dtype: %w", err)
		}
	}
	if c.KVDType != "" {
		if _, err := ParseKVDType(c.KVDType); err != nil {
			return err
		}
	}
	if c.MaxTokens <= 0 {
		return fmt.Errorf("--max-tokens is %d, want at least 1", c.MaxTokens)
	}
	return c.Engine.Validate()
}

func (c GenerateConfig) params() sample.Params {
	p := sample.Params{Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP, Greedy: c.Greedy}
	if c.Seed >= 0 {
		p.Seed, p.HasSeed = uint64(c.Seed), true
	}
	return p
}

// Generate runs one prompt and streams the result to out: text as it is
// generated, or with PrintIDs the token ids on one line. Notes (the model
// source, the finish reason) go to log.
func Generate(parent context.Context, cfg GenerateConfig, out, log io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tok, err := bpe.New()
	if err != nil {
		return err
	}
	var prompt []int
	if cfg.PromptIDs != "" {
		if prompt, err = parseIDs(cfg.PromptIDs); err != nil {
			return err
		}
	} else {
		prompt = tok.Encode(cfg.Prompt)
	}
	m, err := cfg.Model.Load(log)
	if err != nil {
		return err
	}
	note, err := ConvertOnCPU(m, cfg.DType, cfg.KVDType)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(log, "refserver: %s\n", note)
	}
	e, err := engine.New(m, tok, cfg.Engine, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	events, err := e.Submit(ctx, engine.Request{Prompt: prompt, MaxTokens: cfg.MaxTokens, Sampling: cfg.params(), Stop: cfg.Stop})
	if err != nil {
		return err
	}
	var ids []string
	for ev := range events {
		if ev.Token >= 0 {
			ids = append(ids, strconv.Itoa(ev.Token))
		}
		if !cfg.PrintIDs {
			io.WriteString(out, ev.Text)
		}
		if !ev.Done {
			continue
		}
		if cfg.PrintIDs {
			fmt.Fprintln(out, strings.Join(ids, ","))
		} else {
			fmt.Fprintln(out)
		}
		s := ev.Stats
		if s.FirstToken.IsZero() {
			return fmt.Errorf("generate: %s: %w", ev.Finish, ev.Err)
		}
		fmt.Fprintf(log, "refserver: %d prompt + %d generated tokens, finish %s, first token after %v, %.1f ms per output token\n",
			s.PromptTokens, s.OutputTokens, ev.Finish, s.FirstToken.Sub(s.Submitted).Round(100_000),
			float64(s.Finished.Sub(s.FirstToken).Microseconds())/1e3/float64(max(s.OutputTokens-1, 1)))
		if parent.Err() != nil {
			return fmt.Errorf("generate: interrupted after %d tokens", s.OutputTokens)
		}
		if ev.Err != nil {
			return fmt.Errorf("generate: %w", ev.Err)
		}
	}
	return nil
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--prompt-ids: %q is not a token id", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
