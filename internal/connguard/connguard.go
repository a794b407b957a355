// Package connguard caps the connections an HTTP server holds at once, and
// answers those over the cap at once with 503, rather than let them wait
// in the listen backlog or take the process's last file descriptors. It
// imports nothing else from the repository.
package connguard

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener accepts connections while fewer than Max are open; over the
// cap, it writes Busy to the new connection and closes it. It is safe for
// concurrent use.
type Listener struct {
	net.Listener
	max  int64
	open atomic.Int64
	// Refused counts the connections answered with Busy.
	Refused atomic.Int64
}

// busyBody is the JSON error a connection over the cap gets.
const busyBody = `{"error": {"message": "too many connections: try again later", "type": "server_error", "code": 503}}`

// Busy is what a connection over the cap gets: a whole HTTP/1.1 response.
var Busy = []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s", len(busyBody), busyBody))

// New wraps ln; max < 1 means DefaultMax().
func New(ln net.Listener, max int) *Listener {
	if max < 1 {
		max = DefaultMax()
	}
	return &Listener{Listener: ln, max: int64(max)}
}

// Accept returns the next connection under the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.Refused.Add(1)
			go refuse(c)
			continue
		}
		return &conn{Conn: c, l: l}, nil
	}
}

// Open is the number of connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

func refuse(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(Busy)
	c.Close()
}

type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
