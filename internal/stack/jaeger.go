package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Jaeger is a running Jaeger v2 with memory storage. Its addresses are
// host:port on 127.0.0.1. Its methods are safe for concurrent use.
type Jaeger struct {
	OTLPGRPC  string // OTLP gRPC receiver: the --otlp-endpoint for refserver and the load generator
	OTLPHTTP  string // OTLP HTTP receiver (POST /v1/traces)
	QueryGRPC string // query API (api_v2.QueryService): the analyzer's source
	UI        string // web UI and HTTP query API: http://UI/
	Health    string // health check: GET http://Health/status
	Log       string // path of the child's log file

	proc *process
}

// StartJaeger starts jaeger (see Options.Bin) with the embedded
// config/jaeger.yaml on free
// ports and returns when it takes spans and answers queries. ctx bounds
// the start only; the child runs until Stop. If a port was taken in the
// meantime, it tries once more on new ports.
func StartJaeger(ctx context.Context, opt Options) (*Jaeger, error) {
	bin, err := opt.find("jaeger")
	if err != nil {
		return nil, err
	}
	if opt.Dir == "" {
		return nil, errors.New("start jaeger: no Options.Dir")
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start jaeger: %w", err)
	}
	b, err := Config("jaeger.yaml")
	if err != nil {
		return nil, err
	}
	config, err := writeConfig(opt.Dir, "jaeger.yaml", b)
	if err != nil {
		return nil, fmt.Errorf("start jaeger: %w", err)
	}
	j, err := startJaeger(ctx, bin, config, opt.Dir)
	if err != nil && j != nil && j.proc.portClash() {
		j, err = startJaeger(ctx, bin, config, opt.Dir)
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// startJaeger makes one attempt. On a failed start it returns the stopped
// Jaeger with the error, so that the caller can read its log.
func startJaeger(ctx context.Context, bin, config, dir string) (*Jaeger, error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", ports[i]) }
	j := &Jaeger{
		OTLPGRPC:  addr(0),
		OTLPHTTP:  addr(1),
		QueryGRPC: addr(2),
		UI:        addr(3),
		Health:    addr(4),
		Log:       filepath.Join(dir, "jaeger.log"),
	}
	env := []string{
		"JAEGER_LISTEN_HOST=127.0.0.1",
		"JAEGER_OTLP_GRPC_PORT=" + ports[0],
		"JAEGER_OTLP_HTTP_PORT=" + ports[1],
		"JAEGER_QUERY_GRPC_PORT=" + ports[2],
		"JAEGER_QUERY_HTTP_PORT=" + ports[3],
		"JAEGER_HEALTH_PORT=" + ports[4],
	}
	j.proc, err = startProcess("jaeger", bin, []string{"--config", config}, env, dir, j.Log)
	if err != nil {
		return nil, err
	}
	if err := j.proc.waitReady(ctx, j.ready); err != nil {
		j.proc.stop()
		return j, err
	}
	return j, nil
}

// ready says whether the health check reports OK and the OTLP and query
// gRPC ports take connections.
func (j *Jaeger) ready(ctx context.Context) error {
	if err := httpOK(ctx, "http://"+j.Health+"/status"); err != nil {
		return err
	}
	for _, addr := range []string{j.OTLPGRPC, j.QueryGRPC} {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

// httpOK says whether GET url answers 200.
func httpOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Pid is the Jaeger process's id.
func (j *Jaeger) Pid() int { return j.proc.pid() }

// Stop stops Jaeger: SIGTERM, then SIGKILL after 10 s. It reports a
// Jaeger that had crashed or had to be killed. Calling it again returns
// the first call's result.
func (j *Jaeger) Stop() error { return j.proc.stop() }
