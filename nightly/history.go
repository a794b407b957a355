package nightly

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/llmbench/llmbench/runfmt"
)

// point is one run's value of a metric.
type point struct {
	Night, RunID string
	Value        float64
}

// historySource gives a metric's values over the runs of a suite: the run
// index (web/index) when it can be opened, the run folders otherwise.
type historySource interface {
	points(ctx context.Context, suite, metric string) ([]point, error)
}

// folderHistory reads the history from the run folders themselves: each
// folder's run.json (suite, night) and summary.json (the values, as the
// run index takes them). It is the fallback when the index cannot be
// opened. It is not safe for concurrent use.
type folderHistory struct {
	dir  string
	runs []folderRun // read once, on first use
	read bool
}

type folderRun struct {
	id, suite, night string
	sum              *runfmt.LLMSummary
}

func (h *folderHistory) points(ctx context.Context, suite, metric string) ([]point, error) {
	if !h.read {
		entries, err := os.ReadDir(h.dir)
		if err != nil {
			return nil, fmt.Errorf("read runs folder: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !e.IsDir() || e.Name()[0] == '.' {
				continue
			}
			dir := filepath.Join(h.dir, e.Name())
			run, err := runfmt.ReadRun(dir)
			if err != nil || run.Suite == "" || run.Night == "" {
				continue
			}
			sum, err := runfmt.ReadSummary(dir)
			if err != nil || sum.LLM == nil {
				continue
			}
			h.runs = append(h.runs, folderRun{id: e.Name(), suite: run.Suite, night: run.Night, sum: sum.LLM})
		}
		h.read = true
	}
	m, err := lookupMetric(metric)
	if err != nil {
		return nil, err
	}
	var pts []point
	for _, r := range h.runs {
		if r.suite != suite {
			continue
		}
		if v, ok := m.value(r.sum); ok {
			pts = append(pts, point{Night: r.night, RunID: r.id, Value: v})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Or(cmp.Compare(a.Night, b.Night), cmp.Compare(a.RunID, b.RunID)) })
	return pts, nil
}

// runID is the folder name of an entry's run on a night:
// <night>-<suite>-<scenario>-<target>. Names hold no '-', so it parses
// back unambiguously.
func runID(night, suite string, e Entry) string {
	return night + "-" + suite + "-" + e.Scenario.Name + "-" + e.Target.Name
}

// baseline is what the earlier nights of an entry give the detector.
type baseline struct {
	// values maps a metric to its values on the earlier nights that gave
	// numbers, oldest first.
	values map[string][]float64
	// lastGood is the folder of the latest of those nights that was not a
	// regression ("" when none), and lastGoodNight its night.
	lastGood, lastGoodRun, lastGoodNight string
	nights                               int // earlier nights that gave numbers
}

// loadBaseline collects the entry's runs before night from src, leaving
// out failed nights (by their nightly.json, or, without one, a run.json
// status other than finished).
func loadBaseline(ctx context.Context, src historySource, runsDir, suite, night string, e Entry, metrics []string) (*baseline, error) {
	type past struct {
		night  string
		values map[string]float64
	}
	byRun := map[string]*past{}
	for _, m := range metrics {
		pts, err := src.points(ctx, suite, m)
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			if p.Night >= night || p.RunID != runID(p.Night, suite, e) {
				continue
			}
			if byRun[p.RunID] == nil {
				byRun[p.RunID] = &past{night: p.Night, values: map[string]float64{}}
			}
			byRun[p.RunID].values[m] = p.Value
		}
	}
	ids := make([]string, 0, len(byRun))
	for id := range byRun {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(byRun[a].night, byRun[b].night) })

	b := &baseline{values: map[string][]float64{}}
	for _, id := range ids {
		dir := filepath.Join(runsDir, id)
		good := true
		rec, err := ReadRecord(dir)
		switch {
		case err == nil:
			if rec.Status == StatusFailed {
				continue
			}
			good = goodNight(rec)
		case errors.Is(err, fs.ErrNotExist):
			// Not judged (the job stopped before its verdict): use it if
			// the run itself finished.
			run, err := runfmt.ReadRun(dir)
			if err != nil || run.Status != runfmt.StatusFinished {
				continue
			}
		default:
			continue // unreadable: neither baseline nor evidence
		}
		b.nights++
		for m, v := range byRun[id].values {
			b.values[m] = append(b.values[m], v)
		}
		if good {
			b.lastGood, b.lastGoodRun, b.lastGoodNight = dir, id, byRun[id].night
		}
	}
	return b, nil
}
