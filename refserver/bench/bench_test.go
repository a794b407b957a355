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
