package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// repeats is how many runs each case of the matrix makes: every one must
// give the case's verdict, or say it cannot tell.
const repeats = 3

// script is the matrix's scenario: a closed loop of VUS users sharing N
// iterations, or, with RATE set, RATE arrivals per second for DURATION
// with VUS VUs at most; each iteration one request of TOKENS tokens.
const script = `
import llm from 'k6/x/llm';
const closed = { executor: 'shared-iterations', vus: Number(__ENV.VUS), iterations: Number(__ENV.N), maxDuration: '2m' };
const open = { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE || 0), timeUnit: '1s', duration: __ENV.DURATION || '1s',
  preAllocatedVUs: Number(__ENV.VUS), maxVUs: Number(__ENV.VUS) };
export const options = { scenarios: { load: __ENV.RATE ? open : closed } };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () {
  c.generate({ prompt: 'The latency of a language model server is', max_tokens: Number(__ENV.TOKENS), ignore_eos: true, do_sample: false });
}
`

// verdictCase is one controlled experiment: a server, a load and a fault
// whose effect is known in advance.
type verdictCase struct {
	name   string
	server []string          // refserver flags besides the address and tracing
	env    map[string]string // the script's VUS, N, TOKENS, RATE, DURATION
	// pinned runs refserver on one core; hog puts a busy loop on that core
	// once the server has started (and calibrated).
	pinned, hog bool
	delay       time.Duration // one-way latency of a proxy between the load generator and the server
	traces      string        // "on", "dead" (no Jaeger anywhere), "half" (half the requests sampled)
	kind        string        // the verdict's kind
	evidence    []string      // substrings the verdict's text must have (summary, evidence, qualifications)
	noAction    string        // a recommendation that must not be made
}

var matrix = []verdictCase{
	{name: "queue-bound: 8 users, batch capped at 1", server: []string{"--max-batch", "1"},
		env: map[string]string{"VUS": "8", "N": "24", "TOKENS": "12"}, traces: "on",
		kind: "queue", evidence: []string{"queue depth peaked at", "the batch was capped at 1"}},
	{name: "compute-bound: one user, long outputs",
		env: map[string]string{"VUS": "1", "N": "3", "TOKENS": "48"}, traces: "on",
		kind: "compute", evidence: []string{"compute-bound: prefill and decode are", "decode split into own and shared"}},
	// The report's flip: with a fit over a handful of batch-1 steps and
	// hundreds of batch-2 steps, identical runs came out batch-bound and
	// compute-bound.
	{name: "compute-bound: two users, default batch (the case that flipped)",
		env: map[string]string{"VUS": "2", "N": "8", "TOKENS": "32"}, traces: "on",
		kind: "compute", evidence: []string{"compute-bound: prefill and decode are"}},
	{name: "network-bound: 150 ms each way",
		env: map[string]string{"VUS": "1", "N": "6", "TOKENS": "4"}, delay: 150 * time.Millisecond, traces: "on",
		kind: "network", evidence: []string{"network-bound: network is"}},
	{name: "load generator short of VUs: 30 arrivals/s for 2 VUs",
		env: map[string]string{"VUS": "2", "RATE": "30", "DURATION": "4s", "TOKENS": "16"}, traces: "on",
		kind: "load-generator", evidence: []string{"the load generator dropped", "at the load it did deliver"}, noAction: "move to a GPU"},
	{name: "host contention: a CPU hog on the server's core", pinned: true, hog: true,
		env: map[string]string{"VUS": "1", "N": "3", "TOKENS": "32"}, traces: "on",
		kind: "host-contended", evidence: []string{"of the 1 core it asked for", "their calibrated time"}, noAction: "move to a GPU"},
	{name: "traces missing: Jaeger down, queue-bound", server: []string{"--max-batch", "1"},
		env: map[string]string{"VUS": "8", "N": "24", "TOKENS": "12"}, traces: "dead",
		kind: "queue", evidence: []string{"untraced requests (split by the server's timings)", "decode is not split"}},
	{name: "traces partial: half sampled, queue-bound", server: []string{"--max-batch", "1"},
		env: map[string]string{"VUS": "8", "N": "24", "TOKENS": "12"}, traces: "half",
		kind: "queue", evidence: []string{"other requests"}},
}

