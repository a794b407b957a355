//go:build linux

package rxstamp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// dial returns a stamping connection to addr, or skips the test when the
// kernel refuses receive timestamps.
func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := (&Dialer{}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc, ok := c.(*Conn)
	if !ok {
		t.Skipf("this kernel refuses SO_TIMESTAMPNS on TCP sockets (got a %T)", c)
	}
	return sc
}

// TestStampIsArrival reads an event 50 ms after it arrived: the stamp must
// be its arrival, not the read.
func TestStampIsArrival(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type sent struct{ before, after time.Time }
	wrote := make(chan sent, 1)
	first, next := make(chan struct{}), make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-first
		before := time.Now()
		c.Write([]byte("data: 1\n\n"))
		wrote <- sent{before, time.Now()}
		<-next
		c.Write([]byte("data: 2\n\ndata: 3\n\n"))
	}()
	c := dial(t, ln.Addr().String())
	// The kernel turns stamping on for everyone once a socket asks, a
	// little after the call; segments that arrive before are not stamped.
	time.Sleep(20 * time.Millisecond)
	close(first)
	s := <-wrote
	time.Sleep(50 * time.Millisecond)

	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	read := time.Now()
	if err != nil || string(buf[:n]) != "data: 1\n\n" {
		t.Fatalf("Read = %q, %v; want the first event", buf[:n], err)
	}
	at, ok := c.Arrived()
	if !ok {
		t.Fatal("no stamp for the first event")
	}
	// The kernel stamps the segment during the sender's write; the
	// conversion to the monotonic clock may move it by a few µs.
	if at.Before(s.before.Add(-time.Millisecond)) || at.After(s.after.Add(5*time.Millisecond)) {
		t.Errorf("stamp %v after the write began, want within the write (%v long)", at.Sub(s.before), s.after.Sub(s.before))
	}
	if lag := read.Sub(at); lag < 45*time.Millisecond {
		t.Errorf("the read came %v after the stamp; the test slept 50ms, so the stamp is the read's", lag)
	}

	close(next)
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "data: 2\n\ndata: 3\n\n" {
		t.Fatalf("Read = %q, %v; want both events of the second write", buf[:n], err)
	}
	if _, ok := c.Arrived(); !ok {
		t.Error("no stamp for the second write")
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("after the last event: Read = %d, %v; want 0, EOF", n, err)
	}
}

// TestThroughHTTP streams a chunked event stream through net/http over
// stamping connections, in clear and over TLS: the body must arrive whole,
// and the connection under the TLS layer has stamps too.
func TestThroughHTTP(t *testing.T) {
	const events = 5
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range events {
			fmt.Fprintf(w, "data: {\"text\":\"%d\"}\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	var want string
	for i := range events {
		want += fmt.Sprintf("data: {\"text\":\"%d\"}\n\n", i)
	}
	want += "data: [DONE]\n\n"

	for _, tt := range []struct {
		name string
		tls  bool
	}{
		{"clear", false},
		{"TLS", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var srv *httptest.Server
			tr := &http.Transport{}
			if tt.tls {
				srv = httptest.NewTLSServer(handler)
				tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
			} else {
				srv = httptest.NewServer(handler)
			}
			defer srv.Close()
			var conns []*Conn
			d := &Dialer{}
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if sc, ok := c.(*Conn); ok {
					conns = append(conns, sc)
				}
				return c, err
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != want {
				t.Fatalf("body = %q, %v; want %q", body, err, want)
			}
			if len(conns) != 1 {
				t.Skipf("%d stamping connections (the kernel refuses SO_TIMESTAMPNS?)", len(conns))
			}
			if _, ok := conns[0].Arrived(); !ok {
				t.Error("the connection's last read has no stamp")
			}
		})
	}
}

// TestReadAllocatesNothing: a load generator reads tens of thousands of
// events a second through Read, so a read must not allocate.
func TestReadAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const reads, size = 200, 16
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, (reads+10)*size))
		time.Sleep(time.Second)
	}()
	c := dial(t, ln.Addr().String())
	buf := make([]byte, size)
	if _, err := io.ReadFull(c, buf); err != nil { // the first read waits for the data
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(reads, func() {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Read allocates %.1f times per call, want 0", allocs)
	}
}

// TestEndWithTheLastBytes: a server that sends its last bytes and closes
// at once, cleanly (FIN) or by a reset, may leave one readiness event for
// both; the reader must still see the end. (A reader that saved the
// receive that finds the socket empty, waiting for the next event after a
// short one instead, would wait forever here: a version that did so failed
// both cases.)
func TestEndWithTheLastBytes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reset bool
	}{
		{"FIN", false},
		{"reset", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			for range 30 {
				go func() {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if tt.reset {
						c.(*net.TCPConn).SetLinger(0)
					}
					c.Read(make([]byte, 1)) // the client is connected
					c.Write([]byte("last bytes"))
					c.Close()
				}()
				c := dial(t, ln.Addr().String())
				c.Write([]byte("!"))
				done := make(chan error, 1)
				go func() {
					_, err := io.ReadAll(c)
					done <- err
				}()
				select {
				case err := <-done:
					if tt.reset && err == nil {
						t.Fatal("the reset was read as a clean end")
					}
					if !tt.reset && err != nil {
						t.Fatalf("reading up to the FIN: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the reader never saw the end of the connection")
				}
				c.Close()
			}
		})
	}
}

// TestCloseAndDeadlineWakeRead: a Read waiting for data returns when its
// connection is closed, and when its read deadline passes (a timeout, after
// which reading goes on).
func TestCloseAndDeadlineWakeRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c
		}
	}()
	read := func(c *Conn) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 16))
			done <- err
		}()
		return done
	}

	c := dial(t, ln.Addr().String())
	peer := <-peers
	defer peer.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	select {
	case err := <-read(c):
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("after the deadline: Read = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read deadline did not end the Read")
	}
	c.SetReadDeadline(time.Time{})
	done := read(c)
	peer.Write([]byte("x"))
	if err := <-done; err != nil {
		t.Fatalf("after clearing the deadline: Read = %v", err)
	}

	c2 := dial(t, ln.Addr().String())
	peer2 := <-peers
	defer peer2.Close()
	done = read(c2)
	time.Sleep(20 * time.Millisecond) // let it wait
	c2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("after Close: Read = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the Read")
	}
}
