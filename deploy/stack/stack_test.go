package stack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
				if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "make tools") {
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
	for _, f := range []string{"deploy/jaeger/config.yaml", "deploy/prometheus/prometheus.yml"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("repository root %s: %v", root, err)
		}
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
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "deploy", "prometheus", "prometheus.yml")
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

func TestQuery(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    float64
		wantOK  bool
		wantErr bool
	}{
		{
			name:   "vector",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"demo_total"},"value":[1700000000.5,"3"]},{"metric":{},"value":[1700000000.5,"4"]}]}}`,
			want:   3, wantOK: true,
		},
		{
			name:   "empty vector",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		},
		{
			name:   "scalar",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.25"]}}`,
			want:   0.25, wantOK: true,
		},
		{
			name:    "matrix",
			status:  200,
			body:    `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
			wantErr: true,
		},
		{
			name:    "bad query",
			status:  400,
			body:    `{"status":"error","errorType":"bad_data","error":"parse error"}`,
			wantErr: true,
		},
		{
			name:    "not json",
			status:  502,
			body:    `bad gateway`,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotQuery string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotQuery = r.URL.Query().Get("query")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			got, ok, err := query(t.Context(), srv.URL, `sum(rate(x{job="a"}[5s]))`)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("query error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("query = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			if want := `sum(rate(x{job="a"}[5s]))`; gotQuery != want {
				t.Errorf("server got query %q, want %q", gotQuery, want)
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
