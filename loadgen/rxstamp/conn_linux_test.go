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
	"os"
	"strings"
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

// serve accepts one connection on a new listener and runs f on it.
func serve(t *testing.T, f func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		f(c)
	}()
	return ln.Addr().String()
}

// TestLateReadKeepsEachArrival: the poller reads the socket as the data
// arrives, so a reader that comes late still gets each write of the peer
// as its own read, with its own arrival. (A reader of the socket itself
// would get all three in one read, stamped with the last.)
func TestLateReadKeepsEachArrival(t *testing.T) {
	events := []string{"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}
	type sent struct{ before, after time.Time }
	wrote := make(chan sent, len(events))
	next := make(chan struct{})
	addr := serve(t, func(c net.Conn) {
		for _, e := range events {
			<-next
			before := time.Now()
			c.Write([]byte(e))
			wrote <- sent{before, time.Now()}
		}
		time.Sleep(time.Second)
	})
	c := dial(t, addr)
	time.Sleep(20 * time.Millisecond) // the kernel's stamping is on
	for i := range events {
		next <- struct{}{}
		// The next write waits until the poller has queued this one, so
		// that the socket never holds two.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			c.qmu.Lock()
			queued := len(c.segs)
			c.qmu.Unlock()
			if queued > i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the poller did not read write %d", i)
			}
		}
	}
	buf := make([]byte, 4096)
	var prev time.Time
	for i, e := range events {
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != e {
			t.Fatalf("read %d = %q, %v; want %q alone", i, buf[:n], err, e)
		}
		at, ok := c.Arrived()
		w := <-wrote
		if !ok || at.Before(w.before.Add(-time.Millisecond)) || at.After(w.after.Add(5*time.Millisecond)) {
			t.Errorf("read %d: arrived %v after its write began (ok %v), want within the write (%v)", i, at.Sub(w.before), ok, w.after.Sub(w.before))
		}
		if i > 0 && !at.After(prev) {
			t.Errorf("read %d arrived %v after the one before, want later", i, at.Sub(prev))
		}
		prev = at
	}
}

// TestBatchWakesAtTheBodyEnd: a batching Read sleeps through the chunks of
// a chunked body and wakes when its last chunk comes; then the queued
// reads come out one by one, each with its arrival. Without batching, the
// first chunk wakes it.
func TestBatchWakesAtTheBodyEnd(t *testing.T) {
	chunks := []string{"5\r\nhello\r\n", "5\r\nworld\r\n", "1\r\n!\r\n0\r\n\r\n"}
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			firstRead, waiting := make(chan struct{}), make(chan struct{})
			firstWrite, lastWrite := make(chan time.Time, 1), make(chan time.Time, 1)
			addr := serve(t, func(c net.Conn) {
				<-waiting
				firstWrite <- time.Now()
				c.Write([]byte(chunks[0]))
				if !batch {
					// The rest only once the first read returned: a Read
					// that waited for more would wait for ever.
					select {
					case <-firstRead:
					case <-time.After(10 * time.Second):
					}
				}
				c.Write([]byte(chunks[1]))
				time.Sleep(30 * time.Millisecond)
				lastWrite <- time.Now()
				c.Write([]byte(chunks[2]))
				time.Sleep(time.Second)
			})
			c := dial(t, addr)
			if batch {
				c.Batch(&suffixEnd{suffix: "0\r\n\r\n"})
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			go waitForRead(c, waiting) // the server writes once the Read waits
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			returned := time.Now()
			close(firstRead)
			if err != nil || !strings.HasPrefix(chunks[0]+chunks[1], string(buf[:n])) {
				t.Fatalf("first read = %q, %v", buf[:n], err)
			}
			// (Unless the machine stalled the writer for maxLag, after
			// which a batching Read rightly wakes.)
			if first, last := <-firstWrite, <-lastWrite; batch && returned.Before(last) && last.Sub(first) < maxLag {
				t.Errorf("batching, the first read returned %v before the body's last chunk was sent", last.Sub(returned))
			}
			first, _ := c.Arrived()
			body, want := string(buf[:n]), strings.Join(chunks, "")
			for len(body) < len(want) {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("after %q: %v", body, err)
				}
				body += string(buf[:n])
			}
			if body != want {
				t.Fatalf("body = %q, want %q", body, want)
			}
			if last, _ := c.Arrived(); !last.After(first) {
				t.Errorf("the last chunk arrived %v after the first, want later", last.Sub(first))
			}
		})
	}
}

