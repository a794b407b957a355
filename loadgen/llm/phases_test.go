package llm

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"
)

// get sends a GET through TraceRequest and reads the body.
func get(t *testing.T, ctx context.Context, hc *http.Client, url string) *PhaseTimer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, pt := TraceRequest(req)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	pt.Done()
	return pt
}

func TestPhases(t *testing.T) {
	const pause = 20 * time.Millisecond
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(pause) // waiting
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		time.Sleep(pause) // receiving
		io.WriteString(w, "body")
	})
	tests := []struct {
		name string
		tls  bool
	}{
		{"plain", false},
		{"tls", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(handler)
			if tt.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			hc := srv.Client()

			for i, reused := range []bool{false, true} {
				pt := get(t, context.Background(), hc, srv.URL)
				p := pt.Phases()
				if reused {
					if p.Connecting != 0 || p.TLS != 0 {
						t.Errorf("request %d: got connecting %v, tls %v on a reused connection, want 0", i, p.Connecting, p.TLS)
					}
				} else {
					if p.Connecting <= 0 || (p.TLS > 0) != tt.tls {
						t.Errorf("request %d: got connecting %v, tls %v on a new connection, want connecting > 0 and tls > 0 = %v", i, p.Connecting, p.TLS, tt.tls)
					}
				}
				// The server waits pause before its headers, so waiting is
				// at least pause; it waits pause again before the body, but
				// the client may notice the headers late, so receiving gets
				// a margin.
				if p.Waiting < pause || p.Receiving < pause/2 {
					t.Errorf("request %d: got waiting %v, receiving %v; want at least %v and %v", i, p.Waiting, p.Receiving, pause, pause/2)
				}
				if p.Duration() != p.Sending+p.Waiting+p.Receiving {
					t.Errorf("request %d: got duration %v, want sending + waiting + receiving", i, p.Duration())
				}
				// The phases tile the request: start → done, with no gap.
				total := p.Blocked + p.Connecting + p.TLS + p.Duration()
				if want := pt.done.Sub(pt.Started()); total != want {
					t.Errorf("request %d: got phases summing to %v, want start → done = %v (%+v)", i, total, want, p)
				}
				if pt.Sent().Before(pt.Started()) || pt.FirstByte().Before(pt.Sent()) {
					t.Errorf("request %d: got started %v, sent %v, first byte %v; want them in order", i, pt.Started(), pt.Sent(), pt.FirstByte())
				}
			}
		})
	}
}

func TestPhasesKeepsCallerTrace(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var called atomic.Bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { called.Store(true) },
	})
	pt := get(t, ctx, srv.Client(), srv.URL)
	if !called.Load() || pt.FirstByte().IsZero() {
		t.Errorf("got caller's hook called %v, first byte %v; want both", called.Load(), pt.FirstByte())
	}
}

func TestPhasesRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req, pt := TraceRequest(req)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("got a response from a closed port, want an error")
	}
	if p := pt.Phases(); !pt.Sent().IsZero() || p.Connecting != 0 || p.Duration() != 0 {
		t.Errorf("got sent %v, phases %+v; want nothing sent and no phases", pt.Sent(), p)
	}
}

// TestFirstByteAt checks that a kernel stamp moves the first byte back, but
// never before the request was written nor later than the transport saw it.
func TestFirstByteAt(t *testing.T) {
	wrote := time.Now()
	seen := wrote.Add(10 * time.Millisecond)
	for _, tt := range []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"earlier stamp", wrote.Add(4 * time.Millisecond), wrote.Add(4 * time.Millisecond)},
		{"before the request was written", wrote.Add(-time.Millisecond), seen},
		{"after the transport saw it", seen.Add(time.Millisecond), seen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pt := &PhaseTimer{wrote: wrote, firstByte: seen}
			pt.FirstByteAt(tt.at)
			if got := pt.FirstByte(); !got.Equal(tt.want) {
				t.Errorf("first byte %v after the write, want %v", got.Sub(wrote), tt.want.Sub(wrote))
			}
		})
	}
}
