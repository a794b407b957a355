// Package stack runs the real Jaeger v2 and Prometheus as child processes
// on free 127.0.0.1 ports, for integration tests and `llmbench demo`.
//
// The binaries are the pinned builds `make tools` puts in bin/ (see
// tools/jaeger and tools/prometheus); their configs are deploy/jaeger and
// deploy/prometheus. StartJaeger and StartPrometheus return once the
// service answers; Stop ends it. Each child writes its output to a log file
// in Options.Dir, and a start that fails quotes that log's last lines.
//
// In tests, JaegerForTest and PrometheusForTest do all of this and skip
// the test (or, under `make test`, fail it) when the binaries are missing.
package stack

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// module is the main module's path, which marks the repository root.
const module = "github.com/llmbench/llmbench"

// ErrNotBuilt says a binary is missing; the error it is wrapped in tells
// the user to run `make tools`.
var ErrNotBuilt = errors.New("not built")

// Options says where the binaries are and where a child keeps its files.
// The zero value finds the binaries as Find does and needs Dir set.
type Options struct {
	// Bin is the folder with the jaeger and prometheus binaries. Empty
	// means $LLMBENCH_BIN, else bin/ in the repository root, which is
	// found by walking up from the working directory, then from the
	// running executable, to llmbench's go.mod.
	Bin string
	// Deploy is the folder with jaeger/config.yaml and
	// prometheus/prometheus.yml. Empty means deploy/ in the repository root.
	Deploy string
	// Dir is the child's working folder for its rendered config, data and
	// log (jaeger.log, prometheus.log), e.g. runs/<id>/stack or t.TempDir().
	// It is created if missing. Required.
	Dir string
	// Cores, when set, pins the child to these cores, in taskset's list
	// form (e.g. "0", "2-3"), as a user pins a server; empty: any core
	// this process may use.
	Cores string
}

// command is the program and arguments that run bin with args, pinned to
// o.Cores with taskset(1) when they are set.
func (o Options) command(bin string, args []string) (string, []string, error) {
	if o.Cores == "" {
		return bin, args, nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return "", nil, fmt.Errorf("pin to cores %s: %w (taskset is in util-linux)", o.Cores, err)
	}
	return taskset, append([]string{"-c", o.Cores, bin}, args...), nil
}

// Find returns the path of the binary called name ("jaeger",
// "prometheus") in the default bin folder (see Options.Bin). When it is not
// there the error wraps ErrNotBuilt and says to run `make tools`.
func Find(name string) (string, error) {
	return Options{}.find(name)
}

func (o Options) find(name string) (string, error) {
	dir, err := o.binDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s: %w: run `make tools` to build the pinned Jaeger and Prometheus into bin/ "+
			"(or set $LLMBENCH_BIN to a folder that has them)", path, ErrNotBuilt)
	}
	return path, nil
}

func (o Options) binDir() (string, error) {
	if o.Bin != "" {
		return o.Bin, nil
	}
	if dir := os.Getenv("LLMBENCH_BIN"); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("find bin folder: %w; set $LLMBENCH_BIN", err)
	}
	return filepath.Join(root, "bin"), nil
}

func (o Options) deployDir() (string, error) {
	if o.Deploy != "" {
		return o.Deploy, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("find deploy folder: %w", err)
	}
	return filepath.Join(root, "deploy"), nil
}

// repoRoot walks up from the working directory, then from the running
// executable's folder, to the folder whose go.mod declares llmbench.
func repoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			if isRepoRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("no go.mod of %s above %s", module, strings.Join(starts, " or "))
}

// isRepoRoot says whether dir/go.mod declares the llmbench module (tools/*
// have go.mods of their own).
func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == module
		}
	}
	return false
}

// freePorts returns n distinct free ports on 127.0.0.1. It listens on
// port 0 and closes the listeners, so another process may take a port
// before the child binds it. That race is small; the Start functions
// retry once, on new ports, when a child reports "address already in use".
func freePorts(n int) ([]string, error) {
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}
