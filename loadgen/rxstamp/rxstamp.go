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
// took bytes from. A reader that keeps up reads each event alone and gets
// its arrival; events read together share the newest one's arrival. (A
// reader more than an event behind could not do better by reading less:
// the kernel merges queued segments, and the merged one keeps the newest
// stamp.)
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
