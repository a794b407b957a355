package nightly

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/llmbench/llmbench/loadgen/runfmt"
)

// File names the nightly job writes into a run folder.
const (
	RecordFile  = "nightly.json" // the night's verdict (Record); the run index and the web UI read it
	LogFile     = "nightly.log"  // what the load generator and the analyzer printed
	CompareFile = "compare.html" // on a regression: this run against the last good night's
)

// Record statuses.
const (
	StatusOK         = "ok"          // no metric regressed
	StatusRegression = "regression"  // at least one metric regressed
	StatusFailed     = "failed"      // the run did not give numbers (script error, target down): not a regression
	StatusNoBaseline = "no-baseline" // too few good nights before this one to judge it
)

// Record is nightly.json: the nightly job's verdict on one run. Its
// "regression", "why" and "metrics" fields are what the run index
// (web/index) reads to mark regressions.
type Record struct {
	Format     int    `json:"format"`
	Regression bool   `json:"regression"`
	Why        string `json:"why"`
	// Metrics names the metrics that regressed; empty when none did.
	Metrics  []string `json:"metrics"`
	Status   string   `json:"status"` // see the Status constants
	Suite    string   `json:"suite"`
	Night    string   `json:"night"` // YYYY-MM-DD
	Scenario string   `json:"scenario"`
	Target   string   `json:"target"` // the suite's name for it, e.g. cpu
	URL      string   `json:"target_url,omitempty"`
	Run      string   `json:"run"` // this run's ID (its folder's name)
	// BaselineRun is the last good night's run, which the distribution
	// test and the compare report set tonight against.
	BaselineRun   string      `json:"baseline_run,omitempty"`
	BaselineNight string      `json:"baseline_night,omitempty"`
	Verdicts      []Verdict   `json:"verdicts,omitempty"`
	SLOs          []SLOResult `json:"slos,omitempty"`
	// SLOMissed names the SLOs the run missed.
	SLOMissed []string `json:"slo_missed,omitempty"`
	Report    string   `json:"report,omitempty"`  // report.html, when it was written
	Compare   string   `json:"compare,omitempty"` // compare.html, when it was written
	// Notes say what could not be done (analysis, report) and why; they
	// do not change the verdict.
	Notes   []string  `json:"notes,omitempty"`
	Created time.Time `json:"created"`
}

// SLOResult is one SLO checked against a run.
type SLOResult struct {
	Metric string  `json:"metric"`
	Limit  float64 `json:"limit"` // an upper bound, or a lower one for throughputs
	Value  float64 `json:"value"`
	OK     bool    `json:"ok"`
}

// WriteRecord writes dir/nightly.json atomically.
func WriteRecord(dir string, r *Record) error {
	r.Format = runfmt.Format
	if r.Metrics == nil {
		r.Metrics = []string{}
	}
	return runfmt.WriteJSON(filepath.Join(dir, RecordFile), r)
}

// ReadRecord reads dir/nightly.json. It refuses a newer format with
// runfmt.ErrNewerFormat.
func ReadRecord(dir string) (*Record, error) {
	path := filepath.Join(dir, RecordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if r.Format > runfmt.Format {
		return nil, fmt.Errorf("read %s: format %d %w", path, r.Format, runfmt.ErrNewerFormat)
	}
	return &r, nil
}

// good says whether the recorded night can be a baseline: it gave numbers
// and did not regress.
func (r *Record) good() bool {
	return r.Status != StatusFailed && !r.Regression
}
