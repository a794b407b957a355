package e2e

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// delayProxy forwards TCP connections from a loopback port to a target,
// holding every chunk of data in each direction for a fixed delay before it
// writes it on: a link with that one-way latency and no bandwidth limit.
// Its goroutines end with the test.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// startDelayProxy listens on 127.0.0.1 and returns the proxy's address.
func startDelayProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{ln: ln, target: target, delay: delay}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return ln.Addr().String()
}

func (p *delayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// chunk is data read at a time, due for writing delay later.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each read written delay after it arrived, in
// order; dst's write side is closed after src's end.
func (p *delayProxy) pipe(dst, src net.Conn) {
	ch := make(chan chunk, 4096)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range ch {
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.data); err != nil {
				for range ch { // drain, so the reader never blocks
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.delay)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			break
		}
	}
	close(ch)
	wg.Wait()
}

func (p *delayProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestDelayProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()
	const delay = 50 * time.Millisecond
	c, err := net.Dial("tcp", startDelayProxy(t, ln.Addr().String(), delay))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	// Both ways delayed: the round trip takes at least twice the delay.
	// (A lower bound only: a busy machine makes it longer, never shorter.)
	if rtt := time.Since(start); string(got) != "ping" || rtt < 2*delay {
		t.Errorf("echo %q after %v, want ping after at least %v", got, rtt, 2*delay)
	}
}
