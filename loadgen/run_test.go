package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// fakeLLM is a refserver-shaped /generate/stream endpoint that streams n
// tokens with a fixed gap, and counts the requests it served.
type fakeLLM struct {
	tokens int
	gap    time.Duration
	served atomic.Int64
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, `{"status":"ok","model":"fake-gpt2","backend":"fake","device":"cpu","gpu_available":false}`)
		return
	case "/generate/stream":
	default:
		http.NotFound(w, r)
		return
	}
	var req struct {
		Prompt    string `json:"prompt"`
		MaxTokens int    `json:"max_tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Prompt == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`)
		return
	}
	n := f.tokens
	if req.MaxTokens > 0 && req.MaxTokens < n {
		n = req.MaxTokens
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := range n {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(f.gap):
		}
		fmt.Fprintf(w, "data: {\"text\": \" t%d\", \"token_ids\": [%d]}\n\n", i, i)
		rc.Flush()
	}
	fmt.Fprintf(w, "data: {\"done\": true, \"finish_reason\": \"length\", \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": %d, \"total_tokens\": %d}, \"timings\": {\"queue_s\": 0.001, \"ttft_s\": 0.01, \"tpot_s\": 0.005, \"total_s\": 0.05}}\n\ndata: [DONE]\n\n", n, n+3)
	rc.Flush()
	f.served.Add(1)
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.js")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runScript(t *testing.T, ctx context.Context, script string, env map[string]string, mod func(*Config)) (*Result, string, string, error) {
	t.Helper()
	cfg := Config{Script: script, Env: env, NoSysEnv: true, Out: filepath.Join(t.TempDir(), "run"), Quiet: true}
	if mod != nil {
		mod(&cfg)
	}
	var stdout, stderr bytes.Buffer
	res, err := Run(ctx, cfg, &stdout, &stderr)
	return res, stdout.String(), stderr.String(), err
}

const llmScript = `
import { check } from 'k6';
import llm from 'k6/x/llm';
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 9 } },
  thresholds: { llm_ttft: ['p(95)<5000'], checks: ['rate==1'] },
  slo: { ttft: 5000 },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () {
  const r = c.generate({ prompt: 'hello', max_tokens: 4 });
  check(r, { 'ok': (x) => x.ok && x.output_tokens === 4 && x.trace_id.length === 32 });
}
`

