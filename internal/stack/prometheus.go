package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"text/template"
)

// Target is one scrape target.
type Target struct {
	Job  string // job label, e.g. "refserver"
	Addr string // host:port serving /metrics, e.g. "127.0.0.1:8000"
}

// Prometheus is a running Prometheus that scrapes its targets every
// second. Its methods are safe for concurrent use.
type Prometheus struct {
	URL    string // e.g. http://127.0.0.1:40123, the HTTP API's base
	Config string // path of the rendered prometheus.yml
	Log    string // path of the child's log file

	proc *process
}

// StartPrometheus renders the embedded config/prometheus.yml for targets
// into opt.Dir, starts bin/prometheus on a free port with its data in
// opt.Dir, and returns when it reports ready. ctx bounds the start only;
// the child runs until Stop. If the port was taken in the meantime, it
// tries once more on a new one.
func StartPrometheus(ctx context.Context, opt Options, targets []Target) (*Prometheus, error) {
	for _, t := range targets {
		if t.Job == "" {
			return nil, fmt.Errorf("prometheus target %q: no job name", t.Addr)
		}
		if _, _, err := net.SplitHostPort(t.Addr); err != nil {
			return nil, fmt.Errorf("prometheus target %q of job %s: %w", t.Addr, t.Job, err)
		}
	}
	bin, err := opt.find("prometheus")
	if err != nil {
		return nil, err
	}
	if opt.Dir == "" {
		return nil, errors.New("start prometheus: no Options.Dir")
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	config := filepath.Join(opt.Dir, "prometheus.yml")
	tmpl, err := Config("prometheus.yml")
	if err != nil {
		return nil, err
	}
	if err := renderPrometheusConfig(tmpl, config, targets); err != nil {
		return nil, err
	}
	p, err := startPrometheus(ctx, bin, config, opt.Dir)
	if err != nil && p != nil && p.proc.portClash() {
		p, err = startPrometheus(ctx, bin, config, opt.Dir)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// startPrometheus makes one attempt. On a failed start it returns the
// stopped Prometheus with the error, so that the caller can read its log.
func startPrometheus(ctx context.Context, bin, config, dir string) (*Prometheus, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", ports[0])
	p := &Prometheus{
		URL:    "http://" + addr,
		Config: config,
		Log:    filepath.Join(dir, "prometheus.log"),
	}
	args := []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + filepath.Join(dir, "prometheus-data"),
		"--web.listen-address=" + addr,
		// The load generator's -o experimental-prometheus-rw and -o
		// opentelemetry push here (127.0.0.1 only).
		"--web.enable-remote-write-receiver",
		"--web.enable-otlp-receiver",
	}
	p.proc, err = startProcess("prometheus", bin, args, nil, dir, p.Log)
	if err != nil {
		return nil, err
	}
	if err := p.proc.waitReady(ctx, func(ctx context.Context) error {
		return httpOK(ctx, p.URL+"/-/ready")
	}); err != nil {
		p.proc.stop()
		return p, err
	}
	return p, nil
}

// renderPrometheusConfig executes the template src for targets and
// writes the result to dst.
func renderPrometheusConfig(src []byte, dst string, targets []Target) error {
	tmpl, err := template.New("prometheus.yml").Parse(string(src))
	if err != nil {
		return fmt.Errorf("prometheus config template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct{ Targets []Target }{targets}); err != nil {
		return fmt.Errorf("render prometheus.yml: %w", err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

// Pid is the Prometheus process's id.
func (p *Prometheus) Pid() int { return p.proc.pid() }

// Stop stops Prometheus: SIGTERM, then SIGKILL after 10 s. It reports a
// Prometheus that had crashed or had to be killed. Calling it again
// returns the first call's result.
func (p *Prometheus) Stop() error { return p.proc.stop() }
