package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
)

// Merge combines run folders that ran parts of one test (execution
// segments, several hosts) into the run folder out: requests.jsonl is the
// union ordered by send time, counters and rates add up, trends merge
// their histograms bucket by bucket (so the merged distribution is exact to
// the histogram's resolution, not an average of percentiles), the LLM
// headline is recomputed exactly from the merged requests, and the
// thresholds of the first run's options are checked again on the merged
// metrics. It returns the merged summary.
func Merge(dirs []string, out string, w io.Writer) (*runfmt.Summary, error) {
	if len(dirs) < 2 {
		return nil, errors.New("merge: name at least two run folders")
	}
	var runs []*runfmt.Run
	var sums []*runfmt.Summary
	for _, d := range dirs {
		run, err := runfmt.ReadRun(d)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		sum, err := runfmt.ReadSummary(d)
		if err != nil {
			return nil, fmt.Errorf("merge: %w (did that run finish?)", err)
		}
		runs, sums = append(runs, run), append(sums, sum)
	}
	if abs, _ := filepath.Abs(out); slices.ContainsFunc(dirs, func(d string) bool { a, _ := filepath.Abs(d); return a == abs }) {
		return nil, fmt.Errorf("merge: the output folder %s is one of the inputs", out)
	}
	if held := runFiles(out); len(held) > 0 {
		return nil, fmt.Errorf("merge: the output folder %s already holds a run (%s): the merge would replace its records; give a new folder", out, strings.Join(held, ", "))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}

	// requests.jsonl: every line of every part, ordered by send time.
	var reqs []*runfmt.Request
	for i, d := range dirs {
		for r, err := range runfmt.Requests(d) {
			if err != nil {
				return nil, fmt.Errorf("merge %s: %w", d, err)
			}
			if r.Tags == nil {
				r.Tags = map[string]string{}
			}
			r.Tags["part"] = runs[i].ID
			reqs = append(reqs, r)
		}
	}
	slices.SortStableFunc(reqs, func(a, b *runfmt.Request) int { return a.Sent.Compare(b.Sent) })
	log, err := runfmt.CreateRequestLog(out)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	for _, r := range reqs {
		if err := log.Append(r); err != nil {
			log.Close()
			return nil, fmt.Errorf("merge: %w", err)
		}
	}
	if err := log.Close(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}

	start, end := sums[0].Start, sums[0].End
	for _, s := range sums[1:] {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	var o scriptOptions
	if len(runs[0].Options) > 0 {
		if err := json.Unmarshal(runs[0].Options, &o); err != nil {
			return nil, fmt.Errorf("merge: options of %s: %w", runs[0].ID, err)
		}
	}
	ths, err := threshold.Parse(o.Thresholds)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	ms, err := mergeMetrics(sums, end.Sub(start).Seconds(), o.trendStats(ths))
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	sum := &runfmt.Summary{Start: start, End: end, Duration: end.Sub(start).Seconds(), Metrics: ms, Root: mergeGroups(sums)}
	sum.ThresholdsOK, _ = applyThresholds(sum.Metrics, ths, end.Sub(start))
	sum.LLM, err = LLMSummary(out, start, end, o.SLO, droppedOf(ms))
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := runfmt.WriteSummary(out, sum); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}

	merged := *runs[0]
	merged.ID, merged.Segment, merged.Sequence = filepath.Base(out), "", ""
	merged.Start, merged.End = start, end
	merged.Parts = nil
	merged.Status = runfmt.StatusFinished
	var errs []string
	for _, r := range runs {
		merged.Parts = append(merged.Parts, r.ID)
		if r.Status != runfmt.StatusFinished {
			merged.Status = r.Status
			errs = append(errs, r.ID+": "+r.Status+" "+r.Error)
		}
	}
	merged.Error = strings.Join(errs, "; ")
	if err := runfmt.WriteRun(out, &merged); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if w != nil {
		fmt.Fprintf(w, "merged %d runs, %d requests, into %s\n", len(runs), len(reqs), out)
	}
	return sum, nil
}

