package gpt2

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// NewSynthetic builds a model of shape c with deterministic random weights
// drawn from seed: normal(0, 0.02) matrices and embeddings as GPT-2's
// initialisation has, unit LayerNorm gains and zero biases. It runs at the
// real model's speed and writes meaningless text. The same (c, seed) always
// gives the same weights.
func NewSynthetic(c Config, seed uint64) (*Model, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("synthetic model: %w", err)
	}
	m := newModel(c)
	m.Synthetic = true
	m.Source = fmt.Sprintf("synthetic weights, seed %d", seed)

	// Each tensor has its own stream, so they fill in parallel and the
	// result does not depend on the order.
	var fills [][]float32
	fills = append(fills, m.WTE.Data(), m.wpe())
	for _, b := range m.Blocks {
		fills = append(fills, b.QKV.Data(), b.AttnProj.Data(), b.FC.Data(), b.Proj.Data())
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, s := range fills {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(seed, uint64(i)+1))
			for j := range s {
				s[j] = float32(0.02 * r.NormFloat64())
			}
		}()
	}
	wg.Wait()
	return m, nil
}
