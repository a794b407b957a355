package nightly

import (
	"github.com/llmbench/llmbench/runfmt"
)

// File names the nightly job writes into a run folder.
const (
	RecordFile  = runfmt.NightlyFile // the night's verdict (Record); the run index and the web UI read it
	LogFile     = "nightly.log"      // what the load generator and the analyzer printed
	CompareFile = "compare.html"     // on a regression: this run against the last good night's
)

// Record statuses (runfmt's Nightly statuses).
const (
	StatusOK         = runfmt.NightlyOK
	StatusRegression = runfmt.NightlyRegression
	StatusFailed     = runfmt.NightlyFailed
	StatusNoBaseline = runfmt.NightlyNoBaseline
)

// Record is nightly.json, the nightly job's verdict on one run; the run
// folder's contract defines it (runfmt.Nightly).
type Record = runfmt.Nightly

// SLOResult is one SLO checked against a run.
type SLOResult = runfmt.SLOResult

// WriteRecord writes dir/nightly.json atomically.
func WriteRecord(dir string, r *Record) error { return runfmt.WriteNightly(dir, r) }

// ReadRecord reads dir/nightly.json. It refuses a newer format with
// runfmt.ErrNewerFormat.
func ReadRecord(dir string) (*Record, error) { return runfmt.ReadNightly(dir) }

// good says whether the recorded night can be a baseline: it gave numbers
// and did not regress.
func goodNight(r *Record) bool {
	return r.Status != StatusFailed && !r.Regression
}
