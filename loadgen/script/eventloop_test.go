package script

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEventLoop follows k6's timers and asynchronous functions:
//   - https://grafana.com/docs/k6/latest/javascript-api/k6-timers/ (setTimeout,
//     setInterval, their clear functions, globals and k6/timers; "clear the
//     timeout and interval to exit": an iteration lasts until its timers are
//     done);
//   - https://grafana.com/docs/k6/latest/using-k6/javascript-typescript-compatibility-mode/
//     and .../k6-http/asyncrequest/ (async default functions that await
//     promises settled later).
//
// Each script records what ran in `log`; the exported verify() throws
// unless the log is as k6 would leave it, and runs in a second call, after
// the iteration ended.
func TestEventLoop(t *testing.T) {
	tests := []struct {
		name, body, want string
		wantErr          string // a substring of the iteration's error; "" for none
	}{
		{
			name: "setTimeout runs after the synchronous code, with its arguments, before the iteration ends",
			body: `setTimeout((a, b) => log.push('timer ' + a + b), 10, 1, 2); log.push('sync');`,
			want: "sync,timer 12",
		},
		{
			name: "promise jobs run before timers",
			body: `setTimeout(() => log.push('timer'), 0); Promise.resolve().then(() => log.push('micro')); log.push('sync');`,
			want: "sync,micro,timer",
		},
		{
			name: "clearTimeout: the callback never runs and the iteration does not wait for it",
			body: `const id = setTimeout(() => log.push('fired'), 50); clearTimeout(id); log.push('cleared');`,
			want: "cleared",
		},
		{
			name: "setInterval repeats until clearInterval",
			body: `let n = 0; const id = setInterval(() => { log.push('tick' + (++n)); if (n === 3) clearInterval(id); }, 5);`,
			want: "tick1,tick2,tick3",
		},
		{
			name: "k6/timers exports the same functions",
			body: `timers.setTimeout(() => log.push('k6/timers'), 1); const id = timers.setInterval(() => {}, 1); timers.clearInterval(id);`,
			want: "k6/timers",
		},
		{
			name: "an async default function awaits a promise that a timer settles",
			body: `return (async () => { await new Promise((r) => setTimeout(r, 20)); log.push('after await'); })();`,
			want: "after await",
		},
		{
			name: "nested timers: one set by another's callback still runs",
			body: `setTimeout(() => { log.push('outer'); setTimeout(() => log.push('inner'), 5); }, 5);`,
			want: "outer,inner",
		},
		{
			name:    "an exception in a timer ends the iteration with it",
			body:    `setTimeout(() => { throw new Error('timer boom'); }, 1); setTimeout(() => log.push('later'), 200);`,
			wantErr: "timer boom",
		},
		{
			name:    "a promise rejected with no handler is an uncaught error",
			body:    `Promise.reject(new Error('nobody caught me'));`,
			wantErr: "uncaught (in promise)",
		},
		{
			name: "a rejection handled in the same job is no error",
			body: `const p = Promise.reject(new Error('x')); p.catch(() => log.push('caught'));`,
			want: "caught",
		},
		{
			name:    "an async function's rejection reaches the iteration",
			body:    `return (async () => { await new Promise((r) => setTimeout(r, 1)); throw new Error('async boom'); })();`,
			wantErr: "async boom",
		},
		{
			name:    "a promise that nothing will settle is named",
			body:    `return new Promise(() => {});`,
			wantErr: "never settled",
		},
		{
			name:    "setTimeout wants a function",
			body:    `setTimeout('log.push(1)', 1);`,
			wantErr: "must be a function",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeScripts(t, map[string]string{"main.js": `
import * as timers from 'k6/timers';
const log = [];
export default function () {
  log.length = 0;
` + tt.body + `
}
export function verify() {
  if (log.join(',') !== __ENV.WANT) throw new Error('log: got [' + log.join(',') + '], want [' + __ENV.WANT + ']');
}
`})
			env, _, _ := newEnv(t, dir, map[string]string{"WANT": tt.want})
			vu, err := NewVU(t.Context(), env, 1)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // only a hang reaches it
			defer cancel()
			err = vu.Iterate(ctx, Iteration{Scenario: "s"}, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				var se *ScriptError
				if !errors.As(err, &se) {
					t.Errorf("got %T, want a *ScriptError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := vu.Iterate(ctx, Iteration{Scenario: "s", Exec: "verify"}, ""); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEventLoopInterrupted: an iteration that never clears its interval
// lasts until its context ends (k6 stops it at the scenario's end or
// gracefulStop), and nothing of it runs in the next iteration.
func TestEventLoopInterrupted(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
export default function () { setInterval(() => { globalThis.ticks = (globalThis.ticks || 0) + 1; }, 1); }
export async function check() {
  globalThis.ticks = 0;
  await new Promise((r) => setTimeout(r, 30));
  if (globalThis.ticks !== 0) throw new Error('the interrupted interval ran on: ' + globalThis.ticks + ' ticks');
}
`})
	env, _, _ := newEnv(t, dir, nil)
	vu, err := NewVU(t.Context(), env, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err = vu.Iterate(ctx, Iteration{Scenario: "s"}, "")
	cancel()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Exec: "check"}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestAsyncRequest follows
// https://grafana.com/docs/k6/latest/javascript-api/k6-http/asyncrequest/:
// http.asyncRequest(method, url, body, params) returns a promise of the
// Response; several run at once (Promise.all, Promise.race); a failed
// request resolves with its error, as http.request returns; samples carry
// the tags of where the request was made.
func TestAsyncRequest(t *testing.T) {
	// /barrier answers only once three requests wait in it: run one after
	// another, they would time out instead.
	var mu sync.Mutex
	waiting, release := 0, make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/barrier" {
			mu.Lock()
			waiting++
			if waiting == 3 {
				close(release)
			}
			mu.Unlock()
			select {
			case <-release:
			case <-time.After(20 * time.Second):
				http.Error(w, "the three requests did not overlap", http.StatusGatewayTimeout)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method": %q, "path": %q}`, r.Method, r.URL.Path)
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
import { group } from 'k6';
export default async function () {
  const post = await http.asyncRequest('POST', __ENV.URL + '/p', JSON.stringify({a: 1}), { headers: { 'Content-Type': 'application/json' } });
  if (post.status !== 200 || post.json().method !== 'POST') throw new Error('post: ' + post.status + ' ' + post.body);
  const all = await Promise.all([1, 2, 3].map(() => http.asyncRequest('GET', __ENV.URL + '/barrier', null, { tags: { name: 'barrier' } })));
  for (const r of all) if (r.status !== 200) throw new Error('barrier: ' + r.status + ' ' + r.body);
  let p;
  group('g', () => { p = http.asyncRequest('GET', __ENV.URL + '/in-group'); });
  if ((await p).status !== 200) throw new Error('in group');
  const dead = await http.asyncRequest('GET', 'http://127.0.0.1:1/', null, { timeout: '2s' });
  if (dead.status !== 0 || dead.error_code !== 1212) throw new Error('dead: ' + dead.error + ' ' + dead.error_code);
}
`})
	_, rec := iterate(t, dir, map[string]string{"URL": srv.URL})
	reqs := rec.of("http_reqs")
	if len(reqs) != 6 {
		t.Fatalf("http_reqs: got %d samples, want 6", len(reqs))
	}
	byName := map[string]int{}
	for _, s := range reqs {
		byName[s.tags["name"]]++
		if strings.HasSuffix(s.tags["url"], "/in-group") && s.tags["group"] != "::g" {
			t.Errorf("the request made in group g has group tag %q, want ::g", s.tags["group"])
		}
		if s.tags["scenario"] != "s" {
			t.Errorf("%s: scenario tag %q", s.tags["url"], s.tags["scenario"])
		}
	}
	if byName["barrier"] != 3 {
		t.Errorf("requests named barrier: got %d, want 3 (%v)", byName["barrier"], byName)
	}
}

// TestAsyncInSetup: setup() and teardown() may be async too, and setup's
// data is what its promise resolved to
// (https://grafana.com/docs/k6/latest/using-k6/test-lifecycle/).
func TestAsyncInSetup(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
export async function setup() { await wait(5); return { token: 'abc' }; }
export default function (data) { if (data.token !== 'abc') throw new Error('data: ' + JSON.stringify(data)); }
export async function teardown(data) { await wait(5); if (data.token !== 'abc') throw new Error('teardown data'); }
`})
	env, _, _ := newEnv(t, dir, nil)
	vu, err := NewVU(t.Context(), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := vu.Setup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if data != `{"token":"abc"}` {
		t.Fatalf("setup data: got %s", data)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s"}, data); err != nil {
		t.Fatal(err)
	}
	if err := vu.Teardown(t.Context(), data); err != nil {
		t.Fatal(err)
	}
}

// TestMinIterationDuration follows options.minIterationDuration
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/#minimum-iteration-duration):
// an iteration that ends sooner waits out the rest. With an hour to wait,
// the iteration is still waiting when its context ends; with none, the
// same script returns at once.
func TestMinIterationDuration(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": "export default function () {}\n"})
	for _, tt := range []struct {
		min  time.Duration
		want error
	}{{time.Hour, ErrInterrupted}, {0, nil}} {
		env, _, _ := newEnv(t, dir, nil)
		env.MinIterationDuration = tt.min
		vu, err := NewVU(t.Context(), env, 1)
		if err != nil {
			t.Fatal(err)
		}
		limit := time.Minute // only a hang reaches it
		if tt.min > 0 {
			limit = 50 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(t.Context(), limit)
		err = vu.Iterate(ctx, Iteration{Scenario: "s"}, "")
		cancel()
		if !errors.Is(err, tt.want) {
			t.Errorf("minIterationDuration %v: got %v, want %v", tt.min, err, tt.want)
		}
	}
}
