package loadgen

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// lockstepLLM is a /generate/stream endpoint that holds every stream's
// first token until `together` streams are open at once, then sends
// `tokens` tokens at `gap`, and keeps when each token's flush returned, by
// prompt: the truth a client's timings are checked against.
type lockstepLLM struct {
	together, tokens int
	gap              time.Duration

	mu      sync.Mutex
	open    int
	gen     int // bumped each time `together` streams were open at once
	release *sync.Cond
	flushed map[string][]time.Time
}

func newLockstepLLM(together, tokens int, gap time.Duration) *lockstepLLM {
	l := &lockstepLLM{together: together, tokens: tokens, gap: gap, flushed: map[string][]time.Time{}}
	l.release = sync.NewCond(&l.mu)
	return l
}

func (l *lockstepLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/generate/stream" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Wait for the others; a client that never opens them all gets a 504
	// (after a bound that only a hang reaches).
	l.mu.Lock()
	l.open++
	gen := l.gen
	if l.open >= l.together {
		l.gen++
		l.release.Broadcast()
	}
	timeout := time.AfterFunc(30*time.Second, func() { l.mu.Lock(); l.release.Broadcast(); l.mu.Unlock() })
	start := time.Now()
	for l.gen == gen && time.Since(start) < 30*time.Second {
		l.release.Wait()
	}
	timeout.Stop()
	together := l.gen != gen
	l.mu.Unlock()
	defer func() { l.mu.Lock(); l.open--; l.mu.Unlock() }()
	if !together {
		http.Error(w, fmt.Sprintf("the client never held %d streams at once", l.together), http.StatusGatewayTimeout)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	var times []time.Time
	for i := range l.tokens {
		if i > 0 {
			time.Sleep(l.gap)
		}
		fmt.Fprintf(w, "data: {\"text\": \" t%d\", \"token_ids\": [%d]}\n\n", i, i)
		if err := rc.Flush(); err != nil {
			return
		}
		times = append(times, time.Now())
	}
	fmt.Fprintf(w, "data: {\"done\": true, \"finish_reason\": \"length\", \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": %d, \"total_tokens\": %d}}\n\ndata: [DONE]\n\n", l.tokens, l.tokens+3)
	_ = rc.Flush()
	l.mu.Lock()
	l.flushed[req.Prompt] = times
	l.mu.Unlock()
}

// TestAsyncStreamsPerVU: with client.generateAsync a VU holds 4 streams
// at once, as a chat UI does, while its script is busy for 300 ms; each
// stream's requests.jsonl line is complete and its timings are the
// server's flush times, not delayed by the JavaScript (k6's event loop:
// https://grafana.com/docs/k6/latest/javascript-api/k6-http/asyncrequest/).
//
// The server answers only once 4 streams are open at once, so each
// iteration's streams overlap by construction. How close the timings are
// to the flush times is checked in make bench (LLMBENCH_BENCH=1) and
// logged here: make test asserts no timing.
func TestAsyncStreamsPerVU(t *testing.T) {
	const streams, tokens, iters = 4, 5, 3
	srv := httptest.NewServer(newLockstepLLM(streams, tokens, 20*time.Millisecond))
	defer srv.Close()
	fake := srv.Config.Handler.(*lockstepLLM)
	script := writeScript(t, `
import { check } from 'k6';
import llm from 'k6/x/llm';
export const options = {
  scenarios: { chat: { executor: 'per-vu-iterations', vus: 1, iterations: 3 } },
  thresholds: { checks: ['rate==1'] },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default async function () {
  const pending = [0, 1, 2, 3].map((i) => c.generateAsync({ prompt: 'it' + __ITER + '-s' + i, max_tokens: 5 }, { tags: { stream: String(i) } }));
  const t0 = Date.now();
  while (Date.now() - t0 < 300) {} // the script is busy while its streams run
  const res = await Promise.all(pending);
  check(res, { 'all 4 streams ok': (rs) => rs.every((r) => r.ok && r.output_tokens === 5 && r.ttft > 0) });
}
`)
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, nil)
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %v, %v\n%s", res, err, stderr)
	}
	byIter := map[int64][]*runfmt.Request{}
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.OutputTokens != tokens || r.TTFTMS == nil || len(r.GapsMS) != tokens-1 || r.VU != 1 || r.Scenario != "chat" || r.Tags["stream"] == "" {
			t.Errorf("request %d: %+v", r.Seq, r)
		}
		byIter[r.Iter] = append(byIter[r.Iter], r)
	}
	if len(byIter) != iters {
		t.Fatalf("requests came from iterations %v, want %d iterations", slices.Collect(maps.Keys(byIter)), iters)
	}
	var errs []float64 // client time − flush time of each token, ms
	for it, rs := range byIter {
		if len(rs) != streams {
			t.Errorf("iteration %d: %d requests, want %d", it, len(rs), streams)
			continue
		}
		// Overlap: every stream was sent before any stream's first token.
		var lastSent, firstToken time.Time
		for _, r := range rs {
			if r.Sent.After(lastSent) {
				lastSent = r.Sent
			}
			ft := r.Sent.Add(msDur(*r.TTFTMS))
			if firstToken.IsZero() || ft.Before(firstToken) {
				firstToken = ft
			}
			flushed := fake.flushedFor(r)
			if len(flushed) != tokens {
				t.Errorf("iteration %d: the server flushed %d tokens for %q", it, len(flushed), r.Tags["stream"])
				continue
			}
			at := ft
			for k, f := range flushed {
				if k > 0 {
					at = at.Add(msDur(r.GapsMS[k-1]))
				}
				errs = append(errs, float64(at.Sub(f))/float64(time.Millisecond))
			}
		}
		if !lastSent.Before(firstToken) {
			t.Errorf("iteration %d: the last stream was sent at %v, after the first token at %v: the streams did not overlap", it, lastSent, firstToken)
		}
	}
	abs := make([]float64, len(errs))
	for i, e := range errs {
		abs[i] = math.Abs(e)
	}
	slices.Sort(abs)
	if len(abs) == 0 {
		return
	}
	med, worst := abs[len(abs)/2], abs[len(abs)-1]
	t.Logf("%d tokens: |client time − flush time| p50 %.3f ms, max %.3f ms, while the script was busy for 300 ms after starting its streams", len(abs), med, worst)
	// A client that read its streams only when the script yields would be
	// ~300 ms late; the bounds leave room for a busy machine's scheduling.
	if os.Getenv("LLMBENCH_BENCH") == "1" && !raceEnabled && (med > 1 || worst > 10) {
		t.Errorf("|client time − flush time| p50 %.3f ms, max %.3f ms, want ≤ 1 ms and ≤ 10 ms: reading the streams waits on the script", med, worst)
	}
}

func (l *lockstepLLM) flushedFor(r *runfmt.Request) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushed[fmt.Sprintf("it%d-s%s", r.Iter, r.Tags["stream"])]
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
