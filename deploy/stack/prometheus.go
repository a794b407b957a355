package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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

// StartPrometheus renders deploy/prometheus/prometheus.yml for targets
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
	deploy, err := opt.deployDir()
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
	if err := renderPrometheusConfig(filepath.Join(deploy, "prometheus", "prometheus.yml"), config, targets); err != nil {
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

// renderPrometheusConfig executes the template at src for targets and
// writes the result to dst.
func renderPrometheusConfig(src, dst string, targets []Target) error {
	tmpl, err := template.ParseFiles(src)
	if err != nil {
		return fmt.Errorf("prometheus config template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct{ Targets []Target }{targets}); err != nil {
		return fmt.Errorf("render %s: %w", src, err)
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

// Query evaluates an instant PromQL query now and returns the value of
// its first sample, and false when the result is empty.
func (p *Prometheus) Query(ctx context.Context, promql string) (float64, bool, error) {
	return query(ctx, p.URL, promql)
}

// query is Prometheus.Query against the HTTP API at base.
func query(ctx context.Context, base, promql string) (float64, bool, error) {
	u := base + "/api/v1/query?" + url.Values{"query": {promql}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false, fmt.Errorf("query %q: %w", promql, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("query %q: %w", promql, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, false, fmt.Errorf("query %q: %s: decode: %w", promql, resp.Status, err)
	}
	if body.Status != "success" {
		return 0, false, fmt.Errorf("query %q: %s: %s: %s", promql, resp.Status, body.ErrorType, body.Error)
	}
	var sample [2]json.RawMessage // [unix time, "value"]
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Value [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return 0, false, fmt.Errorf("query %q: vector: %w", promql, err)
		}
		if len(vec) == 0 {
			return 0, false, nil
		}
		sample = vec[0].Value
	case "scalar":
		if err := json.Unmarshal(body.Data.Result, &sample); err != nil {
			return 0, false, fmt.Errorf("query %q: scalar: %w", promql, err)
		}
	default:
		return 0, false, fmt.Errorf("query %q: result type %q: want vector or scalar", promql, body.Data.ResultType)
	}
	var s string
	if err := json.Unmarshal(sample[1], &s); err != nil {
		return 0, false, fmt.Errorf("query %q: sample value %s: %w", promql, sample[1], err)
	}
	v, err := strconv.ParseFloat(s, 64) // also takes "NaN", "+Inf"
	if err != nil {
		return 0, false, fmt.Errorf("query %q: sample value: %w", promql, err)
	}
	return v, true, nil
}
