//go:build linux

package rxstamp

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection whose reads are stamped by the kernel; it is
// the TCP connection in every other respect.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn
	oob []byte // control-message buffer of the reading goroutine

	mu      sync.Mutex
	arrived time.Time // of the latest read; zero when it had no stamp
}

// newConn enables receive timestamps on c; ok is false when the socket
// refuses them.
func newConn(c *net.TCPConn) (*Conn, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil, false
	}
	return &Conn{TCPConn: c, raw: raw, oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}, true
}

// Arrived implements Stamper.
func (c *Conn) Arrived() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.arrived, !c.arrived.IsZero()
}

// Read reads into p with recvmsg, as many system calls as a plain
// connection's Read, and notes the kernel's stamp of the data.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, c.oob, 0)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN // EAGAIN: wait until readable
			}
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		c.setArrived(time.Time{})
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = os.NewSyscallError("recvmsg", errno)
		}
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	at, ok := monotonic(stampOf(c.oob[:oobn]), time.Now())
	if !ok {
		at = time.Time{}
	}
	c.setArrived(at)
	return n, nil
}

func (c *Conn) setArrived(t time.Time) {
	c.mu.Lock()
	c.arrived = t
	c.mu.Unlock()
}

// stampOf returns the SCM_TIMESTAMPNS stamp among the control messages, or
// the zero time.
func stampOf(oob []byte) time.Time {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return time.Time{}
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			return time.Unix(ts.Unix())
		}
		oob = rest
	}
	return time.Time{}
}
