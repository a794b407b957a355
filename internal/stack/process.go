package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long a child may take to answer.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// tailLines is how much of a child's log an error quotes.
	tailLines = 20
)

// process is a running child. It owns the goroutine that waits for the
// child's exit; stop ends the child and that goroutine.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the child has exited
	waitErr error         // why it exited; read after done is closed

	stopOnce sync.Once
	stopErr  error
}

// startProcess starts bin with args in dir, with env added to a copy of
// this process's environment less its OTEL_* variables (they would point
// the child's own telemetry at the collector under test). The child's
// stdout and stderr are appended to logPath.
func startProcess(name, bin string, args, env []string, dir, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "== %s: %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// pid is the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited says whether the child has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady calls check until it succeeds, the child exits, ctx ends or
// readyTimeout passes. Its errors quote the end of the child's log.
func (p *process) waitReady(ctx context.Context, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, readyTimeout, fmt.Errorf("no answer within %v", readyTimeout))
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting (%v); end of %s:\n%s", p.name, p.waitErr, p.logPath, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v (last check: %v); end of %s:\n%s",
				p.name, context.Cause(ctx), err, p.logPath, p.tail())
		case <-tick.C:
		}
	}
}

// portClash says whether the child's log reports that a port was taken.
func (p *process) portClash() bool {
	return strings.Contains(p.tail(), "address already in use")
}

// tail is the last lines of the child's log.
func (p *process) tail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-tailLines):]
	return string(bytes.TrimSpace([]byte(strings.Join(lines, "\n"))))
}

// stop sends SIGTERM, waits stopTimeout for the child to exit, then kills
// it. It reports a child that had already died, or had to be killed.
// Calling it again returns the first call's result.
func (p *process) stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.terminate() })
	return p.stopErr
}

func (p *process) terminate() error {
	if p.exited() {
		return fmt.Errorf("%s had exited (%v); end of %s:\n%s", p.name, p.waitErr, p.logPath, p.tail())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %v of SIGTERM and was killed; end of %s:\n%s",
		p.name, stopTimeout, p.logPath, p.tail())
}
