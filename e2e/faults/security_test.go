package faults

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/loadgen/sse"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
	"github.com/llmbench/llmbench/web"
)

// TestSecurityDefaults checks the security promises of issue 7, one
// subtest each: what listens binds to loopback unless told otherwise (the
// load generator's metrics listen only when asked), reports escape the
// text that comes from a run, web paths cannot leave the runs folder, and
// request bodies and SSE lines have size limits.
func TestSecurityDefaults(t *testing.T) {
	t.Run("refserver binds to loopback by default", func(t *testing.T) {
		var cfg refserver.ServeConfig
		fs := flag.NewFlagSet("refserver", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		checkLoopback(t, "refserver --addr", fs.Lookup("addr").DefValue)
	})
	t.Run("web binds to loopback by default", func(t *testing.T) {
		checkLoopback(t, "web.DefaultAddr", web.DefaultAddr)
		var cfg web.Config
		fs := flag.NewFlagSet("web", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		checkLoopback(t, "llmbench web --addr", fs.Lookup("addr").DefValue)
	})
	t.Run("loadgen metrics are off by default", func(t *testing.T) {
		// --metrics-addr has no default: the load generator listens on
		// nothing unless given an address, and then binds just that one.
		var cfg loadgen.Config
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if f := fs.Lookup("metrics-addr"); f == nil || f.DefValue != "" || cfg.Metrics != "" {
			t.Errorf("--metrics-addr: got %+v (config %q), want a flag with no default", f, cfg.Metrics)
		}
	})

	t.Run("reports escape run-derived text", func(t *testing.T) {
		const payload = `</script><script>alert(1)</script>`
		srv := httptest.NewServer(&fakeLLM{status: http.StatusInternalServerError, message: "boom " + payload})
		defer srv.Close()
		script := writeScript(t, `
import llm from 'k6/x/llm';
export const options = { iterations: 2 };
const c = new llm.Client({ baseURL: __ENV.TARGET });
export default function () { c.generate({ prompt: 'x', max_tokens: 2 }, { tags: { note: '<img src=x onerror=alert(2)>' } }); }
`)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		res, stderr := runLoad(t, ctx, script, map[string]string{"TARGET": srv.URL}, nil)
		reqs := readRequests(t, res.Dir)
		if len(reqs) != 2 || !strings.Contains(reqs[0].Error, payload) {
			t.Fatalf("the run recorded %d requests, want 2 whose error carries the payload\n%s", len(reqs), stderr)
		}
		run, err := runfmt.ReadRun(res.Dir)
		if err != nil {
			t.Fatal(err)
		}
		run.Scenario = "<script>alert(3)</script>"
		if err := runfmt.WriteRun(res.Dir, run); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := reportgen.Render(t.Context(), &buf, res.Dir, reportgen.Options{}); err != nil {
			t.Fatalf("render: %v", err)
		}
		page := buf.String()
		for _, raw := range []string{payload, "<script>alert(3)</script>", "<img src=x"} {
			if strings.Contains(page, raw) {
				t.Errorf("the report holds %q unescaped", raw)
			}
		}
		for _, escaped := range []string{
			"&lt;script&gt;alert(3)&lt;/script&gt;",      // the scenario
			"boom &lt;/script&gt;&lt;script&gt;alert(1)", // the error
			"&lt;img src=x onerror=alert(2)&gt;",         // the tag
		} {
			if !strings.Contains(page, escaped) {
				t.Errorf("the report does not show %q: the text was dropped, not escaped", escaped)
			}
		}
	})

	t.Run("web paths cannot escape the runs folder", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		parent := t.TempDir()
		runs := filepath.Join(parent, "runs")
		writeRunFolder(t, runs, "20261128-080000-ok", 1)
		outside := writeRunFolder(t, parent, "outside", 1)
		writeFile(t, filepath.Join(outside, runfmt.ReportFile), "SECRET report outside the runs folder")
		writeFile(t, filepath.Join(parent, "secret.txt"), "SECRET file")
		if err := os.Symlink(outside, filepath.Join(runs, "link")); err != nil {
			t.Fatal(err)
		}
		ix, err := index.Open(ctx, runs)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		h := web.Handler(ix, web.Config{Runs: runs}, nil)
		for _, path := range []string{
			"/runs/../outside", "/runs/..", "/runs/..%2Foutside", "/runs/%2e%2e%2fsecret.txt",
			"/runs/../secret.txt", "/runs/link", "/runs/%2Ftmp",
		} {
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1"+path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusNotFound || bytes.Contains(body, []byte("SECRET")) {
				t.Errorf("GET %s: got %d (%.100q), want 404 and nothing from outside", path, rec.Code, body)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/runs/20261128-080000-ok", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET the run inside: got %d, want 200", rec.Code)
		}
	})

	t.Run("refserver limits request bodies", func(t *testing.T) {
		base := startRefserver(t, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		body := `{"prompt": "` + strings.Repeat("a", 1<<20) + `", "max_tokens": 1}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/generate", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(msg, []byte(`"error"`)) {
			t.Errorf("POST /generate with %d bytes: got %s %.200q, want 413 with a JSON error", len(body), resp.Status, msg)
		}
	})

	t.Run("SSE lines have a size limit", func(t *testing.T) {
		// The llm client reads with sse.DefaultMaxSize; TestHostileSSE
		// sends it a 10 MB line. Here the parser's own bound.
		r := sse.NewReaderSize(strings.NewReader("data: "+strings.Repeat("x", 2000)+"\n\n"), 1024)
		if _, err := r.Next(); !errors.Is(err, sse.ErrTooLong) {
			t.Errorf("a 2006-byte line with a 1024-byte limit: got %v, want sse.ErrTooLong", err)
		}
		if sse.DefaultMaxSize <= 0 || sse.DefaultMaxSize > 16<<20 {
			t.Errorf("sse.DefaultMaxSize is %d, want a bound of at most 16 MiB", sse.DefaultMaxSize)
		}
	})
}

// checkLoopback fails the test unless addr is host:port with a loopback
// host.
func checkLoopback(t *testing.T, what, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q: %v", what, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("%s defaults to %q, want a loopback address", what, addr)
	}
}
