package llm

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// Phases are the phases of one HTTP request as k6 defines its http_req_*
// metrics. Blocked, Connecting and TLS happen before the request is sent;
// Sending, Waiting and Receiving add up to Duration.
type Phases struct {
	Blocked    time.Duration // start → connection obtained, less Connecting and TLS (waiting for a free connection)
	Connecting time.Duration // TCP connect; 0 on a reused connection
	TLS        time.Duration // TLS handshake; 0 without TLS or on a reused connection
	Sending    time.Duration // connection obtained → request written (headers and body)
	Waiting    time.Duration // request written → first response byte
	Receiving  time.Duration // first response byte → body done (PhaseTimer.Done)
}

// Duration is k6's http_req_duration: Sending + Waiting + Receiving.
func (p Phases) Duration() time.Duration { return p.Sending + p.Waiting + p.Receiving }

// PhaseTimer records the moments of one HTTP request through
// net/http/httptrace. Make one with TraceRequest. Its methods are safe for
// concurrent use: the transport calls its hooks from its own goroutines.
type PhaseTimer struct {
	mu           sync.Mutex
	start        time.Time
	gotConn      time.Time
	reused       bool
	connectStart time.Time
	connectDone  time.Time
	tlsStart     time.Time
	tlsDone      time.Time
	wrote        time.Time
	firstByte    time.Time
	done         time.Time
	conn         net.Conn // the connection the request went out on
}

// TraceRequest returns a copy of req whose context records the request's
// phases in the returned PhaseTimer, which starts now. Hooks already in
// req's context (httptrace.WithClientTrace) keep working. Call Done when
// the response body has been read.
func TraceRequest(req *http.Request) (*http.Request, *PhaseTimer) {
	t := &PhaseTimer{start: time.Now()}
	ct := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			t.set(&t.gotConn)
			t.mu.Lock()
			t.reused, t.conn = info.Reused, info.Conn
			t.mu.Unlock()
		},
		ConnectStart: func(string, string) {
			now := time.Now()
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.connectStart.IsZero() { // several dials (happy eyeballs): from the first
				t.connectStart = now
			}
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.set(&t.connectDone)
			}
		},
		TLSHandshakeStart: func() { t.set(&t.tlsStart) },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { t.set(&t.tlsDone) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				t.set(&t.wrote)
			}
		},
		GotFirstResponseByte: func() { t.set(&t.firstByte) },
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), ct)), t
}

func (t *PhaseTimer) set(at *time.Time) {
	now := time.Now()
	t.mu.Lock()
	*at = now
	t.mu.Unlock()
}

// Done records that the response body has been read (or abandoned) now.
func (t *PhaseTimer) Done() { t.DoneAt(time.Now()) }

// DoneAt records that the response body was done at a given time, for a
// caller that took the time itself.
func (t *PhaseTimer) DoneAt(at time.Time) {
	t.mu.Lock()
	t.done = at
	t.mu.Unlock()
}

// Started is when TraceRequest was called.
func (t *PhaseTimer) Started() time.Time { return t.start }

// Sent is when the request was written, headers and body; zero if it was
// not (the connection failed).
func (t *PhaseTimer) Sent() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wrote
}

// Conn is the connection the request was sent on; nil before there was
// one.
func (t *PhaseTimer) Conn() net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn
}

// FirstByteAt moves the first response byte back to at, when the kernel
// stamped its arrival earlier than the transport could note it (at
// must not be before the request was written).
func (t *PhaseTimer) FirstByteAt(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.firstByte.IsZero() && at.Before(t.firstByte) && !at.Before(t.wrote) {
		t.firstByte = at
	}
}

// FirstByte is when the first byte of the response arrived; zero if none
// did.
func (t *PhaseTimer) FirstByte() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstByte
}

// Phases returns the phases recorded so far. A phase whose end did not
// happen is 0; a phase that would be negative (a server that answers
// before it has read the whole request) is 0 too.
func (t *PhaseTimer) Phases() Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	var p Phases
	if !t.reused {
		p.Connecting = span(t.connectStart, t.connectDone)
		p.TLS = span(t.tlsStart, t.tlsDone)
	}
	p.Blocked = max(0, span(t.start, t.gotConn)-p.Connecting-p.TLS)
	p.Sending = span(t.gotConn, t.wrote)
	p.Waiting = span(t.wrote, t.firstByte)
	p.Receiving = span(t.firstByte, t.done)
	return p
}

// span is b − a when both happened and b is not before a, else 0.
func span(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return b.Sub(a)
}

// Reused reports whether the request went over a kept-alive connection.
func (t *PhaseTimer) Reused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reused
}

// connected reports whether a connection was obtained.
func (t *PhaseTimer) connected() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.gotConn.IsZero()
}
