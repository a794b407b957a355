package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFind(t *testing.T) {
	withBin := t.TempDir()
	if err := os.WriteFile(filepath.Join(withBin, "jaeger"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withBin, "prometheus"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		opt         Options
		env         string // $LLMBENCH_BIN
		bin         string
		want        string
		wantMissing bool
	}{
		{name: "in Options.Bin", opt: Options{Bin: withBin}, bin: "jaeger", want: filepath.Join(withBin, "jaeger")},
		{name: "in $LLMBENCH_BIN", env: withBin, bin: "jaeger", want: filepath.Join(withBin, "jaeger")},
		{name: "Options.Bin before $LLMBENCH_BIN", opt: Options{Bin: t.TempDir()}, env: withBin, bin: "jaeger", wantMissing: true},
		{name: "missing", opt: Options{Bin: t.TempDir()}, bin: "jaeger", wantMissing: true},
		{name: "not executable", opt: Options{Bin: withBin}, bin: "prometheus", wantMissing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LLMBENCH_BIN", tt.env)
			got, err := tt.opt.find(tt.bin)
			if tt.wantMissing {
				if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "-"+tt.bin+" PATH") {
					t.Errorf("find(%q) error = %v, want ErrNotBuilt with the `make tools` hint", tt.bin, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("find(%q) = %q, %v; want %q", tt.bin, got, err, tt.want)
			}
		})
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "stack", "config", "jaeger.yaml")); err != nil {
		t.Errorf("repository root %s: %v", root, err)
	}
}

// TestFindBesideExecutable: a copy of llmbench in a folder of its own
// finds the binaries beside it, then on $PATH; and when they are nowhere
// the error names every place it looked and the flag.
func TestFindBesideExecutable(t *testing.T) {
	t.Setenv("LLMBENCH_BIN", "")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's folder is a temporary one: nothing called
	// "llmbench-test-tool" is beside it, in the checkout's bin/, or on PATH.
	onPath := t.TempDir()
	tool := filepath.Join(onPath, "llmbench-test-tool")
	t.Setenv("PATH", t.TempDir())
	_, err = Options{}.find("llmbench-test-tool")
	if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), filepath.Dir(exe)) || !strings.Contains(err.Error(), "$PATH") || !strings.Contains(err.Error(), "-llmbench-test-tool PATH") {
		t.Errorf("find of a missing binary: %v; want ErrNotBuilt naming %s, $PATH and the flag", err, filepath.Dir(exe))
	}
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", onPath)
	if got, err := (Options{}).find("llmbench-test-tool"); err != nil || got != tool {
		t.Errorf("find on $PATH = %q, %v; want %s", got, err, tool)
	}
	beside := filepath.Join(filepath.Dir(exe), "llmbench-test-tool")
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(beside)
	if got, err := (Options{}).find("llmbench-test-tool"); err != nil || got != beside {
		t.Errorf("find beside the executable = %q, %v; want %s before $PATH", got, err, beside)
	}
	if got, err := (Options{Paths: map[string]string{"llmbench-test-tool": tool}}).find("llmbench-test-tool"); err != nil || got != tool {
		t.Errorf("find by Paths = %q, %v; want %s before all", got, err, tool)
	}
	if _, err := (Options{Paths: map[string]string{"jaeger": filepath.Join(onPath, "nope")}}).find("jaeger"); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("find by a Paths entry that does not exist: %v, want ErrNotBuilt", err)
	}
}

func TestStartMissingBinary(t *testing.T) {
	opt := Options{Bin: t.TempDir(), Dir: t.TempDir()}
	if _, err := StartJaeger(t.Context(), opt); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("StartJaeger error = %v, want ErrNotBuilt", err)
	}
	if _, err := StartPrometheus(t.Context(), opt, nil); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("StartPrometheus error = %v, want ErrNotBuilt", err)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ports {
		if seen[p] || p == "0" {
			t.Errorf("ports %v: %s repeated or zero", ports, p)
		}
		seen[p] = true
	}
}

func TestRenderPrometheusConfig(t *testing.T) {
	src, err := Config("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		targets []Target
		want    []string // lines the output has
		wantNot []string
	}{
		{
			name:    "no targets",
			want:    []string{"  scrape_interval: 1s", "scrape_configs:"},
			wantNot: []string{"job_name"},
		},
		{
			name: "two targets",
			targets: []Target{
				{Job: "refserver", Addr: "127.0.0.1:8000"},
				{Job: "loadgen", Addr: "127.0.0.1:9100"},
			},
			want: []string{
				`  - job_name: "refserver"`,
				`      - targets: ["127.0.0.1:8000"]`,
				`  - job_name: "loadgen"`,
				`      - targets: ["127.0.0.1:9100"]`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "prometheus.yml")
			if err := renderPrometheusConfig(src, dst, tt.targets); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(data), "\n")
			has := func(want string) bool {
				for _, l := range lines {
					if l == want {
						return true
					}
				}
				return false
			}
			for _, want := range tt.want {
				if !has(want) {
					t.Errorf("rendered config lacks line %q:\n%s", want, data)
				}
			}
			for _, not := range tt.wantNot {
				if strings.Contains(string(data), not) {
					t.Errorf("rendered config has %q:\n%s", not, data)
				}
			}
			if strings.Contains(string(data), "{{") {
				t.Errorf("rendered config has template actions left:\n%s", data)
			}
		})
	}
}

func TestProcess(t *testing.T) {
	t.Run("exits while starting", func(t *testing.T) {
		dir := t.TempDir()
		p, err := startProcess("crasher", "/bin/sh", []string{"-c", "echo boom: address already in use >&2; exit 3"},
			nil, dir, filepath.Join(dir, "crasher.log"))
		if err != nil {
			t.Fatal(err)
		}
		err = p.waitReady(t.Context(), func(ctx context.Context) error { return errors.New("not yet") })
		if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "exited while starting") {
			t.Errorf("waitReady error = %v, want one quoting the log", err)
		}
		if !p.portClash() {
			t.Error("portClash = false, want true")
		}
		if err := p.stop(); err == nil {
			t.Error("stop of a crashed child = nil, want an error")
		}
	})
	t.Run("stop", func(t *testing.T) {
		dir := t.TempDir()
		p, err := startProcess("sleeper", "/bin/sh", []string{"-c", "exec sleep 60"}, nil, dir, filepath.Join(dir, "sleeper.log"))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.waitReady(t.Context(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.stop(); err != nil {
			t.Errorf("stop = %v, want nil", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stop took %v", d)
		}
		checkGone(t, p.pid())
		if err := p.stop(); err != nil {
			t.Errorf("second stop = %v, want nil", err)
		}
	})
}

// checkGone fails the test if a process with id pid still exists.
func checkGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill -0: %v)", pid, err)
	}
}
