package faults

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver"
)

// TestHeldConnections is what an attacker or a leaky client does to
// refserver's connections (issue 17, item 2):
//   - a body that trickles in is cut off with 408 once the body timeout
//     passes;
//   - an idle keep-alive connection is closed after the idle timeout;
//   - connections over the cap get 503 at once, and /health still answers
//     once one of them goes.
func TestHeldConnections(t *testing.T) {
	base := startRefserver(t, func(c *refserver.ServeConfig) {
		c.HTTP.BodyTimeout = 300 * time.Millisecond
		c.HTTP.IdleTimeout = 300 * time.Millisecond
		c.HTTP.MaxConns = 4
	})
	addr := strings.TrimPrefix(base, "http://")
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("slow body", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "POST /generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\": ", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a trickling body: %v, want a 408", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// Then nothing: the server must close the connection.
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("an idle keep-alive connection: read %v, want EOF (closed by the server)", err)
		}
	})

	t.Run("over the cap", func(t *testing.T) {
		var held []net.Conn
		for range 4 {
			held = append(held, dial(t))
		}
		time.Sleep(100 * time.Millisecond) // accepted
		c := dial(t)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("over the cap: %v, want a 503 at once", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("over the cap: %d, want 503", resp.StatusCode)
		}
		held[0].Close()
		for deadline := time.Now().Add(10 * time.Second); ; {
			r, err := http.Get(base + "/health")
			if err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("/health after a held connection closed: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
