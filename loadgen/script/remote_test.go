package script

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRemoteImports follows k6's remote modules
// (https://grafana.com/docs/k6/latest/using-k6/modules/#remote-modules): a
// script imports a module by its https URL, and that module imports
// another by a path relative to itself. The modules come from a local
// HTTPS server; llmbench fetches each once, then reads it from its cache,
// also offline, and says clearly when it can do neither.
func TestRemoteImports(t *testing.T) {
	var mu sync.Mutex
	fetched := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/lib/1.0/index.js":
			fmt.Fprint(w, "import { helper } from './helper.js';\nimport { sleep } from 'k6';\nexport function greet(n) { sleep(0); return helper(n); }\n")
		case "/lib/1.0/helper.js":
			fmt.Fprint(w, "export function helper(n) { return 'hi ' + n; }\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	count := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return fetched[p]
	}
	dir := writeScripts(t, map[string]string{
		"main.js": fmt.Sprintf(`
import { greet } from '%s/lib/1.0/index.js';
export default function () { if (greet('you') !== 'hi you') throw new Error('greet: ' + greet('you')); }
`, srv.URL),
		"missing.js": fmt.Sprintf("import { x } from '%s/lib/1.0/nope.js';\nexport default function () { x(); }\n", srv.URL),
		"plain.js":   "import { x } from 'http://example.invalid/x.js';\nexport default function () { x(); }\n",
	})
	cache := t.TempDir()
	run := func(t *testing.T, im Imports) error {
		t.Helper()
		p, err := LoadWith(filepath.Join(dir, "main.js"), im)
		if err != nil {
			return err
		}
		env := &Env{Program: p, Recorder: newFakeRecorder()}
		vu, err := NewVU(t.Context(), env, 1)
		if err != nil {
			return err
		}
		return vu.Iterate(t.Context(), Iteration{Scenario: "s"}, "")
	}
	var log strings.Builder
	if err := run(t, Imports{Cache: cache, Client: srv.Client(), Log: &log}); err != nil {
		t.Fatal(err)
	}
	if count("/lib/1.0/index.js") != 1 || count("/lib/1.0/helper.js") != 1 {
		t.Fatalf("fetches: %v, want each module once", fetched)
	}
	if !strings.Contains(log.String(), "fetched "+srv.URL+"/lib/1.0/index.js") {
		t.Errorf("no line says what was fetched:\n%s", log.String())
	}
	// Cached: no fetch, also offline.
	if err := run(t, Imports{Cache: cache, Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	if err := run(t, Imports{Cache: cache, Offline: true}); err != nil {
		t.Fatalf("offline with a cached copy: %v", err)
	}
	if n := count("/lib/1.0/index.js"); n != 1 {
		t.Errorf("the cached module was fetched again (%d fetches)", n)
	}
	// Reload fetches again.
	if err := run(t, Imports{Cache: cache, Client: srv.Client(), Reload: true}); err != nil {
		t.Fatal(err)
	}
	if n := count("/lib/1.0/index.js"); n != 2 {
		t.Errorf("reload: %d fetches, want 2", n)
	}

	errCases := []struct {
		name, script string
		im           Imports
		want         []string
	}{
		{"offline, nothing cached", "main.js", Imports{Cache: t.TempDir(), Offline: true}, []string{srv.URL + "/lib/1.0/index.js", "offline", "module cache"}},
		{"the server does not trust-check", "main.js", Imports{Cache: t.TempDir()}, []string{srv.URL + "/lib/1.0/index.js", "certificate", "module cache"}},
		{"not found", "missing.js", Imports{Cache: t.TempDir(), Client: srv.Client()}, []string{"nope.js", "404"}},
		{"plain http to another host", "plain.js", Imports{Cache: t.TempDir()}, []string{"example.invalid", "https"}},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadWith(filepath.Join(dir, tt.script), tt.im)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Errorf("got %T, want a *ScriptError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// failingTransport answers every request with an error, as a machine
// without network does.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("dial tcp: lookup jslib.k6.io: no such host")
}

// TestBuiltinJslib: with no network, jslib's k6-utils answers from
// llmbench's built-in equivalent, which behaves as its documentation says
// (https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/).
func TestBuiltinJslib(t *testing.T) {
	dir := writeScripts(t, map[string]string{"main.js": `
import { randomIntBetween, randomItem, randomString, uuidv4, findBetween, normalDistributionStages, check } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
export default async function () {
  const fail = (what, got) => { throw new Error(what + ': ' + JSON.stringify(got)); };
  for (let i = 0; i < 200; i++) {
    const n = randomIntBetween(3, 5);
    if (n < 3 || n > 5 || n !== Math.floor(n)) fail('randomIntBetween(3, 5)', n);
    if (!['a', 'b'].includes(randomItem(['a', 'b']))) fail('randomItem', 'x');
  }
  const s = randomString(12, 'xyz');
  if (s.length !== 12 || /[^xyz]/.test(s)) fail('randomString(12, "xyz")', s);
  if (!/^[a-z]{8}$/.test(randomString(8))) fail('randomString(8)', randomString(8));
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  if (!re.test(uuidv4()) || !re.test(uuidv4(true)) || uuidv4() === uuidv4()) fail('uuidv4', uuidv4());
  // The example of https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/findbetween/
  const body = '<div class="message">Message 1</div><div class="message">Message 2</div>';
  if (findBetween(body, '<div class="message">', '</div>') !== 'Message 1') fail('findBetween', findBetween(body, '<div class="message">', '</div>'));
  const all = findBetween(body, '<div class="message">', '</div>', true);
  if (all.length !== 2 || all[1] !== 'Message 2') fail('findBetween repeat', all);
  if (findBetween(body, '<p>', '</p>') !== '' || findBetween(body, '<p>', '</p>', true).length !== 0) fail('findBetween, no match', '');
  // normalDistributionStages(10, 20, 5): 5 stages over 20 s peaking at 10.
  const st = normalDistributionStages(10, 20, 5);
  const secs = st.reduce((a, x) => a + parseInt(x.duration, 10), 0);
  if (st.length !== 5 || secs !== 20 || Math.max(...st.map((x) => x.target)) !== 10 || !/^\d+s$/.test(st[0].duration)) fail('normalDistributionStages(10, 20, 5)', st);
  if (normalDistributionStages(50, 600).length !== 10) fail('normalDistributionStages default', normalDistributionStages(50, 600).length);
  // check with a promise for its value.
  if (!(await check(Promise.resolve(3), { 'is 3': (v) => v === 3, 'async predicate': async (v) => v > 1 }))) fail('check', 'false');
}
`})
	for _, im := range []Imports{
		{Cache: t.TempDir(), Offline: true},
		{Cache: t.TempDir(), Client: &http.Client{Transport: failingTransport{}}},
	} {
		var log strings.Builder
		im.Log = &log
		p, err := LoadWith(filepath.Join(dir, "main.js"), im)
		if err != nil {
			t.Fatal(err)
		}
		env, rec, _ := newEnv(t, dir, nil)
		env.Program = p
		vu, err := NewVU(t.Context(), env, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := vu.Iterate(t.Context(), Iteration{Scenario: "s"}, ""); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "built-in k6-utils") {
			t.Errorf("no line says the built-in k6-utils answered:\n%s", log.String())
		}
		if n := len(rec.of("checks")); n != 2 {
			t.Errorf("check() recorded %d checks, want 2", n)
		}
		entries, _ := os.ReadDir(im.Cache)
		if len(entries) != 0 {
			t.Errorf("the built-in was written to the cache: %v", entries)
		}
	}
}
