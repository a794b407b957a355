package layers

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/llmbench/llmbench"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs `go list -deps -json` on the module's packages (not their
// tests: a test may import what it needs).
func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps=false", "-json=ImportPath,Imports,Deps"}, patterns...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rel is path inside the module, or "" for one outside it.
func rel(path string) string {
	if path == module {
		return "."
	}
	r, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return r
}

// under says whether path is dir or inside it.
func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// component names the part of the tree path belongs to: a shared
// package's root, internal/demo, cmd, or a top-level folder.
func component(path string) string {
	if under(path, "internal/stack/stacktest") {
		return "internal/stack/stacktest"
	}
	for _, s := range Shared {
		if under(path, s) {
			return s
		}
	}
	switch {
	case under(path, "internal/demo"):
		return "internal/demo"
	case under(path, "internal/layers"):
		return "internal/layers"
	case under(path, "cmd"):
		return "cmd"
	}
	return strings.SplitN(path, "/", 2)[0]
}

func isShared(c string) bool { return slices.Contains(Shared, c) }

// check says why the import of to by from breaks the rule, or "".
func check(from, to string) string {
	cf, ct := component(from), component(to)
	switch {
	case cf == ct || cf == "cmd":
		return ""
	case slices.Contains(Isolated, cf):
		return cf + " imports nothing of llmbench's"
	case isShared(cf) && !isShared(ct):
		return "a shared package imports only shared ones"
	}
	allowed, ok := Allowed[cf]
	switch {
	case !isShared(cf) && !ok:
		return "component " + cf + " is not in layers.Allowed: place it"
	case isShared(ct):
		return ""
	case !slices.Contains(allowed, ct):
		return cf + " may not import " + ct + " (a component imports only downward: see package layers)"
	}
	return ""
}

// TestImports checks every import of every package of the module against
// the rule.
func TestImports(t *testing.T) {
	pkgs := list(t, "./...")
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages, want the whole module", len(pkgs))
	}
	for _, p := range pkgs {
		from := rel(p.ImportPath)
		for _, imp := range p.Imports {
			to := rel(imp)
			if to == "" {
				continue
			}
			if why := check(from, to); why != "" {
				t.Errorf("%s imports %s: %s", from, to, why)
			}
		}
	}
}

// TestProductBinaries: llmbench and refserver link neither the testing
// package nor the developers' benchmarks.
func TestProductBinaries(t *testing.T) {
	for _, p := range list(t, "./cmd/llmbench", "./cmd/refserver") {
		for _, d := range p.Deps {
			name := d
			if r := rel(d); r != "" {
				name = r
			}
			for _, dev := range DevOnly {
				if name == dev || strings.HasPrefix(name, dev+"/") {
					t.Errorf("%s links %s, which belongs in llmbench-dev or in tests", rel(p.ImportPath), name)
				}
			}
		}
	}
}

// TestRule: the rule itself, on made-up imports, catches what it must.
func TestRule(t *testing.T) {
	tests := []struct {
		from, to string
		bad      bool
	}{
		{"loadgen", "refserver/bpe", true},
		{"loadgen", "bpe", false},
		{"analyzer/attribution", "loadgen/metrics", true},
		{"nightly", "analyzer", false},
		{"nightly", "web", true},
		{"web", "reportgen", false},
		{"reportgen", "web", true},
		{"runfmt", "loadgen", true},
		{"internal/stack", "analyzer/jaeger", true},
		{"internal/stack", "runfmt", true},
		{"runfmt/index", "runfmt", false},
		{"cmd/llmbench", "internal/demo", false},
		{"refserver/server", "refserver/engine", false},
		{"newthing", "runfmt", true},
		{"internal/stack/stacktest", "analyzer/jaeger", false},
		{"loadgen", "internal/stack/stacktest", true},
	}
	for _, tt := range tests {
		if got := check(tt.from, tt.to) != ""; got != tt.bad {
			t.Errorf("%s → %s: broken %v, want %v (%s)", tt.from, tt.to, got, tt.bad, check(tt.from, tt.to))
		}
	}
}
