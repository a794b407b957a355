package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/deploy/stack"
	"github.com/llmbench/llmbench/runfmt"
)

// TestDemo runs the demo end to end, shortened: the real Jaeger,
// Prometheus and refserver binaries, the baseline scenario, the analysis
// and the report; then checks that it stopped every child.
func TestDemo(t *testing.T) {
	for _, name := range []string{"jaeger", "prometheus", "refserver"} {
		if _, err := stack.Find(name); err != nil {
			if errors.Is(err, stack.ErrNotBuilt) && os.Getenv("LLMBENCH_INTEGRATION") != "1" {
				t.Skipf("skipping the demo: %v", err)
			}
			t.Fatalf("the demo needs %s: %v (make build tools)", name, err)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scenarios", "baseline.js")
	runs := t.TempDir()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := Run(ctx, Config{Runs: runs, Scenario: script, Hold: 2 * time.Second}, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"VERDICT", "report:", "Jaeger:", "Prometheus:", "web:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out.String())
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(runs, "*-demo"))
	if len(dirs) != 1 {
		t.Fatalf("run folders %v, want one", dirs)
	}
	for _, f := range []string{runfmt.RunFile, runfmt.RequestsFile, runfmt.SummaryFile, runfmt.AnalysisFile, runfmt.ReportFile,
		"logs/jaeger/jaeger.log", "logs/prometheus/prometheus.log", "logs/refserver/refserver.log"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("run folder: %v", err)
		}
	}
	a, err := runfmt.ReadAnalysis(dirs[0])
	if err != nil || a.Coverage.MissingTraces != 0 || a.Coverage.Analyzed == 0 {
		t.Errorf("analysis: %v %+v", err, a.Coverage)
	}
	// Every child was stopped: none of their logs' processes is running.
	if out, _ := exec.Command("pgrep", "-f", dirs[0]).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes still running with the run folder in their command line: %s", out)
	}
}
