//go:build linux

package rxstamp

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// coalesce is how long the poller lets arrivals gather after it handed
// out a batch of them. A load generator at 1,000 streams of 50 tokens a
// second otherwise wakes a thread for almost every token, and on a small
// or virtual machine those wake-ups, not the reads, were most of its CPU
// (about 20 µs of a token's 25). Reading an event up to this much later
// does not move its time: the kernel stamped its arrival. It only delays
// the end of a stream, and the next request of a closed loop, by as much.
const coalesce = time.Millisecond

// thePoller watches every Conn of the process.
var thePoller poller

// poller is an epoll instance of its own for the Conns' sockets,
// edge-triggered: each readiness edge leaves a token in the Conn. One
// goroutine serves it, started with the first Conn and ended when the
// last one is removed; it waits for the epoll descriptor through the
// runtime's poller, so no thread sits blocked in epoll_wait.
type poller struct {
	mu      sync.Mutex
	ep      *os.File // the epoll descriptor, nil until the first add
	wake    int      // eventfd that ends a wait when the last Conn leaves
	conns   map[uint64]*Conn
	next    uint64
	running bool
}

// add watches c's socket and starts the poller's goroutine if it is not
// running.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == nil {
		if err := p.init(); err != nil {
			return err
		}
	}
	p.next++
	c.id = p.next
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	setData(&ev, c.id)
	if err := unix.EpollCtl(int(p.ep.Fd()), unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	p.conns[c.id] = c
	if !p.running {
		p.running = true
		go p.loop()
	}
	return nil
}

// remove stops watching c; the goroutine ends once no Conn is left.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[c.id]; !ok {
		return
	}
	delete(p.conns, c.id)
	_ = unix.EpollCtl(int(p.ep.Fd()), unix.EPOLL_CTL_DEL, c.fd, nil)
	if len(p.conns) == 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(p.wake, one[:])
	}
}

// init creates the epoll descriptor, non-blocking so that the runtime's
// poller can wait on it, and the wake-up eventfd in it.
func (p *poller) init() error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setData(&ev, 0)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(ep)
		unix.Close(wake)
		return fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		unix.Close(wake)
		return fmt.Errorf("epoll descriptor non-blocking: %w", err)
	}
	p.ep, p.wake, p.conns = os.NewFile(uintptr(ep), "rxstamp-epoll"), wake, map[uint64]*Conn{}
	return nil
}

// loop reads the sockets that the edges name into their queues, in
// batches at most every coalesce, until no Conn is left. Between
// batches it waits on the epoll descriptor, or, while a batching Read
// waits on bytes, at most until that Read is due.
func (p *poller) loop() {
	raw, err := p.ep.SyscallConn()
	if err != nil {
		panic("rxstamp: epoll descriptor: " + err.Error()) // an *os.File always has one
	}
	evs := make([]unix.EpollEvent, 256)
	var k int
	harvest := func(fd uintptr) bool {
		n, err := unix.EpollWait(int(fd), evs, 0)
		if err != nil || n == 0 { // EINTR, or nothing yet: wait for the descriptor
			return false
		}
		k = n
		return true
	}
	lagging := map[*Conn]struct{}{} // batching Reads left waiting on bytes
	var nextDue int64               // when to look at them again, ns after epoch
	for {
		k = 0
		if len(lagging) > 0 {
			_ = p.ep.SetReadDeadline(time.Now().Add(maxLag / 8))
		} else {
			_ = p.ep.SetReadDeadline(time.Time{})
		}
		if err := raw.Read(harvest); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			panic("rxstamp: waiting on the epoll descriptor: " + err.Error()) // never closed
		}
		now := int64(time.Since(epoch))
		p.mu.Lock()
		for _, ev := range evs[:k] {
			id := getData(&ev)
			if id == 0 {
				var buf [8]byte
				_, _ = unix.Read(p.wake, buf[:])
				continue
			}
			c, ok := p.conns[id]
			if !ok {
				continue // removed after the edge
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				if c.fill(now, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0) {
					lagging[c] = struct{}{}
				} else {
					delete(lagging, c)
				}
			}
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				kick(c.wtok)
			}
		}
		if now >= nextDue { // not every batch: a thousand streams may be waiting
			for c := range lagging {
				if _, ok := p.conns[c.id]; !ok || !c.wakeDue(now) {
					delete(lagging, c)
				}
			}
			nextDue = now + int64(maxLag/8)
		}
		if len(p.conns) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if k < len(evs) {
			time.Sleep(coalesce)
		}
	}
}

// setData stores id in the event's user data (Fd and Pad, on every Linux
// architecture).
func setData(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

// getData returns the id setData stored.
func getData(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
