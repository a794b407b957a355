package scenarios

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/runfmt"
)

// TestDTypesScript runs scenarios/dtypes.sh as a user does, with the built
// binaries (bin/, from make build): refserver with f32, bf16 and int8
// weights on the tiny fixture under the same short load, one at a time,
// each analyzed, then the bf16 and int8 comparison pages against f32
// (issue 22). Each run must record its server's dtype, and each page must
// name the two weight types it compares.
func TestDTypesScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin, _ := filepath.Abs(filepath.Join("..", "bin"))
	for _, b := range []string{"llmbench", "refserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
				t.Fatalf("dtypes.sh needs the built %s (make build): %v", b, err)
			}
			t.Skipf("skipping: no %s/%s (make build)", bin, b)
		}
	}
	runs := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "dtypes.sh")
	cmd.Env = append(os.Environ(), "RUNS="+runs, "RATE=4", "DURATION=2s", "MAX_TOKENS=6", "SEED=5",
		"REFSERVER_ARGS=--model "+gpt2test.Dir(t), "LLMBENCH="+filepath.Join(bin, "llmbench"), "REFSERVER="+filepath.Join(bin, "refserver"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dtypes.sh: %v\n%s", err, out)
	}
	for _, dt := range []string{"f32", "bf16", "int8"} {
		m, _ := filepath.Glob(filepath.Join(runs, "*-"+dt, "run.json"))
		if len(m) != 1 {
			t.Fatalf("%s: %d run folders, want 1\n%s", dt, len(m), out)
		}
		data, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		var r runfmt.Run
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		wantKV := dt // the KV cache follows the weights: f32, and int8 rows with int8
		if dt == "bf16" {
			wantKV = "f16"
		}
		if r.Server == nil || r.Server.DType != dt || r.Server.KVDType != wantKV {
			t.Errorf("%s: run.json server %+v, want dtype %s, kv_dtype %s", m[0], r.Server, dt, wantKV)
		}
		report, err := os.ReadFile(filepath.Join(filepath.Dir(m[0]), "report.html"))
		if err != nil {
			t.Errorf("%s: no report: %v", dt, err)
		} else if !strings.Contains(string(report), "KV cache") {
			t.Errorf("%s: the report does not say the KV cache's type", dt)
		}
	}
	for _, dt := range []string{"bf16", "int8"} {
		m, _ := filepath.Glob(filepath.Join(runs, "*-"+dt+"-vs-f32.html"))
		if len(m) != 1 {
			t.Fatalf("%d comparison pages of %s against f32, want 1\n%s", len(m), dt, out)
		}
		page, _ := os.ReadFile(m[0])
		if !strings.Contains(string(page), dt+" weights") || !strings.Contains(string(page), "f32 weights") {
			t.Errorf("%s: the page does not name %q and %q", m[0], dt+" weights", "f32 weights")
		}
	}
}
