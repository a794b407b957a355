package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/nn"
)

// precision is a weight type, how its products treat the activations, and
// the KV cache's type ("": the weights', see gpt2.Model.Convert).
type precision struct {
	dt  nn.DType
	act nn.Activations
	kv  nn.DType
}

// parsePrecisions reads --dtype: a comma-separated list of f32, bf16, f16
// and int8 (each with this CPU's default activations and the KV cache kv,
// "" for the weights' own), or all: every type, bf16 and int8 with both
// kinds of activations, and int8 with a cache of halves too.
func parsePrecisions(s string, kv nn.DType) ([]precision, error) {
	if s == "all" {
		if kv != "" {
			return nil, fmt.Errorf("--kv-dtype %s with --dtype all: all measures the KV types it compares (int8 with int8 and f16 caches)", kv)
		}
		return []precision{{nn.F32, nn.ActDefault, ""}, {nn.BF16, nn.F32Activations, ""}, {nn.BF16, nn.LowActivations, ""},
			{nn.F16, nn.F32Activations, ""}, {nn.Int8, nn.F32Activations, ""}, {nn.Int8, nn.LowActivations, nn.F16},
			{nn.Int8, nn.LowActivations, ""}}, nil
	}
	var out []precision
	for _, f := range strings.Split(s, ",") {
		t, err := nn.ParseDType(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--dtype: %w (or all)", err)
		}
		out = append(out, precision{t, nn.ActDefault, kv})
	}
	return out, nil
}

// convert puts m's KV cache and weights in pr's types (the cache first:
// an int8 one re-expresses the keys in the float32 weights).
func convert(m *gpt2.Model, pr precision) error {
	if pr.kv != "" {
		if err := m.SetKV(pr.kv); err != nil {
			return err
		}
	}
	return m.Convert(pr.dt, pr.act)
}

// DTypeResult is one weight type's figures from a --dtype run.
type DTypeResult struct {
	Precision   string  `json:"precision"` // e.g. "int8 (f32 activations)"
	DType       string  `json:"dtype"`
	KVDType     string  `json:"kv_dtype"`
	WeightBytes int64   `json:"weight_bytes"`
	FloorMs     float64 `json:"floor_ms"` // its weight bytes ÷ the bandwidth read beside its steps
	StepMs      float64 `json:"decode_step_ms"`
	// StepVsFloor is the median of the per-pair ratios, with their range.
	StepVsFloor    float64 `json:"decode_vs_floor"`
	StepVsFloorMin float64 `json:"decode_vs_floor_min"`
	StepVsFloorMax float64 `json:"decode_vs_floor_max"`
	Prefill128Ms   float64 `json:"prefill_128_ms"`
	// SingleTokS and Batch8TokS are the engine's tokens per second with
	// 1 and 8 sequences (32-token prompts), the medians of pairs of runs
	// in alternating order; Batch8Ratio is the median of the pairs' ratios,
	// with their range.
	SingleTokS     float64 `json:"single_tok_s"`
	Batch8TokS     float64 `json:"batch8_tok_s"`
	Batch8Ratio    float64 `json:"batch8_ratio"`
	Batch8RatioMin float64 `json:"batch8_ratio_min"`
	Batch8RatioMax float64 `json:"batch8_ratio_max"`
	// Batch8DecodeRatio is the median over the pairs of 8 ÷ 1 in decode
	// tokens per second over the steps without prompt rows alone, and
	// Batch8PrefillPct the median share of an 8-sequence run that its
	// steps with prompt rows took: what tells the batching of decode steps
	// apart from the 8 prompts' prefill, which the run's rate includes.
	Batch8DecodeRatio float64 `json:"batch8_decode_ratio"`
	Batch8PrefillPct  float64 `json:"batch8_prefill_pct"`
	// Accuracy against float32 on the same model (zero for f32 itself).
	MaxAbsErr   float64 `json:"logits_max_abs_err"`
	MeanAbsErr  float64 `json:"logits_mean_abs_err"`
	MaxLogit    float64 `json:"max_abs_logit"`
	GreedyAgree int     `json:"greedy_agree"`
	GreedySteps int     `json:"greedy_steps"`
}

