package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// Run is one run folder as the index knows it.
type Run struct {
	ID       string // the folder's name, e.g. 20261128-071500-baseline
	Dir      string // the folder, absolute
	Scenario string
	Target   string
	Protocol string
	Model    string // from run.json's server info, when the target reported one
	Backend  string
	Device   string
	Commit   string
	Host     string
	Suite    string // the nightly suite the run belongs to, if any
	Night    string // the nightly run's night, YYYY-MM-DD
	Start    time.Time
	End      time.Time // zero while running
	Status   string    // runfmt.Status*; "" when run.json is unreadable
	Requests int       // summary.json's LLM request count; 0 without one
	// Broken is why the folder's files could not all be read, "" when
	// they could. A broken run keeps what could be read.
	Broken      string
	HasAnalysis bool // analysis.json was read
	HasReport   bool // report.html is there
	Bottleneck  string
	// Regression is why the nightly job flagged the run (nightly.json),
	// "" when it did not; RegressionMetrics the metrics it named (none:
	// all of them).
	Regression        string
	RegressionMetrics []string
	// Metrics holds the run's numbers by metric name (see KeyMetrics and
	// the Metric constants), those its files have.
	Metrics map[string]float64
}

// Metric names of Run.Metrics and History. Latencies are in milliseconds.
// Each of ttft, tpot, itl and e2e has _p50_ms, _p95_ms and _p99_ms, from
// summary.json; a latency with no sample (tpot of one-token answers) is
// absent. share_<part> is a part's mean share of the requests' latency
// (0–1, analysis.json's aggregate), for each part of runfmt.Parts the
// analysis has.
const (
	MetricRequestsPerS  = "requests_per_s"
	MetricOutputTokPerS = "output_tokens_per_s"
	MetricGoodputPerS   = "goodput_per_s"
	MetricErrorRate     = "error_rate"
)

// KeyMetrics are the metrics the trends page charts and the nightly job
// watches, in display order.
var KeyMetrics = []string{
	"ttft_p50_ms", "ttft_p95_ms", "tpot_p50_ms", "tpot_p95_ms", "e2e_p95_ms", "itl_p99_ms",
	MetricRequestsPerS, MetricOutputTokPerS, MetricGoodputPerS, MetricErrorRate,
}

// Regressed says whether the nightly job flagged metric of this run.
func (r *Run) Regressed(metric string) bool {
	if r.Regression == "" {
		return false
	}
	return len(r.RegressionMetrics) == 0 || slices.Contains(r.RegressionMetrics, metric)
}

// stampFiles are the files whose changes make the index re-read a folder.
// requests.jsonl is left out: the index takes nothing from it, and it grows
// with every request of a running run.
var stampFiles = []string{runfmt.RunFile, runfmt.SummaryFile, runfmt.AnalysisFile, runfmt.ReportFile, NightlyFile}

// stampOf fingerprints the folder's files: what Sync compares with the
// index. A file rewritten atomically (runfmt's temporary file and rename)
// gets a new inode, so same-size rewrites within one mtime tick are seen
// too, where the platform has inodes.
func stampOf(dir string) string {
	var b strings.Builder
	for _, name := range stampFiles {
		fi, err := os.Lstat(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b.WriteString("-")
		case err != nil:
			b.WriteString("?")
		default:
			fmt.Fprintf(&b, "%d.%d.%o.%d", fi.Size(), fi.ModTime().UnixNano(), fi.Mode(), inode(fi))
		}
		b.WriteByte('|')
	}
	return b.String()
}

// readFolder reads what the index keeps of one run folder. It never fails:
// what cannot be read is reported in Run.Broken.
func readFolder(runsDir, id string) Run {
	dir := filepath.Join(runsDir, id)
	r := Run{ID: id, Dir: dir, Metrics: map[string]float64{}}
	var problems []string
	broken := func(err error) {
		// The folder's files are named without its path.
		problems = append(problems, strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""))
	}

	if err := regular(dir, runfmt.RunFile, true); err != nil {
		broken(err)
	} else if run, err := runfmt.ReadRun(dir); err != nil {
		broken(err)
	} else {
		r.Scenario, r.Target, r.Protocol = run.Scenario, run.Target, run.Protocol
		if run.Server != nil {
			r.Model, r.Backend, r.Device = run.Server.Model, run.Server.Backend, run.Server.Device
		}
		r.Commit, r.Host, r.Suite, r.Night = run.Commit, run.Host, run.Suite, run.Night
		r.Start, r.End, r.Status = run.Start, run.End, run.Status
	}

	if err := regular(dir, runfmt.SummaryFile, false); err != nil {
		broken(err)
	} else if exists(dir, runfmt.SummaryFile) {
		if s, err := runfmt.ReadSummary(dir); err != nil {
			broken(err)
		} else if s.LLM != nil {
			summaryMetrics(r.Metrics, s.LLM)
			r.Requests = int(s.LLM.Requests)
		}
	}

	if err := regular(dir, runfmt.AnalysisFile, false); err != nil {
		broken(err)
	} else if exists(dir, runfmt.AnalysisFile) {
		if a, err := runfmt.ReadAnalysis(dir); err != nil {
			broken(err)
		} else {
			r.HasAnalysis = true
			r.Bottleneck = a.Verdict.Bottleneck
			for part, share := range a.Aggregate.MeanShare {
				r.Metrics["share_"+part] = share
			}
		}
	}

	if err := regular(dir, runfmt.ReportFile, false); err != nil {
		broken(err)
	} else {
		r.HasReport = exists(dir, runfmt.ReportFile)
	}

	if err := regular(dir, NightlyFile, false); err != nil {
		broken(err)
	} else if exists(dir, NightlyFile) {
		if n, err := runfmt.ReadNightly(dir); err != nil {
			broken(err)
		} else if n.Regression {
			r.Regression = n.Why
			if r.Regression == "" {
				r.Regression = "regression"
			}
			r.RegressionMetrics = n.Metrics
		}
	}
	r.Broken = strings.Join(problems, "; ")
	return r
}

// regular checks that dir/name is a regular file, or absent when it is not
// required. The index never follows a symbolic link out of a run folder.
func regular(dir, name string, required bool) error {
	fi, err := os.Lstat(filepath.Join(dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist) && !required:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no %s: not a run folder, or one still being written", name)
	case err != nil:
		return fmt.Errorf("read %s: %w", name, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("read %s: not a regular file (%s)", name, fi.Mode().Type())
	}
	return nil
}

func exists(dir, name string) bool {
	_, err := os.Lstat(filepath.Join(dir, name))
	return err == nil
}

// summaryMetrics adds summary.json's headline numbers to m.
func summaryMetrics(m map[string]float64, s *runfmt.LLMSummary) {
	for name, p := range map[string]runfmt.Percentiles{"ttft": s.TTFT, "tpot": s.TPOT, "itl": s.ITL, "e2e": s.E2E} {
		if p.Count == 0 {
			continue
		}
		m[name+"_p50_ms"] = p.P50
		m[name+"_p95_ms"] = p.P95
		m[name+"_p99_ms"] = p.P99
	}
	m[MetricRequestsPerS] = s.RequestsPerS
	m[MetricOutputTokPerS] = s.OutputTokPerS
	m[MetricGoodputPerS] = s.Goodput
	m[MetricErrorRate] = s.ErrorRate
}
