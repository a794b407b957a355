package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/runfmt"
)

// tinyDisk mounts a 64 KiB tmpfs on a fresh folder and unmounts it when the
// test ends. It returns "" when this process may not mount (not root, or
// no CAP_SYS_ADMIN in a container).
func tinyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Logf("cannot mount a tmpfs (%v): simulating the full disk with /dev/full", err)
		return ""
	}
	t.Cleanup(func() { // before TempDir's removal: cleanups run last-in first-out
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// splitLines splits b into its complete lines (without "\n") and what
// follows the last newline.
func splitLines(b []byte) (lines [][]byte, rest []byte) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return lines, b
		}
		lines, b = append(lines, b[:i]), b[i+1:]
	}
}

// TestDiskFull runs the load generator into a run folder on a 64 KiB
// tmpfs, which fills up mid-run. Expected: the run still ends, in bounded
// time; every line already appended to requests.jsonl is whole and parses,
// and they are exactly the appends that reported no error (no part of a
// failed one is left); run.json is final and says the disk is full; no temporary
// file is left behind; stderr says "no space left on device" and which
// file could not be written; and the exit code is 1 (the run folder could
// not be written). Without a tmpfs (not root) it checks only that
// runfmt.RequestLog over /dev/full reports ENOSPC.
func TestDiskFull(t *testing.T) {
	disk := tinyDisk(t)
	if disk == "" {
		t.Run("request log on /dev/full", func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Symlink("/dev/full", filepath.Join(dir, runfmt.RequestsFile)); err != nil {
				t.Skipf("no /dev/full: %v", err)
			}
			log, err := runfmt.CreateRequestLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			err = log.Append(&runfmt.Request{Scenario: "s", OK: true})
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
				t.Errorf("Append on a full disk: got %v, want ENOSPC, said", err)
			}
		})
		return
	}

	srv := httptest.NewServer(&fakeLLM{tokens: 20})
	defer srv.Close()
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 4, iterations: 300, maxDuration: '60s' } } };
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '5s' });
export default function () { c.generate({ prompt: 'Hello', max_tokens: 20 }, { tags: { note: 'fills the disk' } }); }
`)
	out := filepath.Join(disk, "run")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	began := time.Now()
	res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": srv.URL}, func(c *loadgen.Config) { c.Out = out })
	took := time.Since(began)
	if ctx.Err() != nil {
		t.Fatalf("the run did not end within its bound (%v)", took)
	}

	// What was recorded is intact.
	b, err := os.ReadFile(filepath.Join(out, runfmt.RequestsFile))
	if err != nil {
		t.Fatal(err)
	}
	lines, rest := splitLines(b)
	for i, l := range lines {
		var r runfmt.Request
		if err := json.Unmarshal(l, &r); err != nil || r.Seq == 0 || !r.OK {
			t.Errorf("requests.jsonl line %d: %v: %.200q", i+1, err, l)
		}
	}
	failedAppends := strings.Count(stderr, "append request ")
	if len(lines) == 0 || failedAppends == 0 || int64(len(lines)+failedAppends) != res.Requests {
		t.Errorf("got %d whole lines and %d failed appends of %d requests, want some of each adding up", len(lines), failedAppends, res.Requests)
	}
	if len(rest) > 0 {
		t.Errorf("requests.jsonl ends with %d bytes of a line cut short: a failed append left part of its line", len(rest))
	}
	// run.json is final (rewritten in place when no new file fits) and
	// says why the run folder is incomplete.
	if run, err := runfmt.ReadRun(out); err != nil {
		t.Errorf("run.json: %v", err)
	} else if run.Status == runfmt.StatusRunning || run.End.IsZero() || !strings.Contains(run.Error, "no space left on device") {
		t.Errorf("run.json after the disk filled: status %q, end %v, error %q; want it final, saying the disk is full", run.Status, run.End, run.Error)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file was left behind: %s", e.Name())
		}
	}

	// ... and the error says what happened, in the exit code too.
	if !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "write "+filepath.Join(out, runfmt.SummaryFile)) {
		t.Errorf("stderr does not say the disk is full, nor that summary.json could not be written:\n%s", stderr[max(0, len(stderr)-3000):])
	}
	if res.Exit != loadgen.ExitGenericFailure {
		t.Errorf("exit %d, want %d: the run folder could not be written", res.Exit, loadgen.ExitGenericFailure)
	}
	t.Logf("%v: %d whole lines, %d failed appends, exit %d; end of stderr:\n%s", took.Round(time.Millisecond), len(lines), failedAppends, res.Exit, stderr[max(0, len(stderr)-1200):])
}
