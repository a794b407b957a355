package web

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt/index"
)

func TestConfig(t *testing.T) {
	runs := t.TempDir()
	file := filepath.Join(runs, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"runs only", Config{Runs: runs}, ""},
		{"everything", Config{Runs: runs, Addr: "127.0.0.1:0", JaegerUI: "http://127.0.0.1:16686"}, ""},
		{"no runs", Config{}, "no runs folder"},
		{"missing runs", Config{Runs: filepath.Join(runs, "nope")}, "no such file"},
		{"runs is a file", Config{Runs: file}, "not a directory"},
		{"bad addr", Config{Runs: runs, Addr: "8080"}, "addr"},
		{"bad jaeger ui", Config{Runs: runs, JaegerUI: "javascript:alert(1)"}, "jaeger-ui"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate: got %v, want %q", err, tt.want)
			}
		})
	}

	var cfg Config
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if cfg.Addr != DefaultAddr {
		t.Errorf("default addr: got %q, want %q", cfg.Addr, DefaultAddr)
	}
	if err := fs.Parse([]string{"--runs", runs, "--addr", "127.0.0.1:9", "--jaeger-ui", "http://j:16686", "--allowed-hosts", "a.lab,b.lab"}); err != nil {
		t.Fatal(err)
	}
	if want := (Config{Runs: runs, Addr: "127.0.0.1:9", JaegerUI: "http://j:16686", AllowedHosts: []string{"a.lab", "b.lab"}}); !reflect.DeepEqual(cfg, want) {
		t.Errorf("flags: got %+v, want %+v", cfg, want)
	}
	if got := (Config{}).addr(); got != DefaultAddr {
		t.Errorf("zero Config's addr: got %q, want %q", got, DefaultAddr)
	}
}

// TestServe starts the server on a free loopback port, fetches a page, and
// stops it with the context: Serve returns nil and leaves no goroutine
// serving.
func TestServe(t *testing.T) {
	runs := t.TempDir()
	writeRun(t, runs, listSpecs[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{Runs: runs, Addr: "127.0.0.1:0"}, &log, func(addr string) { addrs <- addr })
	}()

	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("addr: got %q, want 127.0.0.1:PORT", addr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok: 1 runs indexed\n" {
		t.Errorf("healthz: got %d %q, want 200 ok", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: got %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context was canceled")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("the server still answers after Serve returned")
	}
	if !strings.Contains(log.String(), "llmbench web listening") {
		t.Errorf("log: got %q, want the listening line", log.String())
	}
	if _, err := os.Stat(filepath.Join(runs, index.DBFile)); err != nil {
		t.Errorf("index database: %v", err)
	}
}

func TestServeBadConfig(t *testing.T) {
	err := Serve(context.Background(), Config{}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "no runs folder") {
		t.Errorf("got %v, want the config error", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
