//go:build linux

package rxstamp

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection whose reads are stamped by the kernel. It is
// not the runtime's connection: this package's poller (poller_linux.go)
// watches its socket and reads it as data arrives, noting each read's
// stamp, into a queue that Read hands out one read at a time. Readers are
// woken in batches, and not at all in the middle of a batched body (see
// Batch): a thousand streams then cost no thread or goroutine wake-up per
// token, which on a small or virtual machine was most of the load
// generator's CPU.
type Conn struct {
	fd     int
	id     uint64 // the poller's name for it
	local  net.Addr
	remote net.Addr

	// Tokens: the queue has something for a waiting Read (rtok), or the
	// socket became writable (wtok). A token may be stale; a waiter that
	// finds nothing waits again.
	rtok, wtok chan struct{}

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	// The last one out closes the descriptor, so that no system call
	// reaches a descriptor number already reused.
	// refs counts Close's own reference and the reads, writes and fills
	// in progress, times two; its low bit is set once Close was called.
	// (Atomic, not a lock: a round must not wait on a preempted holder.)
	refs atomic.Int64

	rdl, wdl deadline

	// qmu guards the queue and the reads of the socket. Rounds never
	// wait for it (see fill): a goroutine preempted while it holds qmu,
	// a VU in Read as much as a round, must hold up this Conn alone.
	// Whoever unlocks it does the fills that were asked for meanwhile.
	qmu     sync.Mutex
	refill  atomic.Bool // a fill is wanted
	ended   atomic.Bool // an end, reset or error was seen: trust no TCP_INQ
	pending atomic.Bool // in the poller's pending queue
	lagging atomic.Bool // a batching Read was left waiting on bytes
	msg     unix.Msghdr
	iov     unix.Iovec
	oob     []byte // control-message buffer

	// The queue: bytes read from the socket and not yet by Read
	// (buf[off:]), cut where the socket's reads ended, each with its
	// arrival; then the socket's end (rerr), if it came.
	buf     []byte
	off     int
	segs    []segment
	rerr    error
	full    bool  // the poller stopped reading: the queue is at queueMax
	waiting bool  // a Read waits for the queue
	batch   Ender // non-nil while batching: see Batch
	oldest  int64 // while batching: when the oldest unread byte arrived (ns after epoch)

	// arrived is when the bytes of the latest Read arrived, in nanoseconds
	// after epoch (monotonic), plus one; 0 before the first.
	arrived atomic.Int64
}

// segment is the end of one read of the socket in Conn.buf, and when its
// bytes arrived (ns after epoch).
type segment struct {
	end int
	at  int64
}

const (
	// queueMax is as much as the poller reads ahead of a Read; past it,
	// the socket keeps the rest (and the peer's window closes) until Read
	// takes the queue.
	queueMax = 4 << 20
	// batchMax: a batching Read is woken once this much waits.
	batchMax = 32 << 10
	// maxLag: a batching Read is woken once its oldest waiting byte is
	// this old, wherever the body is.
	maxLag = 100 * time.Millisecond
)

// epoch is the origin of the stamps, on the monotonic clock.
var epoch = time.Now()

// newConn takes c's socket over: it enables receive timestamps and the
// kernel's count of bytes left after each read (TCP_INQ), moves the
// socket from the runtime's poller to this package's, and closes c. ok
// is false, and c untouched, when the socket refuses.
func newConn(c *net.TCPConn) (*Conn, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, false
	}
	fd, serr := -1, error(nil)
	if err := raw.Control(func(s uintptr) {
		if serr = unix.SetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); serr != nil {
			return
		}
		// Without TCP_INQ (kernels before 4.18) the poller reads each
		// socket until it finds it empty: one more system call per read.
		_ = unix.SetsockoptInt(int(s), unix.SOL_TCP, unix.TCP_INQ, 1)
		fd, serr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || serr != nil {
		return nil, false
	}
	sc := &Conn{
		fd: fd, local: c.LocalAddr(), remote: c.RemoteAddr(),
		rtok: make(chan struct{}, 1), wtok: make(chan struct{}, 1), done: make(chan struct{}),
		oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))+unix.CmsgSpace(4)),
	}
	sc.refs.Store(2) // Close's reference
	if err := thePoller.add(sc); err != nil {
		unix.Close(fd)
		return nil, false
	}
	// The runtime forgets its descriptor; the socket lives on in ours.
	c.Close()
	return sc, true
}

// Arrived implements Stamper: the kernel's stamp of the bytes of the
// latest Read, or, for bytes the kernel did not stamp, when the poller
// read them from the socket (not when Read handed them out).
func (c *Conn) Arrived() (time.Time, bool) {
	d := c.arrived.Load()
	if d == 0 {
		return time.Time{}, false
	}
	return epoch.Add(time.Duration(d - 1)), true
}

// Batch implements Batcher.
func (c *Conn) Batch(end Ender) {
	c.qmu.Lock()
	defer c.unlock()
	c.batch = end
	if end == nil && c.waiting && (c.off < len(c.buf) || c.rerr != nil) {
		c.waiting = false
		kick(c.rtok)
	}
}

