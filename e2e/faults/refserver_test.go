package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
	"github.com/llmbench/llmbench/runfmt"
)

// refserverProcess is refserver running as a child process, so that a test
// can kill it.
type refserverProcess struct {
	URL string
	cmd *exec.Cmd
	log *lockedBuffer
}

// startRefserverProcess builds cmd/refserver into a temporary folder with
// `go build` (up to 5 minutes: a cold build cache on two cores), starts it
// on 127.0.0.1:0 with the tiny fixture, and reads its address from its log
// line "refserver listening ... url=http://...". The process is killed, if
// still alive, when the test ends.
func startRefserverProcess(t *testing.T) *refserverProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	bin := filepath.Join(t.TempDir(), "refserver")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/refserver")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/refserver: %v\n%s", err, out)
	}

	p := &refserverProcess{cmd: exec.Command(bin, "--model", gpt2test.Dir(t), "--addr", "127.0.0.1:0", "--drain-timeout", "1s"), log: &lockedBuffer{}}
	p.cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_TRACES_EXPORTER=none")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start refserver: %v", err)
	}
	url := make(chan string, 1)
	logDone := make(chan struct{})
	go func() { // owned by the cleanup below, which waits for it
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.log, line)
			if !strings.Contains(line, "refserver listening") {
				continue
			}
			for f := range strings.FieldsSeq(line) {
				if u, ok := strings.CutPrefix(f, "url="); ok {
					select {
					case url <- u:
					default:
					}
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-logDone
		p.cmd.Wait()
	})
	select {
	case p.URL = <-url:
	case <-logDone:
		t.Fatalf("refserver exited before listening:\n%s", p.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("refserver did not log its address within 30 s:\n%s", p.log)
	}
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Fatalf("refserver listens on %q, want http://127.0.0.1:<port>", p.URL)
	}
	return p
}

