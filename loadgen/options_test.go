package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPOptions follows k6's options for requests
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/):
// discardResponseBodies, userAgent, throw, batch, hosts,
// insecureSkipTLSVerify and noConnectionReuse. Each script throws when
// llmbench does not behave as the reference says.
func TestHTTPOptions(t *testing.T) {
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	remotes := map[string]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr] = true
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		if r.URL.Path == "/slow" {
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprintf(w, "ua=%q host=%s", r.Header.Get("User-Agent"), r.Host)
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	tests := []struct {
		name, options, body string
		after               func(t *testing.T)
	}{
		{"discardResponseBodies", `{ discardResponseBodies: true }`, `
  if (http.get(URL).body !== null) throw new Error('body kept');
  if (!http.get(URL, { responseType: 'text' }).body.startsWith('ua=')) throw new Error('responseType text lost its body');`, nil},
		{"userAgent", `{ userAgent: 'my-agent/1.0' }`, `
  const b = http.get(URL).body;
  if (!b.includes('ua="my-agent/1.0"')) throw new Error(b);`, nil},
		{"empty userAgent sends none", `{ userAgent: '' }`, `
  const b = http.get(URL).body;
  if (!b.includes('ua=""')) throw new Error(b);`, nil},
		{"throw", `{ throw: true }`, `
  let threw = false;
  try { http.get('http://127.0.0.1:1/', { timeout: '2s' }); } catch (e) { threw = String(e).includes('1212'); }
  if (!threw) throw new Error('a refused request did not throw with its error code');
  if (http.get(URL + '/missing-is-still-a-response').status !== 200) throw new Error('status');`, nil},
		{"hosts", `{ hosts: { 'llmbench.test': '127.0.0.1:` + port + `' } }`, `
  const r = http.get('http://llmbench.test/');
  if (r.status !== 200 || !r.body.includes('host=llmbench.test')) throw new Error(r.status + ' ' + r.error + ' ' + r.body);`, nil},
		{"insecureSkipTLSVerify", `{ insecureSkipTLSVerify: true }`, `
  const r = http.get(__ENV.TLS_URL);
  if (r.status !== 200 || r.tls_version !== 'tls1.3') throw new Error('TLS: ' + r.status + ' ' + r.error + ' ' + r.tls_version);`, nil},
		{"batch", `{ batch: 2 }`, `
  const rs = http.batch([1, 2, 3, 4, 5, 6].map(() => ['GET', URL + '/slow']));
  if (rs.some((r) => r.status !== 200)) throw new Error('batch');`, func(t *testing.T) {
			if maxInFlight > 2 {
				t.Errorf("the server saw %d requests at once, want at most options.batch = 2", maxInFlight)
			}
		}},
		{"noConnectionReuse", `{ noConnectionReuse: true }`, `
  for (let i = 0; i < 3; i++) http.get(URL);`, func(t *testing.T) {
			if len(remotes) != 3 {
				t.Errorf("3 requests came over %d connections, want 3", len(remotes))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			maxInFlight, remotes = 0, map[string]bool{}
			mu.Unlock()
			script := writeScript(t, `
import http from 'k6/http';
const URL = __ENV.URL;
export const options = Object.assign({ iterations: 1 }, `+tt.options+`);
export default function () {`+tt.body+`
}
`)
			res, _, stderr, err := runScript(t, t.Context(), script, map[string]string{"URL": srv.URL, "TLS_URL": tlsSrv.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Exit != ExitOK || res.Summary.Metrics["iteration_errors"].Values["count"] > 0 {
				t.Fatalf("exit %d:\n%s", res.Exit, stderr)
			}
			if tt.after != nil {
				tt.after(t)
			}
		})
	}
}

// TestWarnOptions: an option that changes nothing gets one line naming it
// (a k6 option llmbench does not implement, or an unknown name); the ones
// llmbench reads get none.
func TestWarnOptions(t *testing.T) {
	tests := []struct {
		opts string
		want []string
	}{
		{`{"vus": 2, "duration": "1m", "thresholds": {}, "slo": {"ttft": 500}, "hosts": {}}`, nil},
		{`{"rps": 10}`, []string{"WARN options.rps: a k6 option llmbench does not implement"}},
		{`{"thresholsd": {}, "vus": 1}`, []string{"WARN options.thresholsd: not an option llmbench knows (a typo?)"}},
	}
	for _, tt := range tests {
		var b strings.Builder
		warnOptions(&b, []byte(tt.opts))
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if b.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(tt.want) {
			t.Errorf("%s: got %q, want %d lines", tt.opts, b.String(), len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("%s: line %q, want it to start %q", tt.opts, lines[i], w)
			}
		}
	}
}

// TestDurationOptions: setupTimeout, teardownTimeout and
// minIterationDuration read as k6 reads durations (a string with units,
// days included, or a number of milliseconds), and a bad or negative one is
// refused by name, not replaced by the default.
func TestDurationOptions(t *testing.T) {
	for _, tc := range []struct {
		opts                     string
		setup, teardown, minIter time.Duration
		err                      string
	}{
		{`{}`, 60 * time.Second, 60 * time.Second, 0, ""},
		{`{"setupTimeout": "2m", "teardownTimeout": 1500, "minIterationDuration": "1d"}`, 2 * time.Minute, 1500 * time.Millisecond, 24 * time.Hour, ""},
		{`{"minIterationDuration": "250"}`, 60 * time.Second, 60 * time.Second, 250 * time.Millisecond, ""},
		{`{"setupTimeout": "soon"}`, 0, 0, 0, `setupTimeout "soon"`},
		{`{"teardownTimeout": -5}`, 0, 0, 0, "teardownTimeout -5: negative"},
		{`{"minIterationDuration": true}`, 0, 0, 0, "minIterationDuration true"},
	} {
		var o scriptOptions
		if err := json.Unmarshal([]byte(tc.opts), &o); err != nil {
			t.Fatal(err)
		}
		err := o.durations()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error containing %q", tc.opts, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.opts, err)
		case o.setupTimeout() != tc.setup || o.teardownTimeout() != tc.teardown || o.minIteration != tc.minIter:
			t.Errorf("%s: setup %v, teardown %v, min iteration %v", tc.opts, o.setupTimeout(), o.teardownTimeout(), o.minIteration)
		}
	}
}
