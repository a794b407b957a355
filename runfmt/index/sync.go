package index

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
)

// Sync brings the index up to date with the run folders: folders that are
// new or whose files changed are re-read, and folders that are gone are
// dropped. Unchanged folders cost one Lstat per file. It returns an error
// only when the runs directory or the database cannot be used; a bad run
// folder is indexed as broken.
func (ix *Index) Sync(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()

	entries, err := os.ReadDir(ix.dir)
	if err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	known, err := ix.stamps(ctx)
	if err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	var changed []Run
	var stamps []string
	seen := map[string]bool{}
	for _, e := range entries {
		// Symbolic links are not followed (a link could lead out of the
		// runs directory), nor are hidden folders.
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sync index: %w", err)
		}
		id := e.Name()
		seen[id] = true
		stamp := stampOf(ix.dir + string(os.PathSeparator) + id)
		if old, ok := known[id]; ok && old == stamp {
			continue
		}
		changed = append(changed, readFolder(ix.dir, id))
		stamps = append(stamps, stamp)
	}
	var removed []string
	for id := range known {
		if !seen[id] {
			removed = append(removed, id)
		}
	}
	if len(changed) == 0 && len(removed) == 0 {
		return nil
	}
	if err := ix.write(ctx, changed, stamps, removed); err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	return nil
}

// stamps returns the recorded stamp of every indexed run.
func (ix *Index) stamps(ctx context.Context) (map[string]string, error) {
	rows, err := ix.db.QueryContext(ctx, "SELECT id, stamp FROM runs")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var id, stamp string
		if err := rows.Scan(&id, &stamp); err != nil {
			return nil, err
		}
		m[id] = stamp
	}
	return m, rows.Err()
}

// write replaces the changed runs and deletes the removed ones in one
// transaction.
func (ix *Index) write(ctx context.Context, changed []Run, stamps, removed []string) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range removed {
		if err := deleteRun(ctx, tx, id); err != nil {
			return err
		}
	}
	for i, r := range changed {
		if err := deleteRun(ctx, tx, r.ID); err != nil {
			return err
		}
		if err := insertRun(ctx, tx, &r, stamps[i]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func deleteRun(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM metrics WHERE run_id = ?", id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE id = ?", id)
	return err
}

func insertRun(ctx context.Context, tx *sql.Tx, r *Run, stamp string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, stamp, scenario, target, protocol, model, backend, device,
		git_commit, host, suite, night, start_ns, end_ns, status, requests, broken, has_analysis, has_report,
		bottleneck, regression, regression_metrics)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, stamp, r.Scenario, r.Target, r.Protocol, r.Model, r.Backend, r.Device,
		r.Commit, r.Host, r.Suite, r.Night, unixNano(r.Start), unixNano(r.End), r.Status, r.Requests, r.Broken,
		r.HasAnalysis, r.HasReport, r.Bottleneck, r.Regression, strings.Join(r.RegressionMetrics, ","))
	if err != nil {
		return fmt.Errorf("index run %s: %w", r.ID, err)
	}
	for name, v := range r.Metrics {
		if _, err := tx.ExecContext(ctx, "INSERT INTO metrics (run_id, name, value) VALUES (?, ?, ?)", r.ID, name, v); err != nil {
			return fmt.Errorf("index run %s: %w", r.ID, err)
		}
	}
	return nil
}