// TestRefserverKilledMidRun kills refserver (SIGKILL) halfway through a
// 6 s run. Expected: the requests after the kill fail with a clear error
// class (connect; truncated for those cut mid-stream), requests.jsonl
// records every one of them, and the threshold on llm_errors fails the run
// with exit code 99.
func TestRefserverKilledMidRun(t *testing.T) {
	srv := startRefserverProcess(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	script := writeScript(t, `
import { sleep } from 'k6';
import llm from 'k6/x/llm';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 4, duration: '6s' } },
  thresholds: { llm_errors: ['count<1'] },
};
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '5s' });
export default function () {
  const r = c.generate({ prompt: 'Hello world', max_tokens: 24, ignore_eos: true });
  if (!r.ok) sleep(0.05);
}
`)
	const killAfter = 3 * time.Second
	killed := make(chan time.Time, 1)
	timer := time.AfterFunc(killAfter, func() {
		at := time.Now()
		if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("kill refserver: %v", err)
		}
		killed <- at
	})
	defer timer.Stop()
	began := time.Now()
	res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": srv.URL}, nil)
	took := time.Since(began)
	var killedAt time.Time
	select {
	case killedAt = <-killed:
	default:
		t.Fatalf("the run ended before refserver was killed\n%s", stderr)
	}
	if took > 30*time.Second {
		t.Errorf("the run took %v, want about 6 s", took)
	}

	reqs := readRequests(t, res.Dir)
	classes := byClass(reqs)
	var okBefore, failed int
	for _, r := range reqs {
		if r.OK {
			if r.Started.Before(killedAt) {
				okBefore++
			}
			continue
		}
		failed++
		switch r.ErrorClass {
		case runfmt.ErrorConnect, runfmt.ErrorTruncated:
		default:
			t.Errorf("request %d: got error class %q (%s), want connect or truncated", r.Seq, r.ErrorClass, r.Error)
		}
		if r.Error == "" {
			t.Errorf("request %d: error class %q with no error message", r.Seq, r.ErrorClass)
		}
	}
	if okBefore == 0 || classes[runfmt.ErrorConnect] == 0 {
		t.Errorf("got %d successful requests before the kill and classes %v, want some successes and some connect errors", okBefore, classes)
	}

	if res.Exit != loadgen.ExitThresholds {
		t.Errorf("exit %d, want %d (a threshold failed)\n%s", res.Exit, loadgen.ExitThresholds, stderr)
	}
	if !contains(stderr, "threshold llm_errors 'count<1' failed") {
		t.Errorf("stderr does not name the failed threshold:\n%s", stderr)
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	m := sum.Metrics["llm_errors"]
	if sum.ThresholdsOK || m.Thresholds["count<1"].OK || int(m.Values["count"]) != failed {
		t.Errorf("summary: thresholds ok %v, llm_errors %v with thresholds %v; want failed, count %d", sum.ThresholdsOK, m.Values, m.Thresholds, failed)
	}
	if sum.LLM == nil || int(sum.LLM.Errors) != failed || int(sum.LLM.Requests) != len(reqs) {
		t.Errorf("summary llm %+v, want %d errors of %d requests", sum.LLM, failed, len(reqs))
	}
	if run, err := runfmt.ReadRun(res.Dir); err != nil || run.Status != runfmt.StatusFinished {
		t.Errorf("run.json: %+v, %v; want status finished", run, err)
	}
	t.Logf("%d requests in %v: classes %v (\"\" = ok)", len(reqs), took.Round(time.Millisecond), classes)
}

// TestRefserverOverloaded puts 16 VUs on a refserver that runs one
// sequence and queues one more. Expected: the refused requests are
// recorded as HTTP 429 (error class http) and counted in llm_errors tagged
// status 429, the others succeed, nothing times out, and the run ends on
// time.
func TestRefserverOverloaded(t *testing.T) {
	base := startRefserver(t, func(c *refserver.ServeConfig) {
		c.Engine.MaxQueue = 1
		c.Engine.MaxBatch = 1
	})
	script := writeScript(t, `
import { sleep } from 'k6';
import llm from 'k6/x/llm';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 16, duration: '3s' } },
  thresholds: { 'llm_errors{status:429}': ['count>0'] },
};
const c = new llm.Client({ baseURL: __ENV.TARGET, timeout: '10s' });
export default function () {
  const r = c.generate({ prompt: 'Hello world', max_tokens: 16, ignore_eos: true });
  if (!r.ok) sleep(0.05);
}
`)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	began := time.Now()
	res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": base}, nil)
	took := time.Since(began)
	if took > 25*time.Second {
		t.Errorf("a 3 s run took %v against an overloaded server, want it to end on time", took)
	}
	if res.Exit != loadgen.ExitOK {
		t.Errorf("exit %d, want %d\n%s", res.Exit, loadgen.ExitOK, stderr)
	}
	reqs := readRequests(t, res.Dir)
	var ok, refused int
	for _, r := range reqs {
		switch {
		case r.OK:
			ok++
		case r.Status == http.StatusTooManyRequests && r.ErrorClass == runfmt.ErrorHTTP && strings.Contains(r.Error, "429"):
			refused++
		default:
			t.Errorf("request %d: got status %d, class %q (%s), want 200 or 429", r.Seq, r.Status, r.ErrorClass, r.Error)
		}
	}
	if ok == 0 || refused == 0 {
		t.Errorf("got %d successes and %d 429s, want some of each", ok, refused)
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if got := int(sum.Metrics["llm_errors{status:429}"].Values["count"]); got != refused {
		t.Errorf("llm_errors{status:429}: got %d, want %d (the 429 lines of requests.jsonl); metrics %v", got, refused, keysOf(sum.Metrics))
	}
	if got := int(sum.Metrics["llm_errors"].Values["count"]); got != refused {
		t.Errorf("llm_errors: got %d, want %d", got, refused)
	}
	t.Logf("%d requests in %v: %d ok, %d refused with 429", len(reqs), took.Round(time.Millisecond), ok, refused)
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// health is the part of refserver's GET /health that the storm test reads.
type health struct {
	Engine struct {
		Running int `json:"running"`
		Waiting int `json:"waiting"`
		KVUsed  int `json:"kv_used_tokens"`
	} `json:"engine"`
}

func getHealth(ctx context.Context, c *http.Client, base string) (health, error) {
	var h health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return h, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("GET /health: %s", resp.Status)
	}
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// settledGoroutines waits until the goroutine count stops falling (two
// equal readings 100 ms apart, at most 3 s) and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

// TestDisconnectStorm sends 200 streaming requests to an in-process
// refserver and cancels each one mid-stream, after its first to third text
// event. Expected: the server's live state returns to zero (no running or
// waiting sequence, no KV reserved) within 10 s, it still answers, and its
// goroutines return to the count before the storm.
func TestDisconnectStorm(t *testing.T) {
	base := startRefserver(t, func(c *refserver.ServeConfig) {
		c.Engine.MaxBatch = 32
		c.Engine.MaxQueue = 256
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	body := `{"prompt": "Hello world", "max_tokens": 100, "ignore_eos": true}`
	stream := func(ctx context.Context, events int) (got int, err error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/generate/stream", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("POST /generate/stream: %s", resp.Status)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Bytes(); bytes.HasPrefix(line, []byte("data: {\"text\"")) {
				got++
				if got == events {
					return got, nil
				}
			}
		}
		return got, sc.Err()
	}

	// A whole request first, so that the baseline counts the goroutines
	// the server keeps for good.
	if _, err := stream(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	before := settledGoroutines()

	const clients = 200
	var midStream, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			got, err := stream(cctx, 1+i%3)
			if got > 0 {
				midStream.Add(1)
			}
			if err != nil {
				failed.Add(1)
				t.Logf("client %d: %d events, %v", i, got, err)
			}
			// Returning cancels the request mid-stream: ccancel closes
			// the connection under the unread rest of the stream.
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	if got := midStream.Load(); got != clients || failed.Load() != 0 {
		t.Errorf("got %d of %d clients mid-stream when they cancelled, %d failures; want all mid-stream, none failed", got, clients, failed.Load())
	}

	// The server frees every slot.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var h health
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		h, err = getHealth(ctx, hc, base)
		if err != nil {
			t.Fatal(err)
		}
		if h.Engine.Running == 0 && h.Engine.Waiting == 0 && h.Engine.KVUsed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the storm the engine still has %d running, %d waiting, %d KV positions used; want 0",
				h.Engine.Running, h.Engine.Waiting, h.Engine.KVUsed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := stream(ctx, 0); err != nil || n == 0 {
		t.Errorf("after the storm a whole request got %d text events, %v; want its answer", n, err)
	}
	tr.CloseIdleConnections()

	// No goroutine leaks: back to the baseline, with a little slack for
	// the runtime's and net/http's own, within 15 s.
	const slack = 5
	var after int
	deadline = time.Now().Add(15 * time.Second)
	for {
		after = settledGoroutines()
		if after <= before+slack || time.Now().After(deadline) {
			break
		}
	}
	if after > before+slack {
		var dump strings.Builder
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("goroutines: got %d after the storm, want at most %d (%d before + %d)\n%s", after, before+slack, before, slack, dump.String())
	}
	t.Logf("%d clients cancelled mid-stream; goroutines %d before, %d after", midStream.Load(), before, after)
}
