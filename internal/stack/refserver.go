package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Refserver is a running refserver child process. Its methods are safe for
// concurrent use.
type Refserver struct {
	Addr string // host:port it serves on, e.g. 127.0.0.1:43511
	URL  string // http://Addr
	Log  string // its log file
	proc *process
}

// StartRefserver starts bin/refserver on a free 127.0.0.1 port with the
// extra args given (e.g. --otlp-endpoint, --max-batch), pinned to
// Options.Cores when set, logging to Options.Dir/refserver.log, and
// returns once GET /health answers.
func StartRefserver(ctx context.Context, opt Options, args ...string) (*Refserver, error) {
	bin, err := opt.find("refserver")
	if err != nil {
		return nil, fmt.Errorf("start refserver: %w", err)
	}
	if opt.Dir == "" {
		return nil, errors.New("start refserver: no Options.Dir")
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start refserver: %w", err)
	}
	var last error
	for range 2 { // a port taken between choosing and binding: once more
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", ports[0])
		r := &Refserver{Addr: addr, URL: "http://" + addr, Log: filepath.Join(opt.Dir, "refserver.log")}
		prog, argv, err := opt.command(bin, append([]string{"--addr", addr}, args...))
		if err != nil {
			return nil, err
		}
		r.proc, err = startProcess("refserver", prog, argv, nil, opt.Dir, r.Log)
		if err != nil {
			return nil, err
		}
		if last = r.proc.waitReady(ctx, func(ctx context.Context) error { return httpOK(ctx, r.URL+"/health") }); last == nil {
			return r, nil
		}
		r.proc.stop()
		if !r.proc.portClash() {
			break
		}
	}
	return nil, last
}

// Pid is the refserver process's id.
func (r *Refserver) Pid() int { return r.proc.pid() }

// Stop drains refserver (SIGTERM), killing it after a timeout.
func (r *Refserver) Stop() error { return r.proc.stop() }
