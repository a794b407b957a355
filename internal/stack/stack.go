// Package stack runs the real Jaeger v2 and Prometheus, and refserver, as
// child processes on free 127.0.0.1 ports, for integration tests and
// `llmbench demo`. It imports nothing of llmbench's.
//
// The binaries are the pinned builds `make tools` puts in bin/ (see
// tools/jaeger and tools/prometheus) and refserver from `make build`;
// Options.Find says where they are looked for, so that a copy of llmbench
// beside them works outside a checkout. Their configs are embedded
// (config/jaeger.yaml, config/prometheus.yml) and written into the child's
// folder. StartJaeger and StartPrometheus return once the service answers;
// Stop ends it. Each child writes its output to a log file in Options.Dir,
// and a start that fails quotes that log's last lines.
//
// Tests start them with package stacktest, which also gives them the
// analyzer's clients.
package stack

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// module is the main module's path, which marks the repository root.
const module = "github.com/llmbench/llmbench"

// ErrNotBuilt says a binary is missing; the error it is wrapped in says
// where it was looked for and how to get it.
var ErrNotBuilt = errors.New("not found")

//go:embed config/jaeger.yaml config/prometheus.yml
var configs embed.FS

// Config returns the embedded config called name: "jaeger.yaml" (Jaeger
// v2's, every address from the environment) or "prometheus.yml" (a
// text/template of Prometheus' with one scrape job per Target).
func Config(name string) ([]byte, error) {
	b, err := fs.ReadFile(configs, "config/"+name)
	if err != nil {
		return nil, fmt.Errorf("embedded config %s: %w", name, err)
	}
	return b, nil
}

// Options says where the binaries are and where a child keeps its files.
// The zero value finds the binaries as Find does and needs Dir set.
type Options struct {
	// Paths names binaries by their file outright, keyed by name
	// ("jaeger", "prometheus", "refserver"): what a command's -jaeger,
	// -prometheus and -refserver flags give. A named file must exist.
	Paths map[string]string
	// Bin is the one folder to look in. Empty means $LLMBENCH_BIN when
	// set, else: beside the running executable, then bin/ in the
	// repository root (found by walking up from the working directory to
	// llmbench's go.mod), then $PATH.
	Bin string
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
// "prometheus", "refserver") as the zero Options find it. When it is
// nowhere the error wraps ErrNotBuilt, names each place looked in and
// says how to get it.
func Find(name string) (string, error) {
	return Options{}.find(name)
}

func (o Options) find(name string) (string, error) {
	if path := o.Paths[name]; path != "" {
		if executable(path) {
			return path, nil
		}
		return "", fmt.Errorf("%s %s: %w, or not an executable file", name, path, ErrNotBuilt)
	}
	var looked []string
	try := func(dir string) (string, bool) {
		path := filepath.Join(dir, name)
		looked = append(looked, dir)
		return path, executable(path)
	}
	switch {
	case o.Bin != "":
		if path, ok := try(o.Bin); ok {
			return path, nil
		}
	case os.Getenv("LLMBENCH_BIN") != "":
		if path, ok := try(os.Getenv("LLMBENCH_BIN")); ok {
			return path, nil
		}
	default:
		if exe, err := os.Executable(); err == nil {
			if path, ok := try(filepath.Dir(exe)); ok {
				return path, nil
			}
		}
		if root, err := repoRoot(); err == nil {
			if path, ok := try(filepath.Join(root, "bin")); ok {
				return path, nil
			}
		}
		looked = append(looked, "$PATH")
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	how := "`make tools` builds the pinned Jaeger and Prometheus into bin/"
	if name == "refserver" {
		how = "`make build` builds it into bin/"
	}
	return "", fmt.Errorf("%s: %w in %s: %s; or put it beside llmbench, or name it with -%s PATH (or set $LLMBENCH_BIN to a folder that has it)",
		name, ErrNotBuilt, strings.Join(looked, ", "), how, name)
}

// executable says whether path is a file that may be executed.
func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory to the folder whose go.mod
// declares llmbench: in a checkout, bin/ is there.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRepoRoot(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod of %s above %s", module, wd)
		}
	}
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

// writeConfig writes the embedded config called name into dir and returns
// its path.
func writeConfig(dir, name string, b []byte) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return path, nil
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
