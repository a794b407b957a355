//go:build linux

package rxstamp

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// coalesce is how long the poller lets arrivals gather after a round
// that found some. A load generator at 1,000 streams of 50 tokens a
// second otherwise wakes a thread for almost every token, and on a small
// or virtual machine those wake-ups, not the reads, were most of its CPU
// (about 20 µs of a token's 25). Reading an event up to this much later
// does not move its time: the kernel stamped its arrival.
const coalesce = time.Millisecond

// thePoller watches every Conn of the process.
var thePoller poller

// poller is an epoll instance of its own for the Conns' sockets,
// edge-triggered. A round takes the edges that are ready, without
// waiting, and reads the sockets they name into their Conns' queues
// (Conn.fill).
//
// Rounds come from two places. The poller's goroutine, started with the
// first Conn and ended when the last one is removed, runs one every
// coalesce while there is traffic, and blocks in poll(2) while there is
// none. And a Conn's Read or Write runs one when the latest is coalesce
// old: when the CPU is busy with the readers' own work (a thousand VUs
// that end a request and start the next at once), the goroutine may wait
// that long for its turn, but the readers keep the rounds coming, and no
// socket waits so long that its next event arrives and the kernel merges
// the two. Rounds take no lock for long, and none across a fill: a
// goroutine preempted in a round must not stop the others.
type poller struct {
	mu      sync.Mutex // add and remove, and the goroutine's start and end
	ep      int        // the epoll descriptor, 0 until the first add
	wake    int        // eventfd that ends a wait when the last Conn leaves
	n       int        // Conns watched
	next    uint64
	running bool

	// What rounds use takes no lock that a preempted goroutine could
	// hold for long: a round must not wait on another.
	conns   sync.Map     // id → *Conn
	pending chan *Conn   // sockets with an edge, to read (see round)
	last    atomic.Int64 // when the latest round began, ns after epoch
	nextDue atomic.Int64 // when to look at the lagging Reads again
	lagging atomic.Int64 // how many Conns are marked lagging (a hint)
	bufs    sync.Pool    // *[]unix.EpollEvent, a round's
}

// add watches c's socket and starts the poller's goroutine if it is not
// running.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == 0 {
		if err := p.init(); err != nil {
			return err
		}
	}
	p.next++
	c.id = p.next
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	setData(&ev, c.id)
	if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	p.conns.Store(c.id, c)
	p.n++
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
	if _, ok := p.conns.LoadAndDelete(c.id); !ok {
		return
	}
	p.n--
	_ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	if p.n == 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(p.wake, one[:])
	}
}

// init creates the epoll descriptor and the wake-up eventfd in it.
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
	p.ep, p.wake, p.pending = ep, wake, make(chan *Conn, pendingMax)
	return nil
}

// loop runs rounds until no Conn is left: one every coalesce while they
// find traffic; after one that found none it waits in poll(2) on the
// epoll descriptor (a blocked system call, which holds no P) for the
// next edge, or, while a batching Read waits, at most until it may be
// due.
func (p *poller) loop() {
	idle := false
	for {
		if idle {
			p.await()
		}
		k := p.round(int64(time.Since(epoch)))
		p.mu.Lock()
		if p.n == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		idle = k == 0
		if !idle && k < roundEdges {
			time.Sleep(coalesce)
		}
	}
}

// maybeRound runs a round if the latest began coalesce ago or more and
// no other goroutine starts one first. Read and Write call it.
func (p *poller) maybeRound() {
	now := int64(time.Since(epoch))
	prev := p.last.Load()
	if now-prev < int64(coalesce) || !p.last.CompareAndSwap(prev, now) {
		return
	}
	p.round(now)
}

// await waits until an edge is ready, up to a second, or less while a
// batching Read waits on bytes (it is due maxLag after them).
func (p *poller) await() {
	wait := 1000
	if p.lagging.Load() > 0 {
		wait = int(maxLag / 8 / time.Millisecond)
	}
	fds := [1]unix.PollFd{{Fd: int32(p.ep), Events: unix.POLLIN}}
	_, _ = unix.Poll(fds[:], wait) // EINTR or a timeout: a round finds out
}

// roundEdges is the most edges a round takes.
const roundEdges = 256

// round takes the edges that are ready and reads the sockets they name
// into their queues, and any other sockets that rounds left to read;
// then it wakes the Reads that are due. It returns how many edges it
// took. now is when it began, ns after epoch.
//
// The sockets go through one list, p.pending, a socket at a time: a
// goroutine preempted in a round (one of a thousand VUs, say, sent to
// the back of the run queue) delays the one socket it is reading, not
// the 256 it took edges for, which the next round reads.
func (p *poller) round(now int64) int {
	p.last.Store(now)
	bp, _ := p.bufs.Get().(*[]unix.EpollEvent)
	if bp == nil {
		b := make([]unix.EpollEvent, roundEdges)
		bp = &b
	}
	evs := *bp
	k, err := unix.EpollWait(p.ep, evs, 0)
	if err != nil { // EINTR
		k = 0
	}
	for _, ev := range evs[:k] {
		id := getData(&ev)
		if id == 0 {
			var buf [8]byte
			_, _ = unix.Read(p.wake, buf[:])
			continue
		}
		v, ok := p.conns.Load(id)
		if !ok {
			continue // removed after the edge
		}
		c := v.(*Conn)
		end := ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
		if ev.Events&unix.EPOLLOUT != 0 || end {
			kick(c.wtok)
		}
		if ev.Events&unix.EPOLLIN == 0 && !end {
			continue
		}
		if end {
			c.ended.Store(true)
		}
		c.refill.Store(true)
		if c.pending.CompareAndSwap(false, true) {
			if !c.incref() {
				continue // closed
			}
			select {
			case p.pending <- c:
			default: // never, with fewer than pendingMax Conns: read it here
				c.pending.Store(false)
				c.fill(now)
				c.decref()
			}
		}
	}
	p.bufs.Put(bp)

	for {
		var c *Conn
		select {
		case c = <-p.pending:
		default:
		}
		if c == nil {
			break
		}
		c.pending.Store(false)
		c.fill(now)
		c.decref()
	}

	if due := p.nextDue.Load(); now >= due && p.nextDue.CompareAndSwap(due, now+int64(maxLag/8)) {
		// Not every round: a thousand streams may be waiting.
		p.conns.Range(func(_, v any) bool {
			if c := v.(*Conn); c.lagging.Load() {
				c.wakeDue(now)
			}
			return true
		})
	}
	return k
}

// pendingMax bounds the pending queue: more Conns than this with an edge
// at once are read by the round that took the edge.
const pendingMax = 1 << 16

// setLagging marks c as a batching Read left waiting on bytes, or not,
// and keeps the count await looks at. c.qmu is held, or c is closed.
func (p *poller) setLagging(c *Conn, on bool) {
	if c.lagging.Swap(on) != on {
		if on {
			p.lagging.Add(1)
		} else {
			p.lagging.Add(-1)
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