// Read hands out the queue's bytes, at most one socket read's worth per
// call, so that each Read has the arrival of its bytes; it waits while
// the queue is empty.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.incref() {
		return 0, c.opError("read", net.ErrClosed)
	}
	defer c.decref()
	if len(p) == 0 {
		return 0, nil
	}
	thePoller.maybeRound()
	for {
		if c.rdl.expired() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		c.qmu.Lock()
		if c.off < len(c.buf) {
			seg := &c.segs[0]
			n := copy(p, c.buf[c.off:seg.end])
			c.off += n
			c.arrived.Store(seg.at + 1)
			if c.off == seg.end {
				c.segs = c.segs[1:]
			}
			if c.off == len(c.buf) {
				c.buf, c.off, c.segs = c.buf[:0], 0, c.segs[:0]
			}
			c.unlock()
			return n, nil
		}
		if c.rerr != nil {
			err := c.rerr
			c.unlock()
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, c.opError("read", err)
		}
		if c.full {
			// The socket holds what the queue could not: read it here.
			c.full = false
			c.ended.Store(true) // read until the socket says it is empty
			c.refill.Store(true)
			c.unlock()
			continue
		}
		c.waiting = true
		c.unlock()
		err := c.wait(c.rtok, &c.rdl)
		c.qmu.Lock()
		c.waiting = false
		c.unlock()
		if err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// unlock unlocks c.qmu, after doing the fills asked for while it was
// held.
func (c *Conn) unlock() {
	for {
		if c.refill.Swap(false) {
			c.fillLocked(int64(time.Since(epoch)))
			continue
		}
		c.qmu.Unlock()
		// A note left between the check and the unlock: take it, unless
		// someone else holds the lock and will.
		if !c.refill.Load() || !c.qmu.TryLock() {
			return
		}
	}
}

// fill reads the socket into the queue until the kernel says it is empty
// (TCP_INQ; once c.ended, no count is trusted: until the read says so) or the queue is full, and wakes a
// waiting Read as Batch says (c.lagging: a batching Read was left
// waiting). now is when, in ns after epoch.
//
// Rounds may run at once, and fills of one Conn run one at a time. A
// fill that finds another running leaves it a note and returns at once:
// the running one reads again before it unlocks the queue, so the
// edge is not lost, and a goroutine preempted in the middle of a fill
// holds up that one Conn, not every round.
func (c *Conn) fill(now int64) {
	c.refill.Store(true)
	if !c.qmu.TryLock() {
		return // the one that holds it reads on unlock
	}
	c.unlock()
}

// fillLocked is fill's work, with c.qmu held.
func (c *Conn) fillLocked(now int64) {
	hup := c.ended.Load()
	for c.rerr == nil { // after the end, a reset read again would read as a clean end

		if len(c.buf)-c.off >= queueMax {
			c.full = true
			break
		}
		if c.off > 0 && c.off == len(c.buf) {
			c.buf, c.off, c.segs = c.buf[:0], 0, c.segs[:0]
		}
		if cap(c.buf)-len(c.buf) < readSize {
			c.grow()
		}
		p := c.buf[len(c.buf):cap(c.buf)]
		n, oobn, errno := c.recvmsg(p)
		if errno == unix.EAGAIN {
			break
		}
		if errno != 0 {
			c.rerr = os.NewSyscallError("recvmsg", errno)
			break
		}
		if n == 0 {
			c.rerr = io.EOF
			break
		}
		at, ok := monotonic(stampOf(c.oob[:oobn]), time.Now())
		stamp := int64(at.Sub(epoch))
		if !ok {
			stamp = int64(time.Since(epoch))
		}
		if len(c.buf) == c.off {
			c.oldest = stamp
		}
		if c.batch != nil {
			c.batch.Note(p[:n])
		}
		c.buf = c.buf[:len(c.buf)+n]
		c.segs = append(c.segs, segment{end: len(c.buf), at: stamp})
		if inq, known := inqOf(c.oob[:oobn]); known && inq == 0 && !hup {
			break
		}
	}
	thePoller.setLagging(c, c.wake(now))
}

// wakeDue wakes a waiting Read if Batch says it is time, as fill does;
// if c.qmu is held, a later look will.
func (c *Conn) wakeDue(now int64) {
	if !c.qmu.TryLock() {
		return
	}
	thePoller.setLagging(c, c.wake(now))
	c.unlock()
}

// wake wakes a waiting Read that has something in the queue, unless it is
// batching and none of these holds: the message ended (Ender), the connection ended,
// batchMax bytes wait, the oldest waited maxLag. lagging is true when it
// was left waiting. c.qmu is held; now is in ns after epoch.
func (c *Conn) wake(now int64) (lagging bool) {
	if !c.waiting || (c.off == len(c.buf) && c.rerr == nil) {
		return false
	}
	if c.batch != nil && c.rerr == nil && len(c.buf)-c.off < batchMax && !c.batch.Ended() && now-c.oldest < int64(maxLag) {
		return true
	}
	c.waiting = false
	kick(c.rtok)
	return false
}

// readSize is the least room fill wants for one read of the socket. The
// queue doubles as it needs; a stream's events are a few hundred bytes,
// and a thousand Conns keep their queues.
const readSize = 4 << 10

// grow makes room for readSize more bytes in the queue, moving the unread
// bytes to the front.
func (c *Conn) grow() {
	unread := len(c.buf) - c.off
	nb := c.buf
	if cap(nb) < unread+readSize {
		nb = make([]byte, 0, max(2*cap(c.buf), unread+readSize))
	}
	copy(nb[:unread], c.buf[c.off:])
	for i := range c.segs {
		c.segs[i].end -= c.off
	}
	c.buf, c.off = nb[:unread], 0
}

// recvmsg is one recvmsg(2) into p, retried on EINTR.
func (c *Conn) recvmsg(p []byte) (n, oobn int, errno syscall.Errno) {
	c.iov.Base = &p[0]
	c.iov.SetLen(len(p))
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &c.oob[0]
	c.msg.SetControllen(len(c.oob))
	defer func() { c.iov.Base = nil }() // do not keep p alive
	for {
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.msg)), 0)
		if e != unix.EINTR {
			return int(r), int(c.msg.Controllen), e
		}
	}
}

