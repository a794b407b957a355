package prom_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/analyzer/prom"
)

func TestDefaults(t *testing.T) {
	qs := prom.Defaults()
	names := map[string]bool{}
	for _, q := range qs {
		if q.Name == "" || q.Query == "" || q.Unit == "" || q.Description == "" {
			t.Errorf("default %+v: want name, query, unit and description", q)
		}
		names[q.Name] = true
	}
	if len(names) != len(qs) {
		t.Errorf("%d defaults with %d names, want the names distinct", len(qs), len(names))
	}
	for _, n := range []string{prom.RequestRate, prom.ErrorRate, prom.TokenRate, prom.QueueDepth, prom.Running,
		prom.BatchSize, prom.KVCacheUsage, prom.TTFTP50, prom.TTFTP95, prom.TPOTP95, prom.QueueWaitP95,
		prom.RefserverCPU, prom.RefserverMemory, prom.LoadgenInFlight} {
		if !names[n] {
			t.Errorf("no default query named %q", n)
		}
	}
	qs[0].Query = "changed"
	if prom.Defaults()[0].Query == "changed" {
		t.Error("Defaults returned a slice shared between calls")
	}
}

func TestLoadQueries(t *testing.T) {
	defaults := prom.Defaults()
	names := func(qs []prom.Query) []string {
		var out []string
		for _, q := range qs {
			out = append(out, q.Name)
		}
		return out
	}
	// The default names with queue_depth replaced in place, running
	// removed, and gpu_util added at the end.
	var merged []string
	for _, n := range names(defaults) {
		if n != prom.Running {
			merged = append(merged, n)
		}
	}
	merged = append(merged, "gpu_util")

	for _, tc := range []struct {
		name      string
		file      string // "" for no file; "-" for a file that does not exist
		wantNames []string
		wantQuery map[string]string // name → PromQL, for some of the queries
		wantErr   string
	}{
		{name: "no file", wantNames: names(defaults)},
		{
			name: "merge",
			file: `{"queries": [
				{"name": "queue_depth", "query": "max(llm_requests_waiting)", "unit": "requests"},
				{"name": "gpu_util", "query": "avg(DCGM_FI_DEV_GPU_UTIL)", "unit": "%"},
				{"name": "running"}
			]}`,
			wantNames: merged,
			wantQuery: map[string]string{prom.QueueDepth: "max(llm_requests_waiting)", prom.BatchSize: "max(llm_batch_size)"},
		},
		{name: "missing file", file: "-", wantErr: "no such file"},
		{name: "not JSON", file: `queries: []`, wantErr: "line 1 column 1: invalid character"},
		{name: "cut short", file: `{"queries": [`, wantErr: "the JSON ends early"},
		{name: "unknown field", file: `{"queries": [{"name": "x", "promql": "up"}]}`, wantErr: `unknown field "promql"`},
		{name: "no name", file: `{"queries": [{"query": "up"}]}`, wantErr: "query 1: no name"},
		{name: "name twice", file: `{"queries": [{"name": "x", "query": "up"}, {"name": "x", "query": "up"}]}`, wantErr: `"x" given twice`},
		{name: "new query without PromQL", file: `{"queries": [{"name": "x"}]}`, wantErr: `query "x": no query`},
		{name: "two objects", file: `{"queries": []} {}`, wantErr: "data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			switch tc.file {
			case "":
			case "-":
				path = filepath.Join(t.TempDir(), "none.json")
			default:
				path = filepath.Join(t.TempDir(), "queries.json")
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := prom.LoadQueries(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tc.wantNames) {
				t.Errorf("names = %v, want %v", names(got), tc.wantNames)
			}
			for name, want := range tc.wantQuery {
				i := slices.IndexFunc(got, func(q prom.Query) bool { return q.Name == name })
				if i < 0 || got[i].Query != want {
					t.Errorf("query %s: got %v, want %q", name, got, want)
				}
			}
		})
	}
}