// TestBatchWakesAfterMaxLag: a batching Read whose body does not end
// still wakes, maxLag after its first waiting byte.
func TestBatchWakesAfterMaxLag(t *testing.T) {
	waiting := make(chan struct{})
	wrote := make(chan time.Time, 1)
	addr := serve(t, func(c net.Conn) {
		<-waiting
		wrote <- time.Now()
		c.Write([]byte("5\r\nhello\r\n"))
		time.Sleep(2 * time.Second)
	})
	c := dial(t, addr)
	c.Batch(&suffixEnd{suffix: "0\r\n\r\n"})
	go waitForRead(c, waiting)
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "5\r\nhello\r\n" {
		t.Fatalf("read = %q, %v", buf[:n], err)
	}
	if d := time.Since(<-wrote); d < maxLag/2 || d > maxLag+10*time.Second {
		t.Errorf("the read returned after %v, want about maxLag (%v)", d, maxLag)
	}
}

// TestFullQueueAndFullSocket moves 16 MiB each way, more than the queue
// holds and the socket buffers take: the reader comes late, the writer
// waits for room; every byte arrives in order.
func TestFullQueueAndFullSocket(t *testing.T) {
	const size = 16 << 20
	pattern := func(i int) byte { return byte(i*7 + i>>11) }
	got := make(chan error, 1)
	addr := serve(t, func(c net.Conn) {
		out := make([]byte, size)
		for i := range out {
			out[i] = pattern(i)
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			c.Write(out)
		}()
		defer func() { <-sent }() // close after the last byte went out
		in, err := io.ReadAll(io.LimitReader(c, size))
		if err == nil && len(in) != size {
			err = fmt.Errorf("the peer got %d bytes, want %d", len(in), size)
		}
		for i := range in {
			if in[i] != pattern(i) {
				err = fmt.Errorf("the peer's byte %d is wrong", i)
				break
			}
		}
		got <- err
	})
	c := dial(t, addr)
	out := make([]byte, size)
	for i := range out {
		out[i] = pattern(i)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		wrote <- err
	}()
	time.Sleep(300 * time.Millisecond) // the queue fills up
	in := make([]byte, 0, size)
	buf := make([]byte, 64<<10)
	for len(in) < size {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(in), err)
		}
		in = append(in, buf[:n]...)
	}
	for i := range in {
		if in[i] != pattern(i) {
			t.Fatalf("byte %d is wrong", i)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestPollerEnds: the poller's goroutine ends with the last connection.
func TestPollerEnds(t *testing.T) {
	addr := serve(t, func(c net.Conn) { time.Sleep(time.Second) })
	c := dial(t, addr)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		thePoller.mu.Lock()
		running, n := thePoller.running, thePoller.n
		thePoller.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poller still runs with %d connections", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForRead closes waiting once a Read of c waits for data (or after 5s).
func waitForRead(c *Conn, waiting chan struct{}) {
	defer close(waiting)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.qmu.Lock()
		w := c.waiting
		c.qmu.Unlock()
		if w {
			return
		}
	}
}

// TestCloseEndsTheSocket closes 200 connections while data streams in and
// reads wait: the peer must see every one of them end, by a FIN or (data
// left unread) a reset, that is the descriptor closed, whoever held the
// last reference; and the process must hold no more descriptors than
// before.
func TestCloseEndsTheSocket(t *testing.T) {
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 200
	ended := make(chan error, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go func() { // stream until the client is gone
					for {
						if _, err := c.Write([]byte("data: x\n\n")); err != nil {
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, err := io.Copy(io.Discard, c)
				ended <- err // nil: the client's FIN; a reset if it closed with data unread
			}()
		}
	}()
	warm, err := net.Listen("tcp", "127.0.0.1:0") // the poller's own descriptors exist from the first Conn on
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := warm.Accept(); err == nil {
			c.Close()
		}
	}()
	dial(t, warm.Addr().String()).Close()
	warm.Close()
	time.Sleep(10 * time.Millisecond)
	before := countFDs()
	var conns []*Conn
	for range n {
		conns = append(conns, dial(t, ln.Addr().String()))
	}
	for i, c := range conns {
		go func() { // a reader that is sometimes waiting, sometimes reading
			buf := make([]byte, 1+i%64)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for _, c := range conns {
		c.Close()
	}
	for range n {
		select {
		case err := <-ended:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server's side never saw the end: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a closed connection's socket was never closed")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for countFDs() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := countFDs(); after > before {
		t.Errorf("descriptors: %d before, %d after closing every connection", before, after)
	}
}

// suffixEnd is an Ender for the tests: a message ends when the bytes
// received end with suffix.
type suffixEnd struct {
	suffix string
	seen   []byte
}

func (e *suffixEnd) Note(p []byte) {
	e.seen = append(e.seen, p...)
	if len(e.seen) > len(e.suffix) {
		e.seen = e.seen[len(e.seen)-len(e.suffix):]
	}
}

func (e *suffixEnd) Ended() bool { return string(e.seen) == e.suffix }
