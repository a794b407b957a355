package gpt2

import (
	"fmt"
	"math"

	"github.com/llmbench/llmbench/refserver/nn"
)

// Agreement is how far a model's outputs are from a reference model's on
// the same prompts: the converted weights' (bf16, f16, int8) against
// float32.
type Agreement struct {
	// MaxAbsErr and MeanAbsErr are over every logit of each prompt's
	// last position; MaxLogit is the largest |logit| of the reference
	// there, the scale the error is read against.
	MaxAbsErr, MeanAbsErr, MaxLogit float64
	// Agree of Steps greedy decode steps picked the reference's token,
	// counting each prompt's steps up to its first disagreement (each model
	// decodes from its own tokens, so after one disagreement the two
	// texts differ).
	Agree, Steps int
}

// Compare runs each prompt through ref and m, prefill and then steps
// greedy decode steps, and measures how far m's logits and tokens are from
// ref's.
func Compare(ref, m *Model, pool *nn.Pool, prompts [][]int, steps int) (Agreement, error) {
	var a Agreement
	if ref.Config != m.Config {
		return a, fmt.Errorf("compare: models differ in shape")
	}
	ra, rb := NewRunner(ref, pool, 256), NewRunner(m, pool, 256)
	n := 0
	for _, ids := range prompts {
		if len(ids) == 0 || len(ids)+steps > ref.Config.NPositions {
			return a, fmt.Errorf("compare: a prompt of %d tokens and %d steps do not fit %d positions", len(ids), steps, ref.Config.NPositions)
		}
		ca, err := ref.NewCache(len(ids) + steps)
		if err != nil {
			return a, err
		}
		cb, err := m.NewCache(len(ids) + steps)
		if err != nil {
			return a, err
		}
		rows := func(c *Cache) []Row {
			r := make([]Row, len(ids))
			for i, id := range ids {
				r[i] = Row{Cache: c, Pos: i, Token: id, Logits: i == len(ids)-1}
			}
			return r
		}
		oa, err := ra.Forward(rows(ca))
		if err != nil {
			return a, err
		}
		ta := argmax(oa[0])
		ob, err := rb.Forward(rows(cb))
		if err != nil {
			return a, err
		}
		for i := range oa[0] {
			d := math.Abs(float64(oa[0][i] - ob[0][i]))
			a.MaxAbsErr = max(a.MaxAbsErr, d)
			a.MeanAbsErr += d
			a.MaxLogit = max(a.MaxLogit, math.Abs(float64(oa[0][i])))
			n++
		}
		tb := argmax(ob[0])
		same := true
		for pos := len(ids); pos < len(ids)+steps; pos++ {
			a.Steps++
			if same && ta == tb {
				a.Agree++
			} else {
				same = false
			}
			oa, err := ra.Forward([]Row{{Cache: ca, Pos: pos, Token: ta, Logits: true}})
			if err != nil {
				return a, err
			}
			ta = argmax(oa[0])
			ob, err := rb.Forward([]Row{{Cache: cb, Pos: pos, Token: tb, Logits: true}})
			if err != nil {
				return a, err
			}
			tb = argmax(ob[0])
		}
	}
	a.MeanAbsErr /= float64(max(n, 1))
	return a, nil
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
