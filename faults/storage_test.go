package faults

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen/runfmt"
	"github.com/llmbench/llmbench/web"
	"github.com/llmbench/llmbench/web/index"
)

// TestCorruptRunFolder lists a runs folder where one run folder is broken
// in each of several ways, beside two sound ones. Expected: the index
// lists every folder, the broken one with Broken naming the file and the
// fault and the sound ones unbroken with their numbers; the web list page
// shows them all, the broken one marked; and the broken folder's files are
// left as they were.
func TestCorruptRunFolder(t *testing.T) {
	tests := []struct {
		name       string
		breakIt    func(t *testing.T, dir string)
		wantBroken []string // in Run.Broken
	}{
		{"run.json not JSON", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, runfmt.RunFile), "{\"format\": 1, \"id\": \"cut short")
		}, []string{"run.json", "unexpected end of JSON input"}},
		{"run.json from a newer llmbench", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, runfmt.RunFile), `{"format": 99, "id": "x", "status": "finished"}`)
		}, []string{"run.json", "newer"}},
		{"no run.json", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, runfmt.RunFile)); err != nil {
				t.Fatal(err)
			}
		}, []string{"run.json"}},
		{"summary.json binary garbage", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, runfmt.SummaryFile), "\x00\xff\xfe garbage")
		}, []string{"summary.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			runs := t.TempDir()
			writeRunFolder(t, runs, "20261128-080000-good", 3)
			writeRunFolder(t, runs, "20261128-090000-good", 5)
			bad := writeRunFolder(t, runs, "20261128-100000-bad", 4)
			tt.breakIt(t, bad)
			requestsBefore, err := os.ReadFile(filepath.Join(bad, runfmt.RequestsFile))
			if err != nil {
				t.Fatal(err)
			}

			ix, err := index.Open(ctx, runs)
			if err != nil {
				t.Fatalf("index.Open: got %v, want the broken folder listed, not an error", err)
			}
			defer ix.Close()
			list, err := ix.Runs(ctx, index.Filter{Sort: "id"})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 {
				t.Fatalf("index lists %d runs, want 3: %+v", len(list), list)
			}
			for _, r := range list {
				switch {
				case strings.HasSuffix(r.ID, "-bad"):
					if r.Broken == "" || !contains(r.Broken, tt.wantBroken...) {
						t.Errorf("run %s: got Broken %q, want it to name %q", r.ID, r.Broken, tt.wantBroken)
					}
				case r.Broken != "" || r.Status != runfmt.StatusFinished || r.Requests == 0:
					t.Errorf("run %s: got broken %q, status %q, %d requests; want a sound run", r.ID, r.Broken, r.Status, r.Requests)
				}
			}

			rec := httptest.NewRecorder()
			web.Handler(ix, web.Config{Runs: runs}, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
			page := rec.Body.String()
			if rec.Code != http.StatusOK || !contains(page, "20261128-080000-good", "20261128-090000-good", `id="run-20261128-100000-bad" class="broken"`) {
				t.Errorf("GET /: got %d, want 200 listing the three runs, the bad one marked broken:\n%.2000s", rec.Code, page)
			}

			if after, err := os.ReadFile(filepath.Join(bad, runfmt.RequestsFile)); err != nil || !bytes.Equal(after, requestsBefore) {
				t.Errorf("the broken run's requests.jsonl changed (%v)", err)
			}
		})
	}
}

// TestCorruptIndex replaces the SQLite index with something that is not
// a usable index. Expected: index.Open rebuilds it from the run folders,
// says why (Rebuilt), lists every run, and leaves a sound database that
// the next Open uses as it is.
func TestCorruptIndex(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, db string)
	}{
		{"random bytes", func(t *testing.T, db string) {
			rng := rand.New(rand.NewPCG(3, 4))
			b := make([]byte, 16<<10)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			writeFile(t, db, string(b))
		}},
		{"truncated database", func(t *testing.T, db string) {
			if err := os.Truncate(db, 1000); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroed pages", func(t *testing.T, db string) {
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			clear(b[100:]) // the header stays, the pages are gone
			writeFile(t, db, string(b))
		}},
		{"plain text", func(t *testing.T, db string) {
			writeFile(t, db, "this is not a database\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			runs := t.TempDir()
			writeRunFolder(t, runs, "20261128-080000-a", 2)
			writeRunFolder(t, runs, "20261128-090000-b", 3)
			db := filepath.Join(runs, index.DBFile)
			ix, err := index.Open(ctx, runs)
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, db)

			ix, err = index.Open(ctx, runs)
			if err != nil {
				t.Fatalf("index.Open over a corrupt database: got %v, want it rebuilt", err)
			}
			why := ix.Rebuilt()
			list, err := ix.Runs(ctx, index.Filter{Sort: "id"})
			ix.Close()
			if err != nil {
				t.Fatal(err)
			}
			if why == "" {
				t.Error("Rebuilt() is empty, want why the database was thrown away")
			}
			if len(list) != 2 || list[0].ID != "20261128-080000-a" || list[1].Requests != 3 || list[0].Broken != "" {
				t.Errorf("after the rebuild the index lists %+v, want the two runs", list)
			}

			ix, err = index.Open(ctx, runs)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if got := ix.Rebuilt(); got != "" {
				t.Errorf("the rebuilt database was rebuilt again: %q", got)
			}
			t.Logf("rebuilt: %s", why)
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