func TestRunWritesTheRunFolder(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 8, gap: 2 * time.Millisecond})
	defer srv.Close()
	res, stdout, stderr, err := runScript(t, t.Context(), writeScript(t, llmScript), map[string]string{"TARGET": srv.URL}, nil)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	if res.Exit != ExitOK {
		t.Fatalf("exit %d, want 0\nstderr:\n%s", res.Exit, stderr)
	}
	run, err := runfmt.ReadRun(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runfmt.StatusFinished || run.Target != srv.URL || run.Protocol != "generate" || run.Server == nil || run.Server.Model != "fake-gpt2" {
		t.Errorf("run.json: got status %q target %q protocol %q server %+v", run.Status, run.Target, run.Protocol, run.Server)
	}
	var n int
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !r.OK || r.OutputTokens != 4 || r.TokenSource != "usage" || r.TTFTMS == nil || r.TPOTMS == nil || r.TraceID == "" || r.Scenario != "s" || r.VU < 1 {
			t.Errorf("request %d: %+v", r.Seq, r)
		}
	}
	if n != 9 {
		t.Errorf("requests.jsonl: got %d lines, want 9", n)
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ThresholdsOK || sum.LLM == nil || sum.LLM.Requests != 9 || sum.LLM.GoodRequests != 9 || sum.Metrics["iterations"].Values["count"] != 9 {
		t.Errorf("summary: thresholds %v, llm %+v, iterations %v", sum.ThresholdsOK, sum.LLM, sum.Metrics["iterations"].Values)
	}
	for _, want := range []string{"llm_ttft", "llm_tpot", "iterations", "checks"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("end-of-test summary lacks %s:\n%s", want, stdout)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 3, gap: time.Millisecond})
	defer srv.Close()
	tests := []struct {
		name     string
		script   string
		wantExit int
		wantErr  string // in the error or stderr
	}{
		{"threshold fails", `
import llm from 'k6/x/llm';
export const options = { iterations: 2, thresholds: { llm_ttft: ['max<0.001'] } };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 2 }); }
`, ExitThresholds, "threshold llm_ttft 'max<0.001' failed"},
		{"syntax error", "export default function () {\n  let = 1;\n}\n", ExitScriptError, "scenario.js:2:"},
		{"init exception", "throw new Error('bad init');\nexport default function () {}\n", ExitScriptError, "bad init"},
		{"setup exception", "export function setup() { throw new Error('no setup'); }\nexport default function () {}\n", ExitScriptError, "no setup"},
		{"unknown threshold metric", "export const options = { thresholds: { nope: ['count<1'] } };\nexport default function () {}\n", ExitInvalidConfig, "nope"},
		{"negative maxRedirects", "export const options = { maxRedirects: -1 };\nexport default function () {}\n", ExitInvalidConfig, "maxRedirects -1"},
		{"bad executor", "export const options = { scenarios: { a: { executor: 'warp-speed' } } };\nexport default function () {}\n", ExitInvalidConfig, "warp-speed"},
		{"iteration errors go on", `
import { Counter } from 'k6/metrics';
const done = new Counter('done');
export const options = { iterations: 4 };
export default function () { done.add(1); if (__ITER % 2 === 0) throw new Error('odd one'); }
`, ExitOK, "Error: odd one"},
		// k6 registers its built-in metrics up front
		// (https://grafana.com/docs/k6/latest/using-k6/metrics/reference/),
		// so thresholds on group_duration, its group sub-metrics
		// (https://grafana.com/docs/k6/latest/using-k6/thresholds/, "Thresholds on
		// groups") and http_req_duration are valid in any script.
		{"thresholds on built-in metrics", `
import { group } from 'k6';
export const options = { iterations: 2, thresholds: {
  'group_duration': ['p(95)<60000'],
  'group_duration{group:::outer::inner}': ['max<60000'],
  'http_req_duration': ['p(95)<60000'],
  'llm_ttft': ['p(95)<60000'],
} };
export default function () { group('outer', () => { group('inner', () => {}); }); }
`, ExitOK, ""},
		{"test.abort", "import exec from 'k6/execution';\nexport const options = { iterations: 3 };\nexport default function () { exec.test.abort('enough'); }\n", ExitScriptAborted, "enough"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, stderr, err := runScript(t, t.Context(), writeScript(t, tt.script), map[string]string{"TARGET": srv.URL}, nil)
			msg := stderr
			if err != nil {
				msg += err.Error()
			}
			if res.Exit != tt.wantExit {
				t.Errorf("exit %d, want %d\n%s", res.Exit, tt.wantExit, msg)
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("output %q lacks %q", msg, tt.wantErr)
			}
		})
	}
}

