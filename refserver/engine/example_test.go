package engine_test

import (
	"context"
	"fmt"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/sample"
)

// Example runs one greedy request through an engine on a tiny synthetic
// GPT-2: start the loop, submit, read events until the final one.
func Example() {
	cfg := gpt2.Config{NLayer: 2, NEmbd: 64, NHead: 4, NPositions: 128, VocabSize: 50257}
	m, err := gpt2.NewSynthetic(cfg, 1)
	if err != nil {
		panic(err)
	}
	tok, err := bpe.New()
	if err != nil {
		panic(err)
	}
	e, err := engine.New(m, tok, engine.Config{MaxBatch: 4}, nil)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	events, err := e.Submit(ctx, engine.Request{
		Prompt:    tok.Encode("Hello world"),
		MaxTokens: 8,
		Sampling:  sample.Params{Greedy: true},
		IgnoreEOS: true,
	})
	if err != nil {
		panic(err)
	}
	for ev := range events {
		if ev.Done {
			fmt.Printf("finish=%s prompt=%d output=%d\n", ev.Finish, ev.Stats.PromptTokens, ev.Stats.OutputTokens)
		}
	}
	// Output: finish=length prompt=2 output=8
}
