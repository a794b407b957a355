//go:build !linux

package rxstamp

import "net"

// Conn is not available on this system: Dialer returns plain connections.
type Conn struct{ net.Conn }

func newConn(*net.TCPConn) (*Conn, bool) { return nil, false }
