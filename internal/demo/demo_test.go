package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/runfmt"
)

// TestDemo runs the demo end to end, shortened, as a user runs it
// outside a checkout: from an empty folder, with the binaries named by the
// -jaeger, -prometheus and -refserver flags and the baseline scenario
// built into llmbench. It runs the real Jaeger, Prometheus and refserver,
// the analysis and the report, then checks that it stopped every child.
func TestDemo(t *testing.T) {
	bins := map[string]string{}
	for _, name := range []string{"jaeger", "prometheus", "refserver"} {
		path, err := stack.Find(name)
		if err != nil {
			if errors.Is(err, stack.ErrNotBuilt) && os.Getenv("LLMBENCH_INTEGRATION") != "1" {
				t.Skipf("skipping the demo: %v", err)
			}
			t.Fatalf("the demo needs %s: %v (make build tools)", name, err)
		}
		bins[name] = path
	}
	t.Chdir(t.TempDir()) // no scenarios/ here, no go.mod above
	runs := "runs"
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := Run(ctx, Config{Runs: runs, Bins: bins, Hold: 2 * time.Second}, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "running the copy built into llmbench") {
		t.Errorf("the demo did not say it ran its built-in scenario:\n%s", errOut.String())
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
