package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
	"github.com/llmbench/llmbench/web"
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
		}, []string{"run.json", "the JSON ends early"}},
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

// TestHugeRunFolder renders the report of a run whose requests.jsonl is
// large and holds one 40 MiB line (a server's error text that no client
// would keep). A report once loaded every request and a whole line at a
// time: 430 MB a view for a 200 MB file, and a 150 MB error made a 158 MB
// page. Expected: a 200 with every sound request counted, the long line
// skipped and named, a page of a few hundred KiB, and a heap that grows by
// far less than the file's size while the report is made.
func TestHugeRunFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and renders a 60 MB run folder")
	}
	const (
		requests = 60_000
		badAt    = 1000 // the long line comes after this many requests
	)
	runs := t.TempDir()
	dir := writeRunFolder(t, runs, "20261128-080000-huge", 0)
	f, err := os.OpenFile(filepath.Join(dir, runfmt.RequestsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	gaps := "[" + strings.TrimSuffix(strings.Repeat("12.5,", 16), ",") + "]"
	for i := range requests {
		if i == badAt {
			fmt.Fprintf(w, `{"seq":%d,"ok":false,"error_class":"http","status":500,"error":"%s"}`+"\n", requests+1, strings.Repeat("x", 40<<20))
		}
		sent := start.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		fmt.Fprintf(w, `{"seq":%d,"scenario":"smoke","vu":%d,"started":%q,"sent":%q,"ttft_ms":%d,"tpot_ms":12.5,"e2e_ms":230,"close_ms":231,"gaps_ms":%s,"status":200,"ok":true,"output_tokens":17,"tags":{"user":"u%d"}}`+"\n",
			i+1, i%50, sent, sent, 20+i%30, gaps, i%7)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ix, err := index.Open(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	h := web.Handler(ix, web.Config{Runs: runs}, nil)

	// The live heap's peak while the report is made: the heap that the
	// last garbage collection left, sampled every 2 ms (a sample can only
	// miss a peak, never invent one). Garbage not yet collected is not
	// counted: it depends on GOGC, not on what the report holds.
	runtime.GC()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	base := live[0].Value.Uint64()
	peak := base
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
			}
		}
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/runs/20261128-080000-huge", nil).WithContext(ctx))
	close(stop)
	<-sampled
	grew := int64(peak) - int64(base)
	page := rec.Body.String()
	t.Logf("requests.jsonl %d MiB; page %d KiB; live heap grew by at most %d MiB while the report was made", fi.Size()>>20, len(page)>>10, grew>>20)

	if rec.Code != http.StatusOK {
		t.Fatalf("GET the report: %d, want 200:\n%.2000s", rec.Code, page)
	}
	if want := fmt.Sprintf("%d requests, %d successful, 1 unreadable lines", requests, requests); !strings.Contains(page, want) {
		t.Errorf("the page does not say %q", want)
	}
	if want := fmt.Sprintf("requests.jsonl line %d: %d bytes, over the %d-byte bound", badAt+1, 40<<20+len(`{"seq":60001,"ok":false,"error_class":"http","status":500,"error":""}`)+1, runfmt.MaxRequestLine); !strings.Contains(page, want) {
		t.Errorf("the page does not name the long line: want %q", want)
	}
	if len(page) > 2<<20 {
		t.Errorf("the page is %d KiB, want well under 2 MiB", len(page)>>10)
	}
	if grew > 40<<20 {
		t.Errorf("the live heap grew by %d MiB while the report was made from a %d MiB file, want it bounded (under 40 MiB)", grew>>20, fi.Size()>>20)
	}
}
