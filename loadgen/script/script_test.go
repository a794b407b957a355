package script

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeRecorder keeps every sample in memory.
type fakeRecorder struct {
	mu      sync.Mutex
	kinds   map[string]string
	samples []sample
	checks  map[string][2]int // group::name → passes, fails
}

type sample struct {
	name string
	v    float64
	tags map[string]string
}

func newFakeRecorder() *fakeRecorder {
	return &fakeRecorder{kinds: map[string]string{}, checks: map[string][2]int{}}
}

func (f *fakeRecorder) Declare(name, kind string, isTime bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.kinds[name]; ok && k != kind {
		return fmt.Errorf("metric %s is a %s, not a %s", name, k, kind)
	}
	f.kinds[name] = kind
	return nil
}

func (f *fakeRecorder) Add(name string, _ time.Time, v float64, tags map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples = append(f.samples, sample{name, v, tags})
}

func (f *fakeRecorder) Check(group, name string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.checks[group+"|"+name]
	if ok {
		c[0]++
	} else {
		c[1]++
	}
	f.checks[group+"|"+name] = c
}

func (f *fakeRecorder) of(name string) []sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sample
	for _, s := range f.samples {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// writeScripts writes files into a temporary folder and returns it.
func writeScripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newEnv(t *testing.T, dir string, vars map[string]string) (*Env, *fakeRecorder, *strings.Builder) {
	t.Helper()
	p, err := Load(filepath.Join(dir, "main.js"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	rec := newFakeRecorder()
	var log strings.Builder
	return &Env{Program: p, Vars: vars, Recorder: rec, Log: &syncWriter{w: &log}}, rec, &log
}

// iterate builds a VU of dir's main.js with vars as __ENV and runs one
// iteration of its default function, failing the test on an error. It
// returns the VU, for further calls, and what it recorded.
func iterate(t *testing.T, dir string, vars map[string]string) (*VU, *fakeRecorder) {
	t.Helper()
	env, rec, _ := newEnv(t, dir, vars)
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s"}, ""); err != nil {
		t.Fatal(err)
	}
	return vu, rec
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func TestLoadErrorsNameTheLocation(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"syntax error", map[string]string{"main.js": "export default function () {\n  let x = ;\n}\n"}, "main.js:2:11: Unexpected \";\""},
		{"syntax error in an import", map[string]string{
			"main.js": "import { f } from './lib.js';\nexport default function () { f(); }\n",
			"lib.js":  "export function f() {\n\n  return 1 +;\n}\n",
		}, "lib.js:3:13: Unexpected \";\""},
		{"missing import", map[string]string{"main.js": "import { f } from './nope.js';\nexport default function () { f(); }\n"}, "main.js:1:19: Could not resolve \"./nope.js\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeScripts(t, tt.files)
			_, err := Load(filepath.Join(dir, "main.js"))
			if err == nil {
				t.Fatal("Load: no error")
			}
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Fatalf("Load: got %T %v, want a *ScriptError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRuntimeErrorsNameTheLocation(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"main.js": `import { boom } from './lib.js';
export default function () {
  boom(__ITER);
}
export function other() {
  undefinedFunction();
}
`,
		"lib.js": `export function boom(i) {
  if (i > 0) {
    throw new Error('kaboom ' + i);
  }
}
`,
	})
	env, _, _ := newEnv(t, dir, nil)
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Iter: 0}, ""); err != nil {
		t.Fatalf("iteration 0: %v", err)
	}
	tests := []struct {
		exec string
		want string
	}{
		{"default", filepath.Join(dir, "lib.js") + ":3:*: Error: kaboom 1"},
		{"other", filepath.Join(dir, "main.js") + ":6:*: ReferenceError: undefinedFunction is not defined"},
	}
	// The column is where goja puts the throw or call, which is not where
	// Node would; the file and the line are what a user needs.
	for _, tt := range tests {
		err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Exec: tt.exec, Iter: 1}, "")
		var se *ScriptError
		if !errors.As(err, &se) {
			t.Fatalf("%s: got %T %v, want a *ScriptError", tt.exec, err, err)
		}
		file, rest, _ := strings.Cut(tt.want, ":*:")
		if want := file[strings.LastIndex(file, ":")+1:]; fmt.Sprint(se.Line) != want || se.Column < 1 ||
			!strings.HasPrefix(err.Error(), file+":") || !strings.HasSuffix(err.Error(), rest) {
			t.Errorf("%s: got %q, want %q", tt.exec, err, tt.want)
		}
	}
	// The VU keeps working after an exception.
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Iter: 0}, ""); err != nil {
		t.Errorf("after the exceptions: %v", err)
	}
}

func TestInitErrorIsReported(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": "const x = null;\nx.y = 1;\nexport default function () {}\n"})
	env, _, _ := newEnv(t, dir, nil)
	_, err := NewVU(t.Context(), env, 1)
	if err == nil || !strings.Contains(err.Error(), "main.js:2:") {
		t.Errorf("got %v, want a TypeError at main.js:2", err)
	}
}

func TestLifecycle(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"main.js": `import data from './data.json';
import { sleep } from 'k6';
const text = open('./prompts.txt');
export const options = { vus: 2, thresholds: { checks: ['rate>0.9'] }, tags: { a: 'b' } };
export function setup() { return { token: 'abc', n: data.items.length, lines: text.trim().split('\n').length }; }
export default function (d) {
  if (d.token !== 'abc' || d.n !== 3 || d.lines !== 2) throw new Error('bad setup data ' + JSON.stringify(d));
  if (__ENV.GREETING !== 'hi') throw new Error('bad env ' + __ENV.GREETING);
  d.seen = (d.seen || 0) + 1;
  console.log('vu', __VU, 'iter', __ITER, 'seen', d.seen);
}
export function teardown(d) { if (d.token !== 'abc') throw new Error('teardown got ' + JSON.stringify(d)); }
export function handleSummary(s) { return { stdout: 'summary of ' + Object.keys(s.metrics).length + ' metrics', 'out/x.txt': 'file' }; }
`,
		"data.json":   `{"items": [1, 2, 3]}`,
		"prompts.txt": "one\ntwo\n",
	})
	env, _, log := newEnv(t, dir, map[string]string{"GREETING": "hi"})
	init, err := NewVU(t.Context(), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := init.Options()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tags":{"a":"b"},"thresholds":{"checks":["rate>0.9"]},"vus":2}`; string(opts) != want {
		t.Errorf("options: got %s, want %s", opts, want)
	}
	data, err := init.Setup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	vu, err := NewVU(t.Context(), env, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Iter: int64(i)}, data); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	if !strings.Contains(log.String(), "vu 7 iter 1 seen 2") {
		t.Errorf("console output %q: want the VU's copy of the setup data kept across iterations (seen 2)", log.String())
	}
	if err := init.Teardown(t.Context(), data); err != nil {
		t.Errorf("teardown: %v", err)
	}
	out, ok, err := init.HandleSummary(t.Context(), []byte(`{"metrics": {"a": {}, "b": {}}}`))
	if err != nil || !ok {
		t.Fatalf("handleSummary: %v %v", ok, err)
	}
	if out["stdout"] != "summary of 2 metrics" || out["out/x.txt"] != "file" {
		t.Errorf("handleSummary: got %v", out)
	}
}

func TestInitContextRules(t *testing.T) {
	tests := []struct {
		name, code, want string
	}{
		{"open outside init", "export default function () { open('./x'); }", "open() works only in the init context"},
		{"metric outside init", "import { Counter } from 'k6/metrics';\nexport default function () { new Counter('c'); }", "custom metrics must be created in the init context"},
		{"unknown module", "import x from 'k6/browser';\nexport default function () { x.go(); }", `unknown module "k6/browser"`},
		{"fail()", "import { fail } from 'k6';\nexport default function () { fail('no good'); }", "fail(): no good"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeScripts(t, map[string]string{"main.js": tt.code})
			env, _, _ := newEnv(t, dir, nil)
			vu, err := NewVU(t.Context(), env, 1)
			if err == nil {
				err = vu.Iterate(t.Context(), Iteration{Scenario: "s"}, "")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestChecksGroupsAndCustomMetrics(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
import { check, group } from 'k6';
import { Counter, Trend, Rate, Gauge } from 'k6/metrics';
import { SharedArray } from 'k6/data';
const c = new Counter('my_counter');
const tr = new Trend('my_trend', true);
const r = new Rate('my_rate');
const g = new Gauge('my_gauge');
const arr = new SharedArray('items', () => [{ p: 'a' }, { p: 'b' }]);
export default function () {
  group('outer', () => {
    group('inner', () => {
      check(arr[__ITER % arr.length], { 'has p': (x) => x.p.length === 1, 'is a': (x) => x.p === 'a' }, { kind: 'k' });
    });
  });
  c.add(2, { t: 'x' });
  tr.add(12.5);
  r.add(true);
  g.add(arr.length);
}
`})
	env, rec, _ := newEnv(t, dir, nil)
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := vu.Iterate(t.Context(), Iteration{Scenario: "sc", Iter: int64(i), Tags: map[string]string{"st": "1"}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.checks["::outer::inner|is a"]; got != [2]int{1, 1} {
		t.Errorf("check 'is a': got passes/fails %v, want [1 1]", got)
	}
	checks := rec.of("checks")
	if len(checks) != 4 || checks[0].tags["group"] != "::outer::inner" || checks[0].tags["kind"] != "k" || checks[0].tags["scenario"] != "sc" || checks[0].tags["st"] != "1" {
		t.Errorf("checks samples: got %+v", checks)
	}
	if s := rec.of("my_counter"); len(s) != 2 || s[0].v != 2 || s[0].tags["t"] != "x" {
		t.Errorf("my_counter: got %+v", s)
	}
	if s := rec.of("my_gauge"); len(s) != 2 || s[1].v != 2 {
		t.Errorf("my_gauge: got %+v", s)
	}
	if len(rec.of("group_duration")) != 4 {
		t.Errorf("group_duration: got %d samples, want 4", len(rec.of("group_duration")))
	}
	if rec.kinds["my_trend"] != Trend || rec.kinds["my_rate"] != Rate {
		t.Errorf("kinds: got %v", rec.kinds)
	}
}

func TestHTTPModule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.Error(w, `{"error":"nope"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method": %q, "hdr": %q, "choices": [{"text": "hi"}]}`, r.Method, r.Header.Get("X-Test"))
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
export default function () {
  const r = http.post(__ENV.URL + '/x', JSON.stringify({a: 1}), { headers: { 'X-Test': 'yes' }, tags: { name: 'post-x' } });
  if (r.status !== 200 || r.json('choices.0.text') !== 'hi' || r.json().hdr !== 'yes' || r.json().method !== 'POST') throw new Error('bad response ' + r.body);
  if (!(r.timings.duration > 0)) throw new Error('no timings');
  const m = http.get(__ENV.URL + '/missing');
  if (m.status !== 404) throw new Error('status ' + m.status);
  const [a, b] = http.batch([['GET', __ENV.URL + '/a'], { method: 'GET', url: __ENV.URL + '/b' }]);
  if (a.status !== 200 || b.status !== 200) throw new Error('batch');
  const dead = http.get('http://127.0.0.1:1/', { timeout: '2s' });
  if (dead.status !== 0 || dead.error === '' || dead.error_code !== 1212) throw new Error('dead: ' + dead.error + ' ' + dead.error_code);
}
`})
	_, rec := iterate(t, dir, map[string]string{"URL": srv.URL})
	reqs := rec.of("http_reqs")
	if len(reqs) != 5 {
		t.Fatalf("http_reqs: got %d samples, want 5", len(reqs))
	}
	if reqs[0].tags["name"] != "post-x" || reqs[0].tags["method"] != "POST" || reqs[0].tags["status"] != "200" {
		t.Errorf("first request's tags: got %v", reqs[0].tags)
	}
	var failed []float64
	for _, s := range rec.of("http_req_failed") {
		failed = append(failed, s.v)
	}
	if fmt.Sprint(failed) != "[0 1 0 0 1]" {
		t.Errorf("http_req_failed: got %v, want [0 1 0 0 1]", failed)
	}
}

// TestResponseJSONSelector follows k6's Response.json([selector])
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/response/response-json/),
// whose selector is GJSON's syntax (https://github.com/tidwall/gjson#path-syntax):
// counts, every element's field, queries, and undefined for no match.
func TestResponseJSONSelector(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/text" {
			fmt.Fprint(w, "not json")
			return
		}
		fmt.Fprint(w, `{"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "user": {"first.name": "Ann"}, "n": null}`)
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
}
export default function () {
  const r = http.get(__ENV.URL + '/');
  eq(r.json('items.#'), 2, 'items.#');
  eq(r.json('items.#.id'), [1, 2], 'items.#.id');
  eq(r.json('items.1.name'), 'b', 'items.1.name');
  eq(r.json('items.#(id==2).name'), 'b', 'items.#(id==2).name');
  eq(r.json('user.first\\.name'), 'Ann', 'an escaped dot');
  eq(r.json('n'), null, 'a null value');
  if (r.json('nope.nothing') !== undefined) throw new Error('no match: got ' + r.json('nope.nothing'));
  if (r.json() !== r.json()) throw new Error('json() is parsed once, as k6 caches it');
  eq(r.json().items[0].name, 'a', 'json()');
  let threw = false;
  try { http.get(__ENV.URL + '/text').json('a'); } catch (e) { threw = String(e).includes('not JSON'); }
  if (!threw) throw new Error('a selector on a body that is not JSON must throw');
}
`})
	iterate(t, dir, map[string]string{"URL": srv.URL})
}

// TestExpectedStatuses follows k6/http's expectedStatuses and
// setResponseCallback
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/expected-statuses/,
// https://grafana.com/docs/k6/latest/javascript-api/k6-http/set-response-callback/):
// the VU's callback, a per-request params.responseCallback, ranges, and
// null, which drops the expected_response tag and http_req_failed.
func TestExpectedStatuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 300 }));
const only300 = http.expectedStatuses(300);
export default function () {
  http.get(__ENV.URL + '/status/200');                                   // expected by the VU's callback
  http.get(__ENV.URL + '/status/200', { responseCallback: only300 });    // not expected
  http.get(__ENV.URL + '/status/404', { responseCallback: http.expectedStatuses(404, { min: 500, max: 599 }) });
  http.get(__ENV.URL + '/status/503', { responseCallback: null });       // no callback: no tag, no http_req_failed
  let msg = '';
  try { http.setResponseCallback(() => true); } catch (e) { msg = String(e); }
  if (!msg.includes('expectedStatuses')) throw new Error('a function callback: ' + msg);
  try { http.expectedStatuses({ min: 3 }); msg = ''; } catch (e) { msg = String(e); }
  if (!msg.includes('{min, max}')) throw new Error('a range without max: ' + msg);
  http.setResponseCallback(null);
  http.get(__ENV.URL + '/status/500');                                   // none for the VU now
}
`})
	_, rec := iterate(t, dir, map[string]string{"URL": srv.URL})
	var expected []string
	for _, s := range rec.of("http_reqs") {
		v, ok := s.tags["expected_response"]
		if !ok {
			v = "-"
		}
		expected = append(expected, v)
	}
	if got, want := strings.Join(expected, " "), "true false true - -"; got != want {
		t.Errorf("expected_response tags: got %s, want %s", got, want)
	}
	var failed []float64
	for _, s := range rec.of("http_req_failed") {
		failed = append(failed, s.v)
	}
	if fmt.Sprint(failed) != "[0 1 0]" {
		t.Errorf("http_req_failed: got %v, want [0 1 0] (none for the requests without a callback)", failed)
	}
}

// TestRedirects follows k6's redirects
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/#max-redirects,
// and params.redirects in
// https://grafana.com/docs/k6/latest/javascript-api/k6-http/params/):
// res.url is where the chain ended, each hop is a request of its own in
// http_reqs, params.redirects and options.maxRedirects bound the chain,
// and past the bound the last redirect is the response.
func TestRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/r/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
			if n == 0 {
				fmt.Fprint(w, "done")
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
		case r.URL.Path == "/307":
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
		case r.URL.Path == "/302":
			http.Redirect(w, r, "/echo", http.StatusFound)
		case r.URL.Path == "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
		}
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
function eq(got, want, what) { if (got !== want) throw new Error(what + ': got ' + got + ', want ' + want); }
export default function () {
  let r = http.get(__ENV.URL + '/r/3');
  eq(r.status, 200, 'followed'); eq(r.url, __ENV.URL + '/r/0', 'res.url'); eq(r.body, 'done', 'body');
  r = http.get(__ENV.URL + '/r/3', { redirects: 0 });
  eq(r.status, 302, 'redirects: 0'); eq(r.url, __ENV.URL + '/r/3', 'redirects: 0, url');
  r = http.get(__ENV.URL + '/r/3', { redirects: 1 });
  eq(r.status, 302, 'redirects: 1'); eq(r.url, __ENV.URL + '/r/2', 'redirects: 1, url');
  eq(http.post(__ENV.URL + '/307', 'hello').body, 'POST hello', '307 keeps the method and body');
  eq(http.post(__ENV.URL + '/302', 'hello').body, 'GET ', '302 turns into GET');
}
`})
	env, rec, log := newEnv(t, dir, map[string]string{"URL": srv.URL})
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s"}, ""); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, s := range rec.of("http_reqs") {
		urls = append(urls, strings.TrimPrefix(s.tags["url"], srv.URL)+" "+s.tags["status"])
	}
	want := "/r/3 302,/r/2 302,/r/1 302,/r/0 200," + // followed: four requests
		"/r/3 302," + "/r/3 302,/r/2 302," + // stopped at the bound
		"/307 307,/echo 200,/302 302,/echo 200"
	if got := strings.Join(urls, ","); got != want {
		t.Errorf("http_reqs by url and status:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(log.String(), "stopped after 1 redirects") {
		t.Errorf("no warning for the chain cut at its bound:\n%s", log)
	}

	// options.maxRedirects is the default bound.
	zero := 0
	dir2 := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
export default function () {
  const r = http.get(__ENV.URL + '/r/2');
  if (r.status !== 302) throw new Error('maxRedirects 0: got ' + r.status);
}
`})
	env2, _, _ := newEnv(t, dir2, map[string]string{"URL": srv.URL})
	env2.MaxRedirects = &zero
	vu2, err := NewVU(t.Context(), env2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := vu2.Iterate(t.Context(), Iteration{Scenario: "s"}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestCookies follows k6's cookies (https://grafana.com/docs/k6/latest/using-k6/cookies/,
// https://grafana.com/docs/k6/latest/javascript-api/k6-http/cookiejar/,
// and noCookiesReset in the options reference): a per-VU jar that keeps
// what servers set, redirect hops included, and is empty at each
// iteration's start; params.cookies for one request, with replace;
// res.cookies; cookiesForURL, set, delete and clear; a local jar.
func TestCookies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			for k, v := range r.URL.Query() {
				http.SetCookie(w, &http.Cookie{Name: k, Value: v[0], Path: "/"})
			}
		case "/set-redirect":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
			http.Redirect(w, r, "/echo", http.StatusFound)
		case "/echo":
			got := map[string]string{}
			for _, c := range r.Cookies() {
				got[c.Name] = c.Value
			}
			json.NewEncoder(w).Encode(got)
		}
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
const vuJar = http.cookieJar(); // from the init code: still the jar of the running iteration
function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
}
export default function () {
  const U = __ENV.URL;
  eq(http.get(U + '/echo').json(), {}, 'the jar is empty at the iteration start');
  if (__ITER === 1) return;
  eq(http.get(U + '/set-redirect').json(), { session: 'abc' }, 'a cookie set on a redirect hop');
  let r = http.get(U + '/set?k=v', { redirects: 0 });
  eq([r.cookies.k[0].name, r.cookies.k[0].value, r.cookies.k[0].path], ['k', 'v', '/'], 'res.cookies');
  eq(http.cookieJar().cookiesForURL(U + '/').k, ['v'], 'cookiesForURL');
  eq(vuJar.cookiesForURL(U + '/').k, ['v'], 'a jar object from the init code');
  r = http.get(U + '/echo', { cookies: { extra: 'x', k: { value: 'w', replace: true } } });
  eq([r.json().extra, r.json().k], ['x', 'w'], 'params.cookies, replace');
  r = http.get(U + '/echo');
  eq([r.json().extra, r.json().k], [undefined, 'v'], 'params.cookies are for one request');
  const local = new http.CookieJar();
  local.set(U + '/', 'only', 'here');
  eq(http.get(U + '/echo', { jar: local }).json(), { only: 'here' }, 'a local jar instead of the VU jar');
  http.cookieJar().delete(U + '/', 'k');
  eq(http.get(U + '/echo').json().k, undefined, 'delete');
  http.cookieJar().set(U + '/', 'a', '1');
  http.cookieJar().clear(U + '/');
  eq(http.cookieJar().cookiesForURL(U + '/'), {}, 'clear');
  http.get(U + '/set?left=over');
}
`})
	env, _, _ := newEnv(t, dir, map[string]string{"URL": srv.URL})
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Iter: int64(i)}, ""); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}

	// noCookiesReset: the jar lives on into the next iteration.
	dir2 := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
export default function () {
  if (__ITER === 0) { http.get(__ENV.URL + '/set?kept=yes'); return; }
  const got = http.get(__ENV.URL + '/echo').json().kept;
  if (got !== 'yes') throw new Error('noCookiesReset: the second iteration got ' + got);
}
`})
	env2, _, _ := newEnv(t, dir2, map[string]string{"URL": srv.URL})
	env2.NoCookiesReset = true
	vu2, err := NewVU(t.Context(), env2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := vu2.Iterate(t.Context(), Iteration{Scenario: "s", Iter: int64(i)}, ""); err != nil {
			t.Fatalf("noCookiesReset, iteration %d: %v", i, err)
		}
	}
}

// TestEncodingAndCrypto checks k6/encoding and k6/crypto against their
// documented signatures (https://grafana.com/docs/k6/latest/javascript-api/k6-encoding/,
// https://grafana.com/docs/k6/latest/javascript-api/k6-crypto/), with
// digests worked out by Python's hashlib.
func TestEncodingAndCrypto(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
import encoding from 'k6/encoding';
import crypto from 'k6/crypto';
function eq(got, want, what) { if (got !== want) throw new Error(what + ': got ' + got + ', want ' + want); }
export default function () {
  eq(encoding.b64encode('hello world'), 'aGVsbG8gd29ybGQ=', 'b64encode');
  eq(encoding.b64encode(new Uint8Array([0xfb, 0xff]).buffer, 'url'), '-_8=', 'b64encode url, ArrayBuffer');
  eq(encoding.b64encode(new Uint8Array([0xfb, 0xff]).buffer, 'rawurl'), '-_8', 'b64encode rawurl');
  eq(encoding.b64decode('aGVsbG8gd29ybGQ=', 'std', 's'), 'hello world', 'b64decode to a string');
  eq(new Uint8Array(encoding.b64decode('aGVsbG8gd29ybGQ'.concat('='))).length, 11, 'b64decode to an ArrayBuffer');
  eq(crypto.sha256('hello world', 'hex'), 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9', 'sha256');
  eq(crypto.md5('hello world', 'hex'), '5eb63bbbe01eeed093cb22bb8f5acdc3', 'md5');
  eq(crypto.sha1('hello world', 'base64'), 'Kq5sNclPz7QV2+lfQIuc6R7oRu0=', 'sha1 base64');
  eq(crypto.hmac('sha256', 'a secret', 'my data', 'hex'), '82f669c8fde13aef6d6977257588dc4953dfac505428f8fd6b52e19cd96d7ea5', 'hmac');
  const h = crypto.createHash('sha512'); h.update('hello '); h.update('world');
  eq(h.digest('hex').slice(0, 16), '309ecc489c12d6eb', 'createHash in parts');
  const m = crypto.createHMAC('sha256', 'a secret'); m.update('my data');
  eq(m.digest('hex'), '82f669c8fde13aef6d6977257588dc4953dfac505428f8fd6b52e19cd96d7ea5', 'createHMAC');
  eq(crypto.randomBytes(16).byteLength, 16, 'randomBytes');
  let msg = '';
  try { crypto.createHash('md4'); } catch (e) { msg = String(e); }
  if (!msg.includes('want one of')) throw new Error('an unknown algorithm: ' + msg);
}
`})
	iterate(t, dir, nil)
}

// TestErrorCodes follows k6's error code table
// (https://grafana.com/docs/k6/latest/javascript-api/error-codes/).
func TestErrorCodes(t *testing.T) {
	dial := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	read := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "read", Net: "tcp", Err: err}}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), 1212},
		{"dial timeout", dial(os.ErrDeadlineExceeded), 1211},
		{"dial, another errno", dial(os.NewSyscallError("connect", syscall.ENETUNREACH)), 1213},
		{"dial, no errno", dial(errors.New("no route")), 1210},
		{"no such host", dial(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}), 1101},
		{"DNS failure", &net.DNSError{Err: "server misbehaving", Name: "x"}, 1100},
		{"request timeout", fmt.Errorf("read: %w", context.DeadlineExceeded), 1050},
		{"reset by peer", read(os.NewSyscallError("read", syscall.ECONNRESET)), 1220},
		{"broken pipe", read(os.NewSyscallError("write", syscall.EPIPE)), 1201},
		{"another read errno", read(os.NewSyscallError("read", syscall.EIO)), 1202},
		{"unknown CA", &url.Error{Op: "Get", URL: "https://x/", Err: x509.UnknownAuthorityError{}}, 1310},
		{"wrong host", &url.Error{Op: "Get", URL: "https://x/", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}}, 1311},
		{"another TLS error", errors.New("tls: handshake failure"), 1300},
		{"unsupported scheme", &url.Error{Op: "Get", URL: "ftp://x/", Err: errors.New("unsupported protocol scheme \"ftp\"")}, 1020},
		{"HTTP/2", errors.New("http2: server sent GOAWAY"), 1600},
		{"anything else", errors.New("boom"), 1000},
	}
	for _, tt := range tests {
		if got := errorCode(tt.err); got != tt.want {
			t.Errorf("%s: errorCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
	for status, want := range map[int]int{200: 0, 302: 0, 404: 1404, 429: 1429, 503: 1503} {
		if got := statusErrorCode(status); got != want {
			t.Errorf("status %d: error code %d, want %d", status, got, want)
		}
	}
}

func TestInterrupt(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
import { sleep } from 'k6';
export default function () { sleep(60); }
export function spin() { for (;;) {} }
`})
	env, _, _ := newEnv(t, dir, nil)
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, exec := range []string{"default", "spin"} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		start := time.Now()
		err := vu.Iterate(ctx, Iteration{Scenario: "s", Exec: exec}, "")
		cancel()
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("%s: got %v, want ErrInterrupted", exec, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v to stop", exec, d)
		}
	}
	// The runtime is usable after an interruption.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := vu.Iterate(ctx, Iteration{Scenario: "s"}, ""); !errors.Is(err, ErrInterrupted) {
		t.Errorf("after: got %v", err)
	}
}
