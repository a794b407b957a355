package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Filter selects and orders the runs of Index.Runs. The zero value lists
// every run, oldest first.
type Filter struct {
	// Scenario, Target, Device and Suite, when set, keep the runs whose
	// field equals them exactly.
	Scenario, Target, Device, Suite string
	// Sort is a column (one of SortColumns) or a metric name (e.g.
	// ttft_p95_ms); "" sorts by start. Runs without the metric come last
	// either way. Ties are broken by ID.
	Sort string
	Desc bool // descending
}

// SortColumns are the run fields Filter.Sort accepts besides metric names.
var SortColumns = []string{
	"id", "start", "end", "scenario", "target", "protocol", "model", "backend", "device",
	"commit", "host", "suite", "night", "status", "requests", "bottleneck", "broken",
}

var sortSQL = map[string]string{
	"id": "id", "start": "start_ns", "end": "end_ns", "scenario": "scenario", "target": "target",
	"protocol": "protocol", "model": "model", "backend": "backend", "device": "device",
	"commit": "git_commit", "host": "host", "suite": "suite", "night": "night", "status": "status",
	"requests": "requests", "bottleneck": "bottleneck", "broken": "broken",
}

// ErrBadSort is returned by Runs for a Filter.Sort that is neither a column
// nor a possible metric name.
var ErrBadSort = errors.New("bad sort key")

const runColumns = `id, scenario, target, protocol, model, backend, device, git_commit, host, suite, night,
	start_ns, end_ns, status, requests, broken, has_analysis, has_report, bottleneck, regression, regression_metrics`

// Runs lists the indexed runs that f selects, in f's order, as of the last
// Sync.
func (ix *Index) Runs(ctx context.Context, f Filter) ([]Run, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"scenario", f.Scenario}, {"target", f.Target}, {"device", f.Device}, {"suite", f.Suite},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := "SELECT " + runColumns + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	dir := " ASC"
	if f.Desc {
		dir = " DESC"
	}
	key := f.Sort
	if key == "" {
		key = "start"
	}
	if col, ok := sortSQL[key]; ok {
		q += " ORDER BY " + col + dir + ", id" + dir
	} else if metricName(key) {
		// Runs without the metric last, whatever the direction.
		const m = "(SELECT value FROM metrics WHERE run_id = runs.id AND name = ?)"
		q += " ORDER BY " + m + " IS NULL, " + m + dir + ", id" + dir
		args = append(args, key, key)
	} else {
		return nil, fmt.Errorf("list runs: %w %q", ErrBadSort, f.Sort)
	}
	// One read transaction: the runs and their metrics from the same
	// snapshot, whatever a concurrent Sync commits.
	tx, err := ix.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := ix.scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	if err := addMetrics(ctx, tx, runs, where, args[:len(where)]); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// Run returns the indexed run with this ID, or ErrNotFound.
func (ix *Index) Run(ctx context.Context, id string) (Run, error) {
	tx, err := ix.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", id)
	if err != nil {
		return Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	runs, err := ix.scanRuns(rows)
	if err != nil {
		return Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	if len(runs) == 0 {
		return Run{}, fmt.Errorf("get run %s: %w", id, ErrNotFound)
	}
	if err := addMetrics(ctx, tx, runs, []string{"id = ?"}, []any{id}); err != nil {
		return Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	return runs[0], nil
}

// metricName says whether s may be a metric name: lower-case letters,
// digits and underscores.
func metricName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (ix *Index) scanRuns(rows *sql.Rows) ([]Run, error) {
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		var r Run
		var start, end int64
		var regMetrics string
		if err := rows.Scan(&r.ID, &r.Scenario, &r.Target, &r.Protocol, &r.Model, &r.Backend, &r.Device,
			&r.Commit, &r.Host, &r.Suite, &r.Night, &start, &end, &r.Status, &r.Requests, &r.Broken,
			&r.HasAnalysis, &r.HasReport, &r.Bottleneck, &r.Regression, &regMetrics); err != nil {
			return nil, err
		}
		r.Dir = filepath.Join(ix.dir, r.ID)
		r.Start, r.End = fromUnixNano(start), fromUnixNano(end)
		if regMetrics != "" {
			r.RegressionMetrics = strings.Split(regMetrics, ",")
		}
		r.Metrics = map[string]float64{}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// addMetrics fills the Metrics of runs, which the runs WHERE clause where
// (with args) selected in the same transaction.
func addMetrics(ctx context.Context, tx *sql.Tx, runs []Run, where []string, args []any) error {
	if len(runs) == 0 {
		return nil
	}
	q := "SELECT run_id, name, value FROM metrics"
	if len(where) > 0 {
		q += " WHERE run_id IN (SELECT id FROM runs WHERE " + strings.Join(where, " AND ") + ")"
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	byID := make(map[string]int, len(runs))
	for i := range runs {
		byID[runs[i].ID] = i
	}
	for rows.Next() {
		var id, name string
		var v float64
		if err := rows.Scan(&id, &name, &v); err != nil {
			return err
		}
		if i, ok := byID[id]; ok {
			runs[i].Metrics[name] = v
		}
	}
	return rows.Err()
}

// Point is one run's value of a metric in a History.
type Point struct {
	Night string // the run's night, YYYY-MM-DD
	RunID string
	Start time.Time
	Value float64
	// Regression is why the nightly job flagged this metric of the run,
	// "" when it did not (see nightly.json in the package documentation).
	Regression string
}

// History returns metric's values over the runs of a nightly suite, oldest
// first: at most limit of the newest (all when limit <= 0), ordered by
// night, then start. Scenario and target, when set, keep the runs whose
// field equals them. Runs without the metric are left out. It reads the
// index as of the last Sync: the nightly job Syncs (or Opens) after
// writing its runs.
func (ix *Index) History(ctx context.Context, suite, scenario, target, metric string, limit int) ([]Point, error) {
	if suite == "" {
		return nil, fmt.Errorf("history of %s: no suite given", metric)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT r.id, r.night, r.start_ns, m.value, r.regression, r.regression_metrics
		FROM runs r JOIN metrics m ON m.run_id = r.id AND m.name = ?
		WHERE r.suite = ? AND (? = '' OR r.scenario = ?) AND (? = '' OR r.target = ?)
		ORDER BY r.night DESC, r.start_ns DESC, r.id DESC LIMIT ?`,
		metric, suite, scenario, scenario, target, target, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", metric, err)
	}
	defer rows.Close()
	var pts []Point
	for rows.Next() {
		var p Point
		var start int64
		var reg, regMetrics string
		if err := rows.Scan(&p.RunID, &p.Night, &start, &p.Value, &reg, &regMetrics); err != nil {
			return nil, fmt.Errorf("history of %s: %w", metric, err)
		}
		p.Start = fromUnixNano(start)
		if reg != "" && (regMetrics == "" || slices.Contains(strings.Split(regMetrics, ","), metric)) {
			p.Regression = reg
		}
		pts = append(pts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of %s: %w", metric, err)
	}
	slices.Reverse(pts)
	return pts, nil
}

// unixNano stores a time; the zero time is 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
