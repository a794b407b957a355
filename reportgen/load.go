package reportgen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// runData is what a run folder holds, as far as it could be read. Only
// run.json is required: a run that never finished has no summary, and one
// that was not analyzed has no analysis, and its report says so.
type runData struct {
	Dir         string
	Run         *runfmt.Run
	Summary     *runfmt.Summary   // nil when missing or unreadable
	Analysis    *runfmt.Analysis  // nil when not analyzed or unreadable
	Reqs        *requestStats     // what the report shows of requests.jsonl, gathered in one bounded pass
	Series      []runfmt.Interval // timeseries.jsonl; nil for runs written before it existed
	BadLines    int               // unreadable lines of requests.jsonl
	Implausible int               // requests left out for a duration that is negative, not finite or beyond runfmt.MaxPlausibleMS
	// Notes say what is missing and why, for the top of the report.
	Notes []string
}

// load reads the run folder dir, its requests line by line into bounded
// statistics (see requestStats).
func load(ctx context.Context, dir string, o Options) (*runData, error) {
	run, err := runfmt.ReadRun(dir)
	if err != nil {
		return nil, err // it names dir's run.json
	}
	d := &runData{Dir: dir, Run: run}
	if d.Summary, err = runfmt.ReadSummary(dir); err != nil {
		d.Summary = nil
		if errors.Is(err, fs.ErrNotExist) {
			d.Notes = append(d.Notes, fmt.Sprintf("no summary.json (run status: %s): the run did not finish, or its summary was lost", run.Status))
		} else {
			d.Notes = append(d.Notes, fmt.Sprintf("summary unreadable: %v", err))
		}
	}
	if d.Analysis, err = runfmt.ReadAnalysis(dir); err != nil {
		d.Analysis = nil
		if errors.Is(err, fs.ErrNotExist) {
			d.Notes = append(d.Notes, fmt.Sprintf("not analyzed: run llmbench analyze %s", dir))
		} else {
			d.Notes = append(d.Notes, fmt.Sprintf("analysis unreadable: %v (run llmbench analyze %s again)", err, dir))
		}
	}
	if d.Series, err = runfmt.ReadTimeSeries(dir); err != nil {
		d.Notes = append(d.Notes, fmt.Sprintf("time series: %v (the intervals before it are shown)", err))
	}
	start := run.Start
	if start.IsZero() {
		// Only the time buckets need it before the pass: read the start
		// times first. run.json written by llmbench always has one.
		start = firstStarted(ctx, dir)
	}
	var show []int64
	if d.Analysis != nil {
		for _, b := range slowest(d.Analysis, o.slowest()) {
			show = append(show, b.Seq)
		}
	}
	d.Reqs = newRequestStats(start, o.interval(), show)
	var firstBad error
	firstImplausible := ""
	n := 0
	for r, err := range runfmt.Requests(dir) {
		if n++; n%1000 == 0 && ctx.Err() != nil {
			break
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				d.Notes = append(d.Notes, "no requests.jsonl: the run recorded no request")
				break
			}
			d.BadLines++
			if firstBad == nil {
				firstBad = err
			}
			continue
		}
		if len(r.Error) > maxShownText {
			r.Error = fmt.Sprintf("%s… (%d bytes in all)", r.Error[:maxShownText], len(r.Error))
		}
		if why := r.Implausible(); why != "" {
			d.Implausible++
			if firstImplausible == "" {
				firstImplausible = why
			}
			continue
		}
		d.Reqs.add(r)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load run %s: %w", dir, err)
	}
	if d.BadLines > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%d unreadable lines in requests.jsonl, the first: %v", d.BadLines, firstBad))
	}
	if d.Implausible > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%d requests with implausible timings were left out, the first with %s", d.Implausible, firstImplausible))
	}
	return d, nil
}

// maxShownText bounds a request's error text on a page: a run folder may
// hold one of any length.
const maxShownText = 1000

// start is when the run began: run.json's start, or the first request's
// when run.json has none.
func (d *runData) start() time.Time {
	if !d.Run.Start.IsZero() {
		return d.Run.Start
	}
	return d.Reqs.first
}

// firstStarted is the earliest start of the requests in dir, read in a
// pass of its own; zero when there are none.
func firstStarted(ctx context.Context, dir string) time.Time {
	var t time.Time
	n := 0
	for r, err := range runfmt.Requests(dir) {
		if n++; n%1000 == 0 && ctx.Err() != nil {
			break
		}
		if err == nil && r.Implausible() == "" && !r.Started.IsZero() && (t.IsZero() || r.Started.Before(t)) {
			t = r.Started
		}
	}
	return t
}

// llm is the summary's headline, or nil.
func (d *runData) llm() *runfmt.LLMSummary {
	if d.Summary == nil {
		return nil
	}
	return d.Summary.LLM
}

// dtype is the server's weight type, e.g. "int8 weights", when it said.
func (d *runData) dtype() string {
	if s := d.Run.Server; s != nil && s.DType != "" {
		return s.DType + " weights"
	}
	return "unknown weights"
}

// device names where the model ran, as the target's /health said.
func (d *runData) device() string {
	if s := d.Run.Server; s != nil {
		switch {
		case s.Device != "":
			return s.Device
		case s.Backend != "":
			return s.Backend
		}
	}
	return "unknown device"
}