// TestAbortStopsAtOnceAndTearsDown follows k6/execution's test.abort()
// (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/): it
// "aborts the test run with the exit code 108", and "aborting the test will
// not prevent the teardown() execution". One VU runs 10 shared iterations
// and aborts in its third: no fourth starts, and teardown() runs. (It once
// was noticed a second later, after all 10, and teardown was skipped.)
func TestAbortStopsAtOnceAndTearsDown(t *testing.T) {
	script := writeScript(t, `
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const ran = new Counter('ran');
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 1, iterations: 10 } } };
export default function () {
  ran.add(1);
  if (exec.scenario.iterationInTest === 2) exec.test.abort('third one');
}
export function teardown() { console.log('teardown ran'); }
`)
	res, _, stderr, err := runScript(t, t.Context(), script, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitScriptAborted || !strings.Contains(stderr, "third one") {
		t.Errorf("exit %d, want %d with the reason:\n%s", res.Exit, ExitScriptAborted, stderr)
	}
	if !strings.Contains(stderr, "teardown ran") {
		t.Errorf("teardown() did not run after test.abort():\n%s", stderr)
	}
	if res.Summary == nil {
		t.Fatal("no summary.json")
	}
	if got := res.Summary.Metrics["ran"].Values["count"]; got != 3 {
		t.Errorf("%v iterations ran, want 3: the abort in the third stops the test", got)
	}
	run, err := runfmt.ReadRun(res.Dir)
	if err != nil || run.Status != runfmt.StatusAborted {
		t.Errorf("run.json: %+v, %v; want status aborted", run, err)
	}
}

// TestExecutionModule checks k6/execution's fields against its documented
// meaning (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/):
// two scenarios on one VU each, the second starting later, so that a VU's
// iterationInInstance, the scenarios' executors and start times, and the
// instance's counts can each be told apart. The script checks them, and
// the checks threshold makes the exit code say whether they held.
func TestExecutionModule(t *testing.T) {
	script := writeScript(t, `
import exec from 'k6/execution';
import { check } from 'k6';
export const options = {
  scenarios: {
    first: { executor: 'per-vu-iterations', vus: 1, iterations: 3 },
    second: { executor: 'shared-iterations', vus: 1, iterations: 2, startTime: '300ms', exec: 'second' },
  },
  thresholds: { checks: ['rate==1'] },
};
const t0 = Date.now();
function common(name, executor) {
  const s = exec.scenario, v = exec.vu, i = exec.instance;
  const ok = check(null, {
    'scenario.name': () => s.name === name,
    'scenario.executor': () => s.executor === executor,
    'scenario.startTime': () => typeof s.startTime === 'number' && s.startTime >= t0 - 5000 && s.startTime <= Date.now(),
    'vu.idInInstance': () => v.idInInstance >= 1 && v.idInInstance === v.idInTest,
    'vu.iterationInScenario': () => v.iterationInScenario === __ITER,
    'vu.iterationInInstance >= iterationInScenario': () => v.iterationInInstance >= v.iterationInScenario,
    'instance.vusInitialized': () => i.vusInitialized >= 1,
    'instance.currentTestRunDuration': () => i.currentTestRunDuration > 0,
    'instance.iterationsCompleted': () => i.iterationsCompleted >= 0 && i.iterationsInterrupted === 0,
  });
  if (!ok) console.log(JSON.stringify({ s, v: { idInInstance: v.idInInstance, iterationInInstance: v.iterationInInstance, iterationInScenario: v.iterationInScenario }, i }));
}
export default function () { common('first', 'per-vu-iterations'); }
export function second() {
  common('second', 'shared-iterations');
  check(null, { 'second starts 300 ms after the first': () => exec.scenario.startTime - t0 >= 250 });
}
`)
	res, _, stderr, err := runScript(t, t.Context(), script, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitOK {
		t.Errorf("exit %d, want 0 (every check held):\n%s", res.Exit, stderr)
	}
	if got := res.Summary.Metrics["checks"].Values["passes"]; got != 3*9+2*10 {
		t.Errorf("%v checks passed, want %d", got, 3*9+2*10)
	}
}

// TestExecutionTagsProgressOptions follows the rest of k6/execution
// (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/):
// vu.metrics.tags go on every later sample of the VU and last across its
// iterations (vu.tags is their older name, and reads the scenario tag);
// metadata is kept; scenario.progress is the share of iterations done for
// shared-iterations (exactly __ITER/4 with one VU); test.options has every
// scenario written out, read-only; test.fail() marks the test failed
// (exit 110) and lets it run to its end.
func TestExecutionTagsProgressOptions(t *testing.T) {
	script := writeScript(t, `
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
const hits = new Counter('hits');
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 1, iterations: 4 } },
  thresholds: { checks: ['rate==1'], 'hits{user:u1}': ['count==3'], 'hits{scenario:s}': ['count==4'] },
};
export default function () {
  const tags = exec.vu.metrics.tags;
  if (__ITER === 1) { tags.user = 'u' + exec.vu.idInTest; tags.n = 7; tags.bad = { no: 1 }; exec.vu.metrics.metadata.trace = 'abc'; }
  hits.add(1);
  const o = exec.test.options;
  check(null, {
    'progress is the share of iterations done': () => exec.scenario.progress === __ITER / 4,
    'vu.tags is metrics.tags': () => exec.vu.tags === tags,
    'the scenario tag reads': () => tags.scenario === 's',
    'tags last across iterations': () => __ITER < 1 || (tags.user === 'u1' && tags.n === '7'),
    'a tag of another type is not set': () => !('bad' in tags),
    'metadata is kept': () => __ITER < 1 || exec.vu.metrics.metadata.trace === 'abc',
    'test.options has the scenario in full': () => o.scenarios.s.executor === 'shared-iterations' && o.scenarios.s.iterations === 4 && o.scenarios.s.gracefulStop === '30s' && o.scenarios.s.maxDuration === '10m',
    'test.options is read-only': () => Object.isFrozen(o) && Object.isFrozen(o.scenarios.s),
  });
  if (__ITER === 3) exec.test.fail('marked on purpose');
}
`)
	res, _, stderr, err := runScript(t, t.Context(), script, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitMarkedFailed || !strings.Contains(stderr, "marked on purpose") {
		t.Errorf("exit %d, want %d (test.fail) with its reason:\n%s", res.Exit, ExitMarkedFailed, stderr)
	}
	if !strings.Contains(stderr, `exec.vu.metrics.tags["bad"]`) {
		t.Errorf("no warning for a tag that is not a string, number or boolean:\n%s", stderr)
	}
	if res.Summary == nil {
		t.Fatal("no summary.json")
	}
	if !res.Summary.ThresholdsOK {
		for name, m := range res.Summary.Metrics {
			if len(m.Thresholds) > 0 {
				t.Logf("%s: %v %v", name, m.Values, m.Thresholds)
			}
		}
		t.Errorf("thresholds failed (a check or a tagged count):\n%s", stderr)
	}
	if got := res.Summary.Metrics["hits"].Values["count"]; got != 4 {
		t.Errorf("%v iterations counted, want 4: test.fail() does not stop the test", got)
	}
}

// TestTestOptionsShortcuts: exec.test.options writes the stages shortcut
// out as k6 does, a "default" ramping-vus scenario.
func TestTestOptionsShortcuts(t *testing.T) {
	script := writeScript(t, `
import exec from 'k6/execution';
export const options = { stages: [{ duration: '200ms', target: 1 }, { duration: '1m30s', target: 0 }], tags: { team: 'a' } };
export default function () {
  const d = exec.test.options.scenarios.default;
  if (d.executor !== 'ramping-vus' || d.stages.length !== 2 || d.stages[1].duration !== '1m30s' || d.stages[0].target !== 1) throw new Error(JSON.stringify(d));
  if (exec.test.options.tags.team !== 'a') throw new Error('tags: ' + JSON.stringify(exec.test.options.tags));
  exec.test.abort('seen');
}
`)
	res, _, stderr, err := runScript(t, t.Context(), script, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitScriptAborted || strings.Contains(stderr, "Error") {
		t.Errorf("exit %d, want %d after the checks held:\n%s", res.Exit, ExitScriptAborted, stderr)
	}
}

// TestJslibOffline runs a script written as k6's documentation writes
// them, importing jslib's k6-utils and k6-summary by URL, with
// --offline: llmbench's built-ins answer. tagWithCurrentStageIndex and
// tagWithCurrentStageProfile tag the VU's samples
// (https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/), and
// handleSummary's textSummary and jUnit
// (https://grafana.com/docs/k6/latest/results-output/end-of-test/custom-summary/)
// write the summary and a JUnit file.
func TestJslibOffline(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	script := writeScript(t, `
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { getCurrentStageIndex, tagWithCurrentStageIndex, tagWithCurrentStageProfile } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
import { textSummary, jUnit } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';
import exec from 'k6/execution';
const hits = new Counter('hits');
let last = 0;
export const options = {
  scenarios: { ramp: { executor: 'ramping-vus', startVUs: 1, stages: [{ duration: '300ms', target: 2 }, { duration: '300ms', target: 2 }] } },
  thresholds: { checks: ['rate==1'], 'hits{stage_profile:ramp-up}': ['count>=0'], 'hits{stage_profile:steady}': ['count>=0'] },
};
export default function () {
  tagWithCurrentStageIndex();
  tagWithCurrentStageProfile();
  const i = getCurrentStageIndex();
  const tags = exec.vu.metrics.tags;
  // (The calls read the clock one after another: at the boundary they
  // may see different stages.)
  check(null, {
    'stage index tagged': () => (tags.stage === '0' || tags.stage === '1') && i >= Number(tags.stage),
    'stage profile tagged': () => tags.stage_profile === 'ramp-up' || tags.stage_profile === 'steady',
    'stages only go forward': () => i >= last,
  });
  last = i;
  hits.add(1);
}
export function handleSummary(data) {
  return { stdout: textSummary(data, { indent: ' ', enableColors: false }), '`+junit+`': jUnit(data) };
}
`)
	res, stdout, stderr, err := runScript(t, t.Context(), script, nil, func(c *Config) {
		c.Offline, c.ModuleCache = true, t.TempDir()
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitOK {
		t.Errorf("exit %d, want 0:\n%s", res.Exit, stderr)
	}
	for _, want := range []string{"built-in k6-utils", "built-in k6-summary"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	for _, want := range []string{"checks....", "hits....", "✓ stage index tagged", "iterations...."} {
		if !strings.Contains(stdout, want) {
			t.Errorf("textSummary lacks %q:\n%s", want, stdout)
		}
	}
	// Every sample carries its stage's profile (which stages the
	// iterations fell in depends on the machine's speed).
	m := res.Summary.Metrics
	if up, steady, all := m["hits{stage_profile:ramp-up}"].Values["count"], m["hits{stage_profile:steady}"].Values["count"], m["hits"].Values["count"]; all == 0 || up+steady != all {
		t.Errorf("hits: %v ramp-up + %v steady, want all %v tagged", up, steady, all)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), `<testcase name="checks - rate==1"`) || !strings.Contains(string(x), `tests="3" failures="0"`) || !strings.Contains(string(x), `<testcase name="hits{stage_profile:steady} - count&gt;=0"`) {
		t.Errorf("junit.xml:\n%s", x)
	}
}

// TestAbortInSetup: test.abort() in setup() aborts the test (108), with
// no iteration run.
func TestAbortInSetup(t *testing.T) {
	script := writeScript(t, `
import exec from 'k6/execution';
export const options = { iterations: 5 };
export function setup() { exec.test.abort('no backend'); }
export default function () { throw new Error('must not run'); }
`)
	res, _, stderr, err := runScript(t, t.Context(), script, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitScriptAborted || !strings.Contains(stderr, "no backend") || strings.Contains(stderr, "must not run") {
		t.Errorf("exit %d, want %d, the reason and no iteration:\n%s", res.Exit, ExitScriptAborted, stderr)
	}
}

// TestVUsInitBeforeSetup checks k6's order: every VU's init code runs
// before setup(), so a VU that cannot start stops the run before setup()
// has done anything.
func TestVUsInitBeforeSetup(t *testing.T) {
	var setups atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/setup" {
			setups.Add(1)
		}
	}))
	defer srv.Close()
	script := writeScript(t, `
import http from 'k6/http';
if (__VU === 2) throw new Error('VU 2 cannot start');
export const options = { vus: 2, iterations: 2 };
export function setup() { http.get(__ENV.TARGET + '/setup'); }
export default function () {}
`)
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, nil)
	msg := stderr
	if err != nil {
		msg += err.Error()
	}
	if res.Exit != ExitScriptError || !strings.Contains(msg, "VU 2 cannot start") {
		t.Errorf("exit %d, output %q; want %d and the VU's error", res.Exit, msg, ExitScriptError)
	}
	if n := setups.Load(); n != 0 {
		t.Errorf("setup() ran %d times before the VUs were initialized; want 0", n)
	}
}

func TestInterruptKeepsWhatRan(t *testing.T) {
	f := &fakeLLM{tokens: 5, gap: 5 * time.Millisecond}
	srv := httptest.NewServer(f)
	defer srv.Close()
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { vus: 2, duration: '1h' };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 5 }); }
`)
	// Ctrl-C once six requests are on disk: those must survive it.
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for {
			b, _ := os.ReadFile(filepath.Join(out, runfmt.RequestsFile))
			if bytes.Count(b, []byte("\n")) >= 6 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, _, stderr, err := runScript(t, ctx, script, map[string]string{"TARGET": srv.URL}, func(c *Config) { c.Out = out })
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitInterrupted {
		t.Errorf("exit %d, want %d\n%s", res.Exit, ExitInterrupted, stderr)
	}
	run, err := runfmt.ReadRun(res.Dir)
	if err != nil || run.Status != runfmt.StatusInterrupted {
		t.Errorf("run.json: %+v %v", run, err)
	}
	ok := 0
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			t.Fatalf("requests.jsonl: %v", err)
		}
		if r.OK {
			ok++
		}
	}
	if ok < 6 {
		t.Errorf("requests.jsonl: %d complete requests, want at least the 6 recorded before Ctrl-C", ok)
	}
	if _, err := runfmt.ReadSummary(res.Dir); err != nil {
		t.Errorf("summary.json: %v", err)
	}
}

func TestSegmentsMerge(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 3, gap: time.Millisecond})
	defer srv.Close()
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
  thresholds: { llm_requests: ['count==6'] },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 3 }); }
`)
	var dirs []string
	for _, seg := range []string{"0:1/3", "1/3:2/3", "2/3:1"} {
		res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, func(c *Config) {
			c.Segment, c.Sequence = seg, "0,1/3,2/3,1"
		})
		if err != nil {
			t.Fatal(err)
		}
		// Each part alone fails the whole-test threshold (2 of 6 requests).
		if res.Exit != ExitThresholds {
			t.Errorf("segment %s: exit %d, want %d\n%s", seg, res.Exit, ExitThresholds, stderr)
		}
		dirs = append(dirs, res.Dir)
	}
	out := filepath.Join(t.TempDir(), "merged")
	sum, err := Merge(dirs, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ThresholdsOK || sum.LLM.Requests != 6 || sum.Metrics["llm_requests"].Values["count"] != 6 {
		t.Errorf("merged: thresholds %v, requests %d, llm_requests %v", sum.ThresholdsOK, sum.LLM.Requests, sum.Metrics["llm_requests"].Values)
	}
	if h := sum.Metrics["llm_ttft"].Histogram; h == nil || h.Count != 6 {
		t.Errorf("merged llm_ttft histogram: %+v", h)
	}
	run, err := runfmt.ReadRun(out)
	if err != nil || len(run.Parts) != 3 {
		t.Errorf("merged run.json: %+v %v", run, err)
	}
	// A second merge into the same folder would replace the first's
	// records: refused, and the first left as it was.
	before := mustReadFile(t, filepath.Join(out, runfmt.RequestsFile))
	if _, err := Merge(dirs, out, nil); err == nil || !strings.Contains(err.Error(), "already holds a run (run.json, requests.jsonl") {
		t.Errorf("a merge into a merged folder: %v, want a refusal", err)
	}
	if !bytes.Equal(mustReadFile(t, filepath.Join(out, runfmt.RequestsFile)), before) {
		t.Error("the refused merge changed requests.jsonl")
	}
}

