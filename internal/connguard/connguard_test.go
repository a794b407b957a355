package connguard

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestOverTheCapGets503AtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := New(ln, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(g)
	defer srv.Close()
	addr := ln.Addr().String()

	// Two silent connections hold the cap.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	for deadline := time.Now().Add(5 * time.Second); g.Open() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want 2", g.Open())
		}
		time.Sleep(time.Millisecond)
	}
	// The third gets a 503, without sending anything.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("over the cap: %v, want a 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !json.Valid(body) {
		t.Errorf("the 503's body %q is not the whole JSON error", body)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || g.Refused.Load() != 1 {
		t.Errorf("status %d, %d refused; want 503, 1", resp.StatusCode, g.Refused.Load())
	}
	// A held connection that closes frees its place.
	held[0].Close()
	for deadline := time.Now().Add(5 * time.Second); g.Open() > 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after one closed, want 1", g.Open())
		}
		time.Sleep(time.Millisecond)
	}
	r, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("under the cap again: %d, want 200", r.StatusCode)
	}
}

func TestDefaultMax(t *testing.T) {
	if n := DefaultMax(); n < 16 || n > 4096 {
		t.Errorf("DefaultMax() = %d, want 16..4096", n)
	}
	if clamp(100) != 100 || clamp(1) != 16 || clamp(1<<20) != 4096 {
		t.Error("clamp")
	}
}
