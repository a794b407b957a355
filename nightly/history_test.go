package nightly

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

func TestLoadBaseline(t *testing.T) {
	runs := t.TempDir()
	e := Entry{Scenario: Scenario{Name: "a"}, Target: Target{Name: "x"}}
	folder := func(night, target, runStatus, recStatus string, p95 float64) {
		t.Helper()
		id := night + "-s-a-" + target
		dir := filepath.Join(runs, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		start, _ := time.Parse(nightLayout, night)
		if err := runfmt.WriteRun(dir, &runfmt.Run{ID: id, Scenario: "a", Suite: "s", Night: night, Start: start, Status: runStatus}); err != nil {
			t.Fatal(err)
		}
		sum := &runfmt.Summary{LLM: &runfmt.LLMSummary{Requests: 10, TTFT: runfmt.Percentiles{Count: 10, P95: p95}}}
		if err := runfmt.WriteSummary(dir, sum); err != nil {
			t.Fatal(err)
		}
		if recStatus != "" {
			rec := &Record{Status: recStatus, Regression: recStatus == StatusRegression}
			if err := WriteRecord(dir, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	folder("2026-01-01", "x", runfmt.StatusFinished, StatusOK, 1)
	folder("2026-01-02", "x", runfmt.StatusFinished, StatusFailed, 2)     // failed: left out
	folder("2026-01-03", "x", runfmt.StatusFinished, StatusRegression, 3) // counts, but is not good
	folder("2026-01-04", "x", runfmt.StatusFinished, "", 4)               // not judged, finished: counts
	folder("2026-01-05", "x", runfmt.StatusError, "", 5)                  // not judged, not finished: left out
	folder("2026-01-06", "y", runfmt.StatusFinished, StatusOK, 6)         // another target
	folder("2026-01-07", "x", runfmt.StatusFinished, StatusOK, 7)         // tonight
	folder("2026-01-08", "x", runfmt.StatusFinished, StatusNoBaseline, 8) // a later night (a re-run of an old night)

	ix, err := openIndex(t.Context(), runs)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	for _, src := range []struct {
		name string
		h    historySource
	}{{"run folders", &folderHistory{dir: runs}}, {"run index", ix}} {
		t.Run(src.name, func(t *testing.T) {
			b, err := loadBaseline(t.Context(), src.h, runs, "s", "2026-01-07", e, []string{"ttft_p95_ms", "tpot_p50_ms"})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.values["ttft_p95_ms"]; !slices.Equal(got, []float64{1, 3, 4}) {
				t.Errorf("ttft_p95_ms history: got %v, want [1 3 4]", got)
			}
			if got := b.values["tpot_p50_ms"]; len(got) != 0 {
				t.Errorf("tpot_p50_ms history: got %v, want none (no TPOT samples)", got)
			}
			if b.lastGoodRun != "2026-01-04-s-a-x" || b.lastGoodNight != "2026-01-04" || b.lastGood != filepath.Join(runs, "2026-01-04-s-a-x") || b.nights != 3 {
				t.Errorf("last good night: got %q (%s, %s), %d nights; want 2026-01-04-s-a-x of 3", b.lastGoodRun, b.lastGoodNight, b.lastGood, b.nights)
			}
		})
	}
}

func TestPrepareDir(t *testing.T) {
	runs := t.TempDir()
	mk := func(name string, files map[string]string) string {
		dir := filepath.Join(runs, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	ours := mk("ours", map[string]string{runfmt.RunFile: `{"format": 1, "suite": "s", "night": "2026-01-01"}`, "report.html": "old"})
	cut := mk("cut", map[string]string{LogFile: "started", "requests.jsonl": "{}\n"})
	other := mk("other", map[string]string{runfmt.RunFile: `{"format": 1, "scenario": "x"}`})
	otherNight := mk("other-night", map[string]string{runfmt.RunFile: `{"format": 1, "suite": "s", "night": "2026-01-02"}`})
	tests := []struct {
		name    string
		dir     string
		wantErr bool
	}{
		{"new", filepath.Join(runs, "new"), false},
		{"an earlier try of the same night", ours, false},
		{"a try cut short", cut, false},
		{"empty", mk("empty", nil), false},
		{"someone else's run", other, true},
		{"another night's run", otherNight, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := prepareDir(tt.dir, "s", "2026-01-01")
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			ents, rerr := os.ReadDir(tt.dir)
			switch {
			case rerr != nil:
				t.Errorf("read the folder: %v", rerr)
			case !tt.wantErr && len(ents) != 0:
				t.Errorf("got %d files left, want an empty folder", len(ents))
			case tt.wantErr && len(ents) == 0:
				t.Errorf("got an emptied folder, want it untouched")
			}
		})
	}
}