func TestAbortOnFail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
	}))
	defer srv.Close()
	script := writeScript(t, `
import { sleep } from 'k6';
import llm from 'k6/x/llm';
export const options = {
  vus: 1, duration: '1h',
  thresholds: { llm_errors: [{ threshold: 'count<1', abortOnFail: true }] },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x' }); sleep(0.05); }
`)
	start := time.Now()
	res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != ExitThresholds {
		t.Errorf("exit %d, want %d\n%s", res.Exit, ExitThresholds, stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the run took %v: the threshold did not abort it", d)
	}
	run, err := runfmt.ReadRun(res.Dir)
	if err != nil || run.Status != runfmt.StatusAborted {
		t.Errorf("run.json: %+v, %v; want status aborted", run, err)
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil || sum.Aborted == "" || sum.ThresholdsOK {
		t.Errorf("summary: aborted %q, thresholds ok %v, %v", sum.Aborted, sum.ThresholdsOK, err)
	}
	// Every request failed with the server's 503, except one that the
	// abort may have cancelled in flight.
	var answered, cancelled int
	for r, err := range runfmt.Requests(res.Dir) {
		switch {
		case err != nil:
			t.Fatal(err)
		case r.ErrorClass == runfmt.ErrorCanceled:
			cancelled++
		case !r.OK && r.Status == 503 && r.ErrorClass == runfmt.ErrorHTTP && strings.Contains(r.Error, "overloaded"):
			answered++
		default:
			t.Errorf("request: %+v", r)
		}
	}
	if answered == 0 || cancelled > 1 {
		t.Errorf("%d requests answered 503 and %d cancelled; want some 503s and at most one cancelled", answered, cancelled)
	}
}

// TestOpenLoopMakesQueueingVisible runs an arrival rate the server cannot
// keep up with: the iterations that found no VU are counted as dropped,
// and every request carries its scheduled time and client queue.
func TestOpenLoopMakesQueueingVisible(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 10, gap: 30 * time.Millisecond}) // 300 ms a request
	defer srv.Close()
	script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = {
  scenarios: { open: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '2s', preAllocatedVUs: 1, maxVUs: 3 } },
};
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 10 }); }
`)
	res, stdout, stderr, err := runScript(t, t.Context(), script, map[string]string{"TARGET": srv.URL}, nil)
	if err != nil || res.Exit != ExitOK {
		t.Fatalf("exit %d, %v\n%s", res.Exit, err, stderr)
	}
	sum, err := runfmt.ReadSummary(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	// 40 arrivals; 3 VUs at 300 ms each serve about 20 of them.
	if d := sum.LLM.DroppedIterations; d < 10 || d > 30 {
		t.Errorf("dropped iterations %d, want 10 to 30 of 40", d)
	}
	if q := sum.LLM.ClientQueue; q == nil || q.Count != sum.LLM.Requests {
		t.Errorf("client queue %+v, want one per request (%d)", q, sum.LLM.Requests)
	}
	if !strings.Contains(stdout, "dropped iterations") {
		t.Errorf("summary does not mention the dropped iterations:\n%s", stdout)
	}
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Scheduled.IsZero() || r.ClientQueueMS == nil || *r.ClientQueueMS < 0 || r.Sent.Before(r.Scheduled) {
			t.Errorf("request %d: scheduled %v sent %v queue %v", r.Seq, r.Scheduled, r.Sent, r.ClientQueueMS)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	srv := httptest.NewServer(&fakeLLM{tokens: 3, gap: time.Millisecond})
	defer srv.Close()
	script := writeScript(t, `
