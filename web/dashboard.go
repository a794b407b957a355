package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
)

// DefaultDashboardAddr is where the live dashboard listens unless told
// otherwise: k6's web dashboard port, on loopback only.
const DefaultDashboardAddr = "127.0.0.1:5665"

//go:embed dashboard/index.html
var dashboardHTML []byte

//go:embed dashboard/dashboard.js
var dashboardJS []byte

// dashboardCSP lets the page run its own scripts from this server and
// nothing else.
const dashboardCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Dashboard is `llmbench run --dashboard`: a live page of the run as it
// goes on (request rate, TTFT/TPOT/ITL percentiles, tokens/s, errors, VUs,
// dropped iterations), pushed by server-sent events each second from the
// same intervals as the run folder's timeseries.jsonl, and drawn with the
// ECharts the reports embed, so that it works offline. When the run ends
// the page says so and links the run's report, which the dashboard then
// serves. Push, Finish and Close are safe for concurrent use.
type Dashboard struct {
	srv *http.Server
	ln  net.Listener
	url string

	mu        sync.Mutex
	intervals []*runfmt.Interval
	end       *dashboardEnd
	subs      map[chan struct{}]struct{}
	serveErr  chan error
	closeOnce sync.Once
	closeErr  error
}

// dashboardEnd is the page's "end" event.
type dashboardEnd struct {
	Status string `json:"status"`
	Dir    string `json:"dir"`
	Report string `json:"report,omitempty"` // a path on this server, when there is one
	Error  string `json:"error,omitempty"`
	report string // the file
}

// StartDashboard listens on addr (host:port; DefaultDashboardAddr when
// empty) and serves the dashboard until Close.
func StartDashboard(addr string) (*Dashboard, error) {
	if addr == "" {
		addr = DefaultDashboardAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &Dashboard{ln: ln, url: "http://" + ln.Addr().String() + "/", subs: map[chan struct{}]struct{}{}, serveErr: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.page)
	mux.HandleFunc("GET /dashboard.js", d.script)
	mux.HandleFunc("GET /echarts.min.js", d.echarts)
	mux.HandleFunc("GET /events", d.events)
	mux.HandleFunc("GET /report", d.report)
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { d.serveErr <- d.srv.Serve(ln) }()
	return d, nil
}

// URL is the page's address.
func (d *Dashboard) URL() string { return d.url }

// Push adds one interval of the run and sends it to every open page.
func (d *Dashboard) Push(iv *runfmt.Interval) {
	d.mu.Lock()
	d.intervals = append(d.intervals, iv)
	d.notify()
	d.mu.Unlock()
}

// Finish tells the pages that the run ended, with its status and run
// folder, and its report when reportPath names one (the dashboard serves
// it at /report from then on).
func (d *Dashboard) Finish(status, dir, reportPath string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := &dashboardEnd{Status: status, Dir: dir, report: reportPath}
	if reportPath != "" {
		e.Report = "/report"
	}
	if err != nil {
		e.Error = err.Error()
	}
	d.end = e
	d.notify()
}

// notify wakes every subscriber; d.mu is held.
func (d *Dashboard) notify() {
	for ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Close stops the server, ending the pages' event streams. Pages that
// were told of the end get it first. Calling it again does nothing.
func (d *Dashboard) Close() error {
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := d.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = d.srv.Close() // event streams do not end on their own
		}
		if e := <-d.serveErr; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		d.closeErr = err
	})
	return d.closeErr
}

func secureHeaders(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w, "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", dashboardCSP)
	w.Write(dashboardHTML)
}

func (d *Dashboard) script(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w, "text/javascript; charset=utf-8")
	w.Write(dashboardJS)
}

func (d *Dashboard) echarts(w http.ResponseWriter, r *http.Request) {
	js, err := reportgen.ECharts()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	secureHeaders(w, "text/javascript; charset=utf-8")
	w.Write(js)
}

// events streams the intervals as server-sent events: those so far, then
// each new one, then "end" when the run has ended.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	secureHeaders(w, "text/event-stream")
	w.WriteHeader(http.StatusOK)
	wake := make(chan struct{}, 1)
	d.mu.Lock()
	d.subs[wake] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.subs, wake)
		d.mu.Unlock()
	}()
	sent := 0
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		d.mu.Lock()
		pending := d.intervals[sent:]
		end := d.end
		d.mu.Unlock()
		for _, iv := range pending {
			b, _ := json.Marshal(iv)
			fmt.Fprintf(w, "event: interval\ndata: %s\n\n", b)
		}
		sent += len(pending)
		if end != nil {
			b, _ := json.Marshal(end)
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-wake:
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		case <-r.Context().Done():
			return
		}
	}
}

// report serves the run's report once the run has ended and it exists.
func (d *Dashboard) report(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	end := d.end
	d.mu.Unlock()
	if end == nil || end.report == "" {
		http.Error(w, "the run has not ended, or it has no report", http.StatusNotFound)
		return
	}
	b, err := os.ReadFile(end.report)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	serveReport(w, r, b)
}
