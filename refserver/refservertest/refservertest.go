// Package refservertest runs refserver in-process for the tests of other
// packages: the load generator's, the analyzer's, the scenarios', the
// fault suite's and the deploy tests'.
package refservertest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

// Start serves cfg until the test ends and returns its base URL
// (http://host:port). Zero fields get test defaults: the shared tiny
// fixture as the model (unless cfg.Model.Size asks for a synthetic one),
// 127.0.0.1:0 as the address, a 20 s drain. The server must drain cleanly
// when the test ends; its log is quoted when it fails to start.
func Start(t testing.TB, cfg refserver.ServeConfig) string {
	t.Helper()
	if cfg.Model.Dir == "" && cfg.Model.Size == "" {
		cfg.Model.Dir = gpt2test.Dir(t)
	}
	if cfg.HTTP.Addr == "" {
		cfg.HTTP.Addr = "127.0.0.1:0"
	}
	if cfg.HTTP.DrainTimeout == 0 {
		cfg.HTTP.DrainTimeout = 20 * time.Second // generous: a loaded CI machine with -race is slow to finish the last steps
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := &lockedBuffer{}
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- refserver.Serve(ctx, cfg, log, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("refserver: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("refserver: %v\n%s", err, log)
	case <-time.After(60 * time.Second):
		t.Fatal("refserver did not listen within 60 s")
	}
	return ""
}

// lockedBuffer is the server's log, written from its goroutines.
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
