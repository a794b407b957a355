package runfmt

import (
	"path/filepath"
	"time"
)

// NightlyFile is what the nightly job writes into a run folder: its
// verdict on the run (Nightly).
const NightlyFile = "nightly.json"

// Nightly statuses.
const (
	NightlyOK         = "ok"          // no metric regressed
	NightlyRegression = "regression"  // at least one metric regressed
	NightlyFailed     = "failed"      // the run did not give numbers (script error, target down): not a regression
	NightlyNoBaseline = "no-baseline" // too few good nights before this one to judge it
)

// Nightly is nightly.json: the nightly job's verdict on one run. Its
// "regression", "why" and "metrics" fields are what the run index
// (runfmt/index) reads to mark regressions.
type Nightly struct {
	Format     int    `json:"format"`
	Regression bool   `json:"regression"`
	Why        string `json:"why"`
	// Metrics names the metrics that regressed; empty when none did.
	Metrics  []string `json:"metrics"`
	Status   string   `json:"status"` // see the Nightly status constants
	Suite    string   `json:"suite"`
	Night    string   `json:"night"` // YYYY-MM-DD
	Scenario string   `json:"scenario"`
	Target   string   `json:"target"` // the suite's name for it, e.g. cpu
	URL      string   `json:"target_url,omitempty"`
	Run      string   `json:"run"` // this run's ID (its folder's name)
	// BaselineRun is the last good night's run, which the distribution
	// test and the compare report set tonight against.
	BaselineRun   string           `json:"baseline_run,omitempty"`
	BaselineNight string           `json:"baseline_night,omitempty"`
	Verdicts      []NightlyVerdict `json:"verdicts,omitempty"`
	SLOs          []SLOResult      `json:"slos,omitempty"`
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

// WriteNightly writes dir/nightly.json atomically.
func WriteNightly(dir string, r *Nightly) error {
	r.Format = Format
	if r.Metrics == nil {
		r.Metrics = []string{}
	}
	return writeJSON(filepath.Join(dir, NightlyFile), r)
}

// ReadNightly reads dir/nightly.json. It refuses a newer format with
// ErrNewerFormat.
func ReadNightly(dir string) (*Nightly, error) {
	var r Nightly
	if err := readJSON(filepath.Join(dir, NightlyFile), &r, &r.Format); err != nil {
		return nil, err
	}
	return &r, nil
}

// NightlyVerdict statuses.
const (
	NightlyVerdictOK         = "ok"          // within noise, or a change too small to matter
	NightlyVerdictRegression = "regression"  // significant, beyond the noise, and large enough
	NightlyVerdictImproved   = "improved"    // the same, in the good direction
	NightlyVerdictNoBaseline = "no-baseline" // too few nights to judge: no verdict
	NightlyVerdictNoData     = "no-data"     // tonight has no value for the metric
)

// NightlyVerdict is the nightly detector's judgement of one metric on one
// night.
type NightlyVerdict struct {
	Metric  string  `json:"metric"`
	Status  string  `json:"status"` // see the NightlyVerdict status constants
	Tonight float64 `json:"tonight"`
	// Baseline is the median of the baseline nights' values, and MAD
	// their median absolute deviation from it.
	Baseline float64 `json:"baseline_median"`
	MAD      float64 `json:"mad"`
	Nights   int     `json:"nights"`   // baseline nights used
	Z        float64 `json:"robust_z"` // (tonight − median) / (1.4826 · MAD), signed
	// P is the Mann-Whitney p-value of tonight's per-request values
	// against the last good night's (two-sided); 1 when not tested.
	P float64 `json:"p_value"`
	// EffectPct is tonight's change from the baseline median, signed: in
	// % of it, or in percentage points for error_rate.
	EffectPct  float64 `json:"effect_pct"`
	Regression bool    `json:"regression"`
	Why        string  `json:"why"`
}