// mergeMetrics combines the parts' metrics: counters add (rate over the
// merged duration), rates add their passes and fails, gauges keep the
// latest part's value with the overall min and max, trends merge their
// histograms and read their stats from the merged one (min, max, avg and
// count exact).
func mergeMetrics(sums []*runfmt.Summary, seconds float64, stats []string) (map[string]runfmt.Metric, error) {
	out := map[string]runfmt.Metric{}
	type acc struct {
		m      runfmt.Metric
		hist   *metrics.Histogram
		latest time.Time
	}
	accs := map[string]*acc{}
	for _, s := range sums {
		for key, m := range s.Metrics {
			a, ok := accs[key]
			if !ok {
				a = &acc{m: runfmt.Metric{Type: m.Type, Contains: m.Contains, Values: map[string]float64{}}}
				accs[key] = a
			}
			if a.m.Type != m.Type {
				return nil, fmt.Errorf("metric %s is a %s in one run and a %s in another", key, a.m.Type, m.Type)
			}
			v := m.Values
			switch m.Type {
			case "counter":
				a.m.Values["count"] += v["count"]
			case "rate":
				a.m.Values["passes"] += v["passes"]
				a.m.Values["fails"] += v["fails"]
			case "gauge":
				if !ok || s.End.After(a.latest) {
					a.m.Values["value"], a.latest = v["value"], s.End
				}
				if !ok {
					a.m.Values["min"], a.m.Values["max"] = v["min"], v["max"]
				} else {
					a.m.Values["min"] = math.Min(a.m.Values["min"], v["min"])
					a.m.Values["max"] = math.Max(a.m.Values["max"], v["max"])
				}
			case "trend":
				if m.Histogram == nil {
					return nil, fmt.Errorf("trend %s has no histogram in one run: it cannot be merged exactly", key)
				}
				if a.hist == nil {
					a.hist = new(metrics.Histogram) // takes the first part's gamma
				}
				if err := a.hist.Merge(m.Histogram); err != nil {
					return nil, fmt.Errorf("trend %s: %w", key, err)
				}
			}
		}
	}
	for key, a := range accs {
		v := a.m.Values
		switch a.m.Type {
		case "counter":
			if seconds > 0 {
				v["rate"] = v["count"] / seconds
			}
		case "rate":
			if n := v["passes"] + v["fails"]; n > 0 {
				v["rate"] = v["passes"] / n
			}
		case "trend":
			h := a.hist
			v["avg"], v["min"], v["max"], v["med"] = h.Mean(), h.Min, h.Max, h.Quantile(0.5)
			for _, st := range append(slices.Clone(metrics.DefaultTrendStats), stats...) {
				k, err := metrics.TrendStatKey(st)
				if err != nil || !strings.HasPrefix(k, "p(") {
					continue
				}
				var p float64
				fmt.Sscanf(k, "p(%g)", &p)
				v[k] = h.Quantile(p / 100)
			}
			if h.Count == 0 {
				v["min"], v["max"] = 0, 0
			}
			a.m.Histogram = h.Raw()
		}
		out[key] = a.m
	}
	return out, nil
}

// mergeGroups adds up the checks of every part's groups.
func mergeGroups(sums []*runfmt.Summary) runfmt.Group {
	root := sums[0].Root
	root = cloneGroup(root)
	for _, s := range sums[1:] {
		addGroup(&root, s.Root)
	}
	return root
}

func cloneGroup(g runfmt.Group) runfmt.Group {
	c := g
	c.Checks = slices.Clone(g.Checks)
	c.Groups = nil
	for _, sg := range g.Groups {
		c.Groups = append(c.Groups, cloneGroup(sg))
	}
	return c
}

func addGroup(dst *runfmt.Group, src runfmt.Group) {
	for _, c := range src.Checks {
		i := slices.IndexFunc(dst.Checks, func(d runfmt.Check) bool { return d.Name == c.Name })
		if i < 0 {
			dst.Checks = append(dst.Checks, c)
		} else {
			dst.Checks[i].Passes += c.Passes
			dst.Checks[i].Fails += c.Fails
		}
	}
	for _, sg := range src.Groups {
		i := slices.IndexFunc(dst.Groups, func(d runfmt.Group) bool { return d.Name == sg.Name })
		if i < 0 {
			dst.Groups = append(dst.Groups, cloneGroup(sg))
		} else {
			addGroup(&dst.Groups[i], sg)
		}
	}
}