import { sleep } from 'k6';
import llm from 'k6/x/llm';
export const options = { iterations: 1 };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 3 }); sleep(3); }
`)
	var stderr lockedBuffer
	done := make(chan *Result, 1)
	go func() {
		res, _ := Run(t.Context(), Config{Script: script, Env: map[string]string{"TARGET": srv.URL}, NoSysEnv: true,
			Out: filepath.Join(t.TempDir(), "run"), Quiet: true, NoSummary: true, Metrics: "127.0.0.1:0"}, io.Discard, &stderr)
		done <- res
	}()
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, url, ok := strings.Cut(stderr.String(), "metrics on "); ok {
			url = strings.Fields(url)[0]
			resp, err := http.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				if strings.Contains(body, "llmbench_llm_requests_total{") {
					break
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	<-done
	for _, want := range []string{`llmbench_llm_requests_total{protocol="generate",scenario="default",status="200"} 1`, "llmbench_requests_in_flight 0", "llmbench_vus 1", "llmbench_llm_ttft_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestRunDirHoldingARun: --run-dir at a folder that holds a recorded run
// (its run.json) is refused before any request, and the run there is left
// as it was; a folder that holds only other files (the logs llmbench demo
// and nightly write there first, the requests.jsonl of a merge that failed
// before its run.json) is used.
func TestRunDirHoldingARun(t *testing.T) {
	f := &fakeLLM{tokens: 4, gap: time.Millisecond}
	srv := httptest.NewServer(f)
	defer srv.Close()
	script := writeScript(t, llmScript)
	env := map[string]string{"TARGET": srv.URL}
	dir := filepath.Join(t.TempDir(), "run")
	if _, _, stderr, err := runScript(t, t.Context(), script, env, func(c *Config) { c.Out = dir }); err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	served := f.served.Load()
	before := mustReadFile(t, filepath.Join(dir, runfmt.RequestsFile))
	res, _, _, err := runScript(t, t.Context(), script, env, func(c *Config) { c.Out = dir })
	if err == nil || !strings.Contains(err.Error(), "already holds a run (run.json, requests.jsonl, summary.json") || res.Exit != ExitInvalidConfig {
		t.Fatalf("exit %v, err %v; want %d and a refusal that names the run's files", res.Exit, err, ExitInvalidConfig)
	}
	if !bytes.Equal(mustReadFile(t, filepath.Join(dir, runfmt.RequestsFile)), before) {
		t.Error("requests.jsonl changed")
	}
	if f.served.Load() != served {
		t.Errorf("%d requests sent before the refusal", f.served.Load()-served)
	}
	logsOnly := t.TempDir()
	if err := os.MkdirAll(filepath.Join(logsOnly, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nightly.log", runfmt.RequestsFile} {
		if err := os.WriteFile(filepath.Join(logsOnly, name), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, stderr, err := runScript(t, t.Context(), script, env, func(c *Config) { c.Out = logsOnly }); err != nil {
		t.Fatalf("a folder without a run.json: %v\n%s", err, stderr)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