// Write writes all of p, waiting for room in the socket's buffer as
// often as it takes.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.incref() {
		return 0, c.opError("write", net.ErrClosed)
	}
	defer c.decref()
	thePoller.maybeRound()
	n := 0
	for n < len(p) {
		if c.wdl.expired() {
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		q := p[n:]
		// send(2), not write(2): MSG_NOSIGNAL, a closed peer is EPIPE.
		k, _, err := unix.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&q[0])), uintptr(len(q)), unix.MSG_NOSIGNAL, 0, 0)
		if err == 0 {
			n += int(k)
		}
		switch err {
		case 0, unix.EINTR:
		case unix.EAGAIN:
			if err := c.wait(c.wtok, &c.wdl); err != nil {
				return n, c.opError("write", err)
			}
		default:
			return n, c.opError("write", os.NewSyscallError("write", err))
		}
	}
	return n, nil
}

// wait waits for a token from the poller, the connection's end or its
// deadline, whichever comes first.
func (c *Conn) wait(tok chan struct{}, dl *deadline) error {
	select {
	case <-tok:
		return nil
	case <-c.done:
		return net.ErrClosed
	case <-dl.ch():
		return os.ErrDeadlineExceeded
	}
}

// Close closes the connection; reads and writes waiting on it return
// net.ErrClosed.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.done)
		thePoller.remove(c)
		thePoller.setLagging(c, false)
		c.refs.Add(1) // closing
		c.decref()
	})
	if err != nil {
		return c.opError("close", err)
	}
	return nil
}

// closed reports whether Close was called.
func (c *Conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Conn) incref() bool {
	for {
		r := c.refs.Load()
		if r&1 != 0 {
			return false
		}
		if c.refs.CompareAndSwap(r, r+2) {
			return true
		}
	}
}

func (c *Conn) decref() {
	if c.refs.Add(-2) == 1 { // closing, and no one left
		unix.Close(c.fd)
	}
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn: a Read waiting when t passes, and
// every Read after, fails with a timeout, until the deadline moves.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	kick(c.rtok) // a waiting Read takes the new deadline
	return nil
}

// SetWriteDeadline implements net.Conn, as SetReadDeadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	kick(c.wtok)
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// kick leaves a token in tok unless one is there.
func kick(tok chan struct{}) {
	select {
	case tok <- struct{}{}:
	default:
	}
}

// deadline is a connection's read or write deadline: a channel that is
// closed when it passes, nil while there is none.
type deadline struct {
	mu    sync.Mutex
	c     chan struct{}
	timer *time.Timer
}

// set moves the deadline to t; the zero t removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() {
		d.c = nil
		return
	}
	ch := make(chan struct{})
	d.c = ch
	if until := time.Until(t); until > 0 {
		d.timer = time.AfterFunc(until, func() { close(ch) })
	} else {
		close(ch)
	}
}

// ch returns the channel closed when the deadline passes; nil (never
// ready) without one.
func (d *deadline) ch() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	select {
	case <-d.ch():
		return true
	default:
		return false
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

// inqOf returns the TCP_CM_INQ count among the control messages: the
// bytes still queued after the read, and 1 when none are but the peer's
// end is (so that the reader reads once more, for the end). known is
// false when the kernel sent none.
func inqOf(oob []byte) (inq int32, known bool) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		if h.Level == unix.SOL_TCP && h.Type == unix.TCP_CM_INQ && len(data) >= 4 {
			return *(*int32)(unsafe.Pointer(&data[0])), true
		}
		oob = rest
	}
	return 0, false
}