// benchDTypes measures each precision on the same model in one run. The
// decode steps and prefills of the types are interleaved round by round,
// so that the host's moving bandwidth and load fall on all of them alike;
// each step is paired with a bandwidth read, and its floor is its own
// weight bytes over that read.
func benchDTypes(ctx context.Context, cfg Config, precs []precision, ref *gpt2.Model, tok *bpe.Tokenizer, threads int, w io.Writer, res Result, step func(string)) error {
	models := make([]*gpt2.Model, len(precs))
	results := make([]DTypeResult, len(precs))
	for i, pr := range precs {
		m := ref
		if pr.dt != nn.F32 || pr.kv != "" {
			var err error
			if m, err = cfg.Model.Load(io.Discard); err != nil {
				return err
			}
			if err := convert(m, pr); err != nil {
				return err
			}
		}
		models[i] = m
		results[i] = DTypeResult{Precision: m.Precision(), DType: m.DType(), KVDType: m.KVType(), WeightBytes: m.WeightBytes()}
	}
	pool := nn.NewPool(threads)
	defer pool.Close()

	prompts, steps := [][]int{{464, 2068, 7586, 21831}, {15496, 995}, {40, 1101, 257}, {818, 262, 3726, 373, 262}}, 64
	if cfg.Quick {
		prompts, steps = prompts[:2], 4
	}
	steps = min(steps, ref.Config.NPositions-8)
	for i, m := range models {
		if m == ref {
			continue
		}
		step("accuracy of " + results[i].Precision + " against f32")
		a, err := gpt2.Compare(ref, m, pool, prompts, steps)
		if err != nil {
			return err
		}
		r := &results[i]
		r.MaxAbsErr, r.MeanAbsErr, r.MaxLogit, r.GreedyAgree, r.GreedySteps = a.MaxAbsErr, a.MeanAbsErr, a.MaxLogit, a.Agree, a.Steps
	}

	rounds, perRound, reps := 8, 8, 5
	if cfg.Quick {
		rounds, perRound, reps = 1, 4, 1
	}
	step(fmt.Sprintf("decode steps against each type's floor: %d rounds of %d steps a type, interleaved", rounds, perRound))
	runners := make([]*gpt2.Runner, len(models))
	for i, m := range models {
		runners[i] = gpt2.NewRunner(m, pool, 512)
	}
	maxBytes := int64(0)
	for _, m := range models {
		maxBytes = max(maxBytes, m.WeightBytes())
	}
	buf := make([]float32, maxBytes/4)
	raw := make([]floorRaw, len(models))
	for range rounds {
		for i := range models {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fr, err := stepsVsFloorRaw(runners[i], models[i], buf, threads, perRound)
			if err != nil {
				return err
			}
			raw[i].add(fr)
		}
	}
	step("prefill of 128 tokens, interleaved")
	prefills := make([][]float64, len(models))
	for range reps {
		for i := range models {
			ms, err := prefill(runners[i], models[i], min(128, models[i].Config.NPositions), 1)
			if err != nil {
				return err
			}
			prefills[i] = append(prefills[i], ms)
		}
	}
	pool.Close()
	// Five pairs: the single sequence's run moves most from run to run (it
	// pays a parked worker's wake-up, 0.1 ms on average and up to 6 ms on
	// this VM, every step), and with three pairs the median ratio moved by
	// ±15 % between runs of the same hour.
	outTokens, pairs := 128, 5
	if cfg.Quick {
		outTokens, pairs = 16, 1
	}
	for i, m := range models {
		r := &results[i]
		fp := raw[i].summary()
		r.StepMs, r.StepVsFloor, r.StepVsFloorMin, r.StepVsFloorMax = fp.stepMs, fp.ratio, fp.ratioMin, fp.ratioMax
		r.FloorMs = float64(r.WeightBytes) / (fp.bandwidthGBs * 1e9) * 1e3
		r.Prefill128Ms = median(prefills[i])
		step(fmt.Sprintf("engine throughput, 1 and 8 sequences, %d pairs of runs: %s", pairs, r.Precision))
		// Pairs of runs, in alternating order, so that a slow minute of the
		// host falls on both sides of a ratio; the figures are the medians.
		var ones, eights, ratios, decodeRatios, prefillPcts []float64
		for p := range pairs {
			var one, eight engineRun
			for j := range 2 {
				n := 1 + 7*((p+j)%2) // 1 then 8, then 8 then 1
				v, err := runEngine(ctx, m, tok, threads, n, 32, outTokens)
				if err != nil {
					return err
				}
				if n == 1 {
					one = v
				} else {
					eight = v
				}
			}
			ones, eights, ratios = append(ones, one.TokS), append(eights, eight.TokS), append(ratios, eight.TokS/one.TokS)
			if one.DecodeTokS > 0 && eight.DecodeTokS > 0 {
				decodeRatios = append(decodeRatios, eight.DecodeTokS/one.DecodeTokS)
			}
			prefillPcts = append(prefillPcts, 100*eight.PrefillFrac)
		}
		r.SingleTokS, r.Batch8TokS, r.Batch8Ratio = median(ones), median(eights), median(ratios)
		r.Batch8RatioMin, r.Batch8RatioMax = slices.Min(ratios), slices.Max(ratios)
		r.Batch8DecodeRatio, r.Batch8PrefillPct = median(decodeRatios), median(prefillPcts)
	}
	var all []float64
	for _, fr := range raw {
		all = append(all, fr.rates...)
	}
	res.BandwidthGBs = median(all)
	res.DTypes = results
	fmt.Fprintln(w)
	reportDTypes(w, res)
	return writeResult(cfg.Out, res)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return stats.Percentile(slices.Sorted(slices.Values(v)), 50)
}