// TestVerdictMatrix runs each controlled experiment of the matrix against
// the real refserver (synthetic GPT-2 124M), Jaeger and Prometheus, with
// the load generator and the analyzer in this process, repeats times, and
// asserts that every run's verdict is the cause built into it, or an
// honest "cannot tell", with the evidence that justifies it.
func TestVerdictMatrix(t *testing.T) {
	if os.Getenv("LLMBENCH_E2E") != "1" {
		t.Skip("the verdict matrix runs under `make e2e` (LLMBENCH_E2E=1): about five minutes of real servers")
	}
	dir := t.TempDir()
	js := filepath.Join(dir, "matrix.js")
	if err := os.WriteFile(js, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	j := stacktest.Jaeger(t)
	var summary []string
	for _, tc := range matrix {
		t.Run(tc.name, func(t *testing.T) {
			got := runCase(t, tc, j, js)
			summary = append(summary, fmt.Sprintf("%-55s %s", tc.name, strings.Join(got, ", ")))
		})
	}
	t.Logf("verdicts, %d runs a case:\n%s", repeats, strings.Join(summary, "\n"))
}

// runCase starts the case's server, runs it repeats times and checks each
// verdict; it returns the verdicts' kinds.
func runCase(t *testing.T, tc verdictCase, j *stack.Jaeger, js string) []string {
	dead := deadAddr(t)
	otlp := j.OTLPGRPC
	switch tc.traces {
	case "dead":
		otlp = dead
	}
	args := append([]string{"--otlp-endpoint", otlp, "--model-size", "124M"}, tc.server...)
	opt := stack.Options{Dir: t.TempDir()}
	if tc.pinned {
		opt.Cores = lastCore()
	}
	srv, err := stack.StartRefserver(t.Context(), opt, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	p := stacktest.Prometheus(t, stack.Target{Job: "refserver", Addr: srv.Addr})
	waitScraped(t, p)
	if tc.hog {
		startHog(t, opt.Cores)
	}
	target := srv.URL
	if tc.delay > 0 {
		target = "http://" + startDelayProxy(t, srv.Addr, tc.delay)
	}

	var kinds []string
	for i := range repeats {
		out := filepath.Join(t.TempDir(), fmt.Sprintf("run%d", i+1))
		env := map[string]string{"TARGET": target}
		for k, v := range tc.env {
			env[k] = v
		}
		cfg := loadgen.Config{Script: js, Out: out, NoSysEnv: true, Quiet: true, NoSummary: true, Env: env}
		cfg.Tracing = telemetry.Config{Endpoint: otlp, ServiceName: "llmbench", SampleRatio: 1}
		if tc.traces == "half" {
			cfg.Tracing.SampleRatio = 0.5
		}
		var stderr lockedBuffer
		res, err := loadgen.Run(t.Context(), cfg, io.Discard, &stderr)
		if err != nil || res.Exit != loadgen.ExitOK {
			t.Fatalf("run %d: exit %d, %v\n%s", i+1, res.Exit, err, stderr.String())
		}
		time.Sleep(1500 * time.Millisecond) // one more scrape after the last request
		jaegerQuery, wait := j.QueryGRPC, 15*time.Second
		if tc.traces == "dead" {
			jaegerQuery = dead
		}
		var text bytes.Buffer
		a, err := analyzer.Analyze(t.Context(), analyzer.Config{Run: out, Jaeger: jaegerQuery, Prometheus: p.URL, Wait: wait}, &text)
		if err != nil {
			t.Fatalf("run %d: analyze: %v", i+1, err)
		}
		v := a.Verdict
		kinds = append(kinds, v.Kind)
		all := strings.Join(append(append([]string{v.Summary}, v.Evidence...), v.Qualifications...), "\n")
		switch {
		case v.Kind == tc.kind:
			for _, e := range tc.evidence {
				if !strings.Contains(all, e) {
					t.Errorf("run %d: the verdict lacks %q:\n%s", i+1, e, text.String())
				}
			}
		case v.Kind == "undetermined":
			t.Logf("run %d: cannot tell (allowed): %s", i+1, v.Summary)
		default:
			t.Errorf("run %d: verdict %q, want %q (or cannot tell):\n%s", i+1, v.Kind, tc.kind, text.String())
		}
		if tc.noAction != "" && slices.ContainsFunc(a.Recommendations, func(r runfmt.Recommendation) bool { return strings.Contains(r.Action, tc.noAction) }) {
			t.Errorf("run %d: recommends %q:\n%s", i+1, tc.noAction, text.String())
		}
		if t.Failed() {
			t.Logf("run %d:\n%s", i+1, text.String())
		}
		t.Logf("run %d: %s", i+1, v.Summary)
	}
	return kinds
}

// waitScraped waits for Prometheus' first scrape of refserver.
func waitScraped(t *testing.T, p *stack.Prometheus) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if v, ok, err := stacktest.Query(t.Context(), p, `up{job="refserver"}`); err == nil && ok && v == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus did not scrape refserver within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startHog runs a busy loop pinned to cores until the test ends.
func startHog(t *testing.T, cores string) {
	t.Helper()
	cmd := exec.Command("taskset", "-c", cores, "sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the CPU hog: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// lastCore is the highest-numbered core this process may run on.
func lastCore() string {
	a := hostcpu.Affinity()
	if len(a.Cores) == 0 {
		return "0"
	}
	return fmt.Sprint(a.Cores[len(a.Cores)-1])
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
