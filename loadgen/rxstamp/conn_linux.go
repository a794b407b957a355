//go:build linux

package rxstamp

import (
	"io"
	"net"
	"os"
	"sync/atomic"
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

	// The state of the read in progress, owned by the goroutine in Read
	// (the poller lets one reader in at a time): the system call's
	// arguments and results live here so that a read allocates nothing.
	recv  func(fd uintptr) bool // c.recvmsg, bound once
	msg   unix.Msghdr
	iov   unix.Iovec
	oob   []byte // control-message buffer
	n     int
	oobn  int
	errno syscall.Errno

	// arrived is when the bytes of the latest read arrived, in nanoseconds
	// after epoch (monotonic), plus one; 0 when that read had no stamp.
	arrived atomic.Int64
}

// epoch is the origin of Conn.arrived, on the monotonic clock.
var epoch = time.Now()

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
	sc := &Conn{TCPConn: c, raw: raw, oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}
	sc.recv = sc.recvmsg
	return sc, true
}

// Arrived implements Stamper.
func (c *Conn) Arrived() (time.Time, bool) {
	d := c.arrived.Load()
	if d == 0 {
		return time.Time{}, false
	}
	return epoch.Add(time.Duration(d - 1)), true
}

// Read reads into p with recvmsg, as many system calls as a plain
// connection's Read, and notes the kernel's stamp of the data.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.iov.Base = &p[0]
	c.iov.SetLen(len(p))
	err := c.raw.Read(c.recv)
	c.iov.Base = nil // do not keep p alive
	if err == nil && c.errno != 0 {
		err = os.NewSyscallError("recvmsg", c.errno)
	}
	if err != nil {
		c.arrived.Store(0)
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if c.n == 0 {
		return 0, io.EOF
	}
	if at, ok := monotonic(stampOf(c.oob[:c.oobn]), time.Now()); ok {
		c.arrived.Store(int64(at.Sub(epoch)) + 1)
	} else {
		c.arrived.Store(0)
	}
	return c.n, nil
}

// recvmsg is the poller's callback for Read: one recvmsg(2) into c.iov,
// retried on EINTR; false (wait until readable) on EAGAIN.
func (c *Conn) recvmsg(fd uintptr) bool {
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &c.oob[0]
	c.msg.SetControllen(len(c.oob))
	for {
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.n, c.oobn, c.errno = int(r), int(c.msg.Controllen), e
		return true
	}
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