// reportDTypes prints the dtype table and each target beside its figure.
func reportDTypes(w io.Writer, r Result) {
	fmt.Fprintf(w, "memory bandwidth: %.1f GB/s (median of the reads beside every step)\n\n", r.BandwidthGBs)
	wide := len("weights")
	for _, d := range r.DTypes {
		wide = max(wide, utf8.RuneCountInString(d.Precision))
	}
	fmt.Fprintf(w, "%-*s %8s %8s %8s %-18s %9s %8s %8s %-18s %-26s %s\n", wide, "weights", "MB/step", "floor", "step", "step/floor [range]", "prefill128", "1 seq", "8 seq", "8/1 [range]", "logits |err| max, mean", "greedy")
	var f32 *DTypeResult
	for i := range r.DTypes {
		d := &r.DTypes[i]
		if d.DType == "f32" && f32 == nil {
			f32 = d
		}
		acc, greedy := "(reference)", ""
		if d.DType != "f32" {
			acc = fmt.Sprintf("%.3g (%.1f%%), %.3g", d.MaxAbsErr, 100*d.MaxAbsErr/max(d.MaxLogit, 1e-9), d.MeanAbsErr)
			greedy = fmt.Sprintf("%d/%d", d.GreedyAgree, d.GreedySteps)
		}
		fmt.Fprintf(w, "%-*s %8.0f %6.2fms %6.2fms %-18s %7.0fms %6.1f/s %6.1f/s %-18s %-26s %s\n", wide, d.Precision, float64(d.WeightBytes)/1e6, d.FloorMs, d.StepMs,
			fmt.Sprintf("%.2f× [%.2f–%.2f]", d.StepVsFloor, d.StepVsFloorMin, d.StepVsFloorMax), d.Prefill128Ms, d.SingleTokS, d.Batch8TokS,
			fmt.Sprintf("%.2f× [%.2f–%.2f]", d.Batch8Ratio, d.Batch8RatioMin, d.Batch8RatioMax), acc, greedy)
	}
	fmt.Fprintln(w, "\ntargets (issue 22), measured in this run:")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, d := range r.DTypes {
		if d.DType == "bf16" || d.DType == "int8" {
			fmt.Fprintf(w, "  %-*s step ≤ 1.10× its floor: %.2f× %s\n", wide, d.Precision, d.StepVsFloor, mark(d.StepVsFloor <= 1.10))
		}
		if f32 != nil && d.DType == "bf16" {
			fmt.Fprintf(w, "  %-*s prefill ≤ 0.8× f32's: %.2f× %s\n", wide, d.Precision, d.Prefill128Ms/f32.Prefill128Ms, mark(d.Prefill128Ms <= 0.8*f32.Prefill128Ms))
		}
		fmt.Fprintf(w, "  %-*s 8 sequences ≥ 5× one: %.2f× %s (its decode steps alone %.2f×; the 8 prompts' prefill is %.0f %% of the 8-sequence run)\n",
			wide, d.Precision, d.Batch8Ratio, mark(d.Batch8Ratio >= 5), d.Batch8DecodeRatio, d.Batch8PrefillPct)
	}
	fmt.Fprintln(w, "\nllama.cpp, as filed in issue 22 (another run: compare with care, bandwidth above): f16 decode 10.3 ms, q8_0 7.3 ms.")
}
