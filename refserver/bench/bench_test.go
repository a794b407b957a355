package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

// TestBenchQuick runs the benchmark end to end on the tiny fixture: every
// figure must come out positive and the JSON must be written. It checks
// that the benchmark works, not how fast anything is.
func TestBenchQuick(t *testing.T) {
	dir := gpt2test.Dir(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	var w bytes.Buffer
	if err := Run(context.Background(), Config{Model: refserver.ModelConfig{Dir: dir}, Threads: 2, Quick: true, Out: out}, &w); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"bandwidth": r.BandwidthGBs, "floor": r.FloorMs, "decode": r.DecodeStepMs,
		"prefill": r.Prefill128Ms, "single": r.SingleTokS, "batch8": r.Batch8TokS, "rss": r.PeakRSSGiB,
		"step/floor": r.DecodeVsFloor, "step/floor min": r.DecodeVsFloorMin} {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	// The ratio is the median of per-pair ratios: between their range.
	if !(r.DecodeVsFloorMin <= r.DecodeVsFloor && r.DecodeVsFloor <= r.DecodeVsFloorMax) {
		t.Errorf("step/floor %v outside its pairs' range [%v, %v]", r.DecodeVsFloor, r.DecodeVsFloorMin, r.DecodeVsFloorMax)
	}
	for _, s := range []string{"step / floor (median of the pairs)", "prefill, 128 tokens", "8 sequences / 1 sequence", "peak RSS"} {
		if !strings.Contains(w.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, &w)
		}
	}
}

// TestBenchDTypes runs --dtype all on the fixture: one row per weight type
// and activation mode, each with positive figures, its own floor (its
// bytes over the same run's bandwidth) and, for the converted ones, an
// accuracy against f32. It checks the benchmark, not any speed.
func TestBenchDTypes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var w bytes.Buffer
	cfg := Config{Model: refserver.ModelConfig{Dir: gpt2test.Dir(t)}, Threads: 2, Quick: true, Out: out, DType: "all"}
	if err := Run(context.Background(), cfg, &w); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{"f32", "bf16 (f32 activations, f16 KV)", "bf16 (bf16 activations, f16 KV)", "f16", "int8 (f32 activations, f16 KV)", "int8 (int8 activations, f16 KV)", "int8 (int8 activations)"}
	if len(r.DTypes) != len(want) {
		t.Fatalf("%d dtype rows, want %d:\n%s", len(r.DTypes), len(want), &w)
	}
	for i, d := range r.DTypes {
		if d.Precision != want[i] {
			t.Errorf("row %d is %q, want %q", i, d.Precision, want[i])
		}
		for name, v := range map[string]float64{"floor": d.FloorMs, "step": d.StepMs, "step/floor": d.StepVsFloor,
			"prefill": d.Prefill128Ms, "1 seq": d.SingleTokS, "8 seq": d.Batch8TokS, "8/1 decode": d.Batch8DecodeRatio} {
			if !(v > 0) {
				t.Errorf("%s: %s = %v, want > 0", d.Precision, name, v)
			}
		}
		if !(d.Batch8PrefillPct > 0 && d.Batch8PrefillPct < 100) {
			t.Errorf("%s: the 8 prompts' prefill is %v %% of the run, want in (0, 100)", d.Precision, d.Batch8PrefillPct)
		}
		if !(d.Batch8RatioMin > 0 && d.Batch8RatioMin <= d.Batch8Ratio && d.Batch8Ratio <= d.Batch8RatioMax) {
			t.Errorf("%s: 8/1 median %v outside its pairs' range [%v, %v]", d.Precision, d.Batch8Ratio, d.Batch8RatioMin, d.Batch8RatioMax)
		}
		// Each type's floor is its own bytes over the run's bandwidth.
		if d.DType != "f32" && !(d.WeightBytes < r.DTypes[0].WeightBytes && d.GreedySteps > 0 && d.MaxLogit > 0) {
			t.Errorf("%s: %d bytes against f32's %d, %d greedy steps compared", d.Precision, d.WeightBytes, r.DTypes[0].WeightBytes, d.GreedySteps)
		}
		if !strings.Contains(w.String(), d.Precision) {
			t.Errorf("the table lacks %q", d.Precision)
		}
	}
	for _, s := range []string{"step ≤ 1.10× its floor", "prefill ≤ 0.8× f32's", "8 sequences ≥ 5× one"} {
		if !strings.Contains(w.String(), s) {
			t.Errorf("report lacks the target %q:\n%s", s, &w)
		}
	}
}
