// Package rxstamp dials TCP connections whose reads report when their
// bytes arrived, by the kernel's receive timestamp, rather than when a
// goroutine got around to reading them.
//
// A load generator that stamps each streamed event with time.Now after
// its read measures its own scheduling delay along with the server's
// spacing: at 1,000 streams on two cores a goroutine can read an event
// tens of milliseconds after it arrived, and the inter-token gaps it
// reports are then the client's, not the server's. With SO_TIMESTAMPNS the
// kernel stamps every incoming segment as it reaches the socket, and
// recvmsg hands the stamp back.
//
// TCP hands back one stamp per read: that of the newest segment the read
// took bytes from, and the kernel merges segments that queue up, keeping
// the newest stamp. So the socket must be read before the next event
// arrives, whatever the reader is doing. On Linux a Conn's socket is read
// by this package's poller, one goroutine for all connections, within
// about a millisecond of each arrival; Read hands the queued reads out one
// at a time, each with its own stamp, however late the reader comes. The
// poller wakes readers in batches, and a reader of a long message (a
// streamed HTTP body) can ask to be woken only at its end (Batcher, with
// an Ender that knows the message's framing; this package knows none), so
// a thousand streams cost no
// thread or goroutine wake-up per token: on a 2-vCPU virtual machine those
// wake-ups, not the reads, were most of the load generator's CPU, and
// the goroutines' scheduling delays made the reads late.
//
// On systems without receive timestamps (or when the socket refuses them)
// Dialer.DialContext returns the plain connection, and callers fall back to
// time.Now.
package rxstamp

import (
	"context"
	"net"
	"time"
)

// Stamper is a connection that knows when the bytes of its latest read
// arrived. Conn implements it; callers find it through an interface
// assertion on the connection they were given.
type Stamper interface {
	// Arrived returns when the bytes of the latest read arrived, on the
	// monotonic clock of time.Now; ok is false when there is no kernel
	// stamp for it (the caller should use the time of the read instead).
	Arrived() (at time.Time, ok bool)
}

// Batcher is a connection whose reader can be woken less often. While
// batching, a Read that waits for data is woken only when the data
// received ends a message (as its Ender says), the connection ends,
// 32 KiB wait, or the oldest waiting byte is 100 ms old. Each read keeps
// its own arrival stamp; only the reader's work is moved. Conn implements
// it.
type Batcher interface {
	// Batch turns batching on, with end to see the message's end in the
	// bytes received from now on, or off (nil): a waiting Read is then
	// woken for any data.
	Batch(end Ender)
}

// Ender tells, from the bytes a connection receives, when they end a
// message: an HTTP/1.1 chunked body, for one. A false end only wakes a
// Read early, and a missed one wakes it 100 ms late. Its methods are
// called by one goroutine at a time, with the connection's lock held: they
// must be quick and must not call the connection.
type Ender interface {
	// Note is given the bytes of each read of the socket, in order.
	Note(p []byte)
	// Ended says whether the bytes noted so far end a message.
	Ended() bool
}

// Dialer dials connections that stamp their reads where the system can.
type Dialer struct {
	net.Dialer
}

// DialContext dials like net.Dialer and, for TCP on a system with receive
// timestamps, returns a *Conn; otherwise the connection as dialed.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	if sc, ok := newConn(tc); ok {
		return sc, nil
	}
	return c, nil
}

// monotonic turns a kernel wall-clock stamp into a time on now's monotonic
// clock: only the (small) delay between them comes from the wall clock. A
// stamp after now, or implausibly old (the wall clock stepped), is not
// used.
func monotonic(stamp, now time.Time) (time.Time, bool) {
	d := now.Sub(stamp)
	if d < 0 || d > time.Minute {
		return time.Time{}, false
	}
	return now.Add(-d), true
}
