// Package index is the run index of `llmbench web` and of the nightly job:
// a SQLite database (modernc.org/sqlite, no cgo) over the run folders of a
// runs directory, so that listing, filtering, sorting and the nightly
// history do not re-read every run's JSON files.
//
// The folders stay the source of truth. The database lives at
// RUNS/.llmbench-index.db (see WithPath) and is rebuilt from the folders
// when it is missing, corrupt or from another schema version; Sync brings it
// up to date with folders that were added, changed or removed since, by
// comparing the size, modification time and inode of each folder's files
// with what the index recorded.
//
// Only the direct sub-folders of the runs directory are runs. Folders whose
// names start with "." and symbolic links are skipped, so that nothing the
// index lists lies outside the runs directory. A folder whose files cannot
// be read (no or unreadable run.json, a newer format, bad JSON, a file that
// is a symbolic link) is listed with Run.Broken set to the error, never
// left out and never an error of the listing.
//
// # nightly.json
//
// The nightly job marks a run it judged a regression with a file
// nightly.json in the run folder:
//
//	{"regression": true, "why": "ttft_p95_ms +23 % over the last 7 nights", "metrics": ["ttft_p95_ms"]}
//
// "why" becomes Run.Regression (or "regression" when it is empty);
// "metrics", optional, names the metrics that regressed: a Point of History
// is flagged when its metric is listed, or for every metric when the list
// is empty. Without the file, or with "regression": false, nothing is
// flagged.
package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/llmbench/llmbench/runfmt"
)

// DBFile is the index database's file name inside the runs directory.
const DBFile = ".llmbench-index.db"

// NightlyFile is the file the nightly job writes into a run folder to flag
// a regression (runfmt.Nightly).
const NightlyFile = runfmt.NightlyFile

// schemaVersion is stored in the database's user_version. A database with
// another version is rebuilt: bump it whenever the schema or what is
// extracted from the run folders changes.
const schemaVersion = 1

const schema = `
CREATE TABLE runs (
	id                 TEXT PRIMARY KEY,
	stamp              TEXT NOT NULL,
	scenario           TEXT NOT NULL,
	target             TEXT NOT NULL,
	protocol           TEXT NOT NULL,
	model              TEXT NOT NULL,
	backend            TEXT NOT NULL,
	device             TEXT NOT NULL,
	git_commit         TEXT NOT NULL,
	host               TEXT NOT NULL,
	suite              TEXT NOT NULL,
	night              TEXT NOT NULL,
	start_ns           INTEGER NOT NULL,
	end_ns             INTEGER NOT NULL,
	status             TEXT NOT NULL,
	requests           INTEGER NOT NULL,
	broken             TEXT NOT NULL,
	has_analysis       INTEGER NOT NULL,
	has_report         INTEGER NOT NULL,
	bottleneck         TEXT NOT NULL,
	regression         TEXT NOT NULL,
	regression_metrics TEXT NOT NULL
);
CREATE INDEX runs_suite ON runs (suite, scenario, target);
CREATE TABLE metrics (
	run_id TEXT NOT NULL,
	name   TEXT NOT NULL,
	value  REAL NOT NULL,
	PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX metrics_name ON metrics (name, run_id);
`

// ErrNotFound is returned by Index.Run for an ID the index does not hold.
var ErrNotFound = errors.New("run not found")

// Index is the run index of one runs directory. Its methods are safe for
// concurrent use; Sync calls are serialized, and readers see either the
// state before a Sync or the state after it. Several processes may open
// the same database: SQLite's locking (WAL mode, a busy timeout) keeps
// them apart.
type Index struct {
	dir  string // the runs directory, absolute
	path string // the database file
	db   *sql.DB
	mu   sync.Mutex // serializes Sync
	// rebuilt says why Open threw the database away (see Rebuilt).
	rebuilt string
}

// Option changes how Open opens the index.
type Option func(*options)

type options struct {
	path string
}

// WithPath puts the database at path instead of RUNS/.llmbench-index.db.
// The file belongs to the index: Open deletes it when it cannot use it.
func WithPath(path string) Option { return func(o *options) { o.path = path } }

// Open opens the index of runsDir, creating or rebuilding its database when
// it is missing, corrupt or from another schema version, and Syncs it with
// the run folders.
func Open(ctx context.Context, runsDir string, opts ...Option) (*Index, error) {
	dir, err := filepath.Abs(runsDir)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", runsDir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open index: %s is not a directory", dir)
	}
	o := options{path: filepath.Join(dir, DBFile)}
	for _, opt := range opts {
		opt(&o)
	}
	ix := &Index{dir: dir, path: o.path}
	ix.db, err = openDB(ctx, o.path)
	var unusable *unusableError
	if errors.As(err, &unusable) {
		ix.rebuilt = unusable.why
		removeDB(o.path)
		ix.db, err = openDB(ctx, o.path)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", o.path, err)
	}
	if err := ix.Sync(ctx); err != nil {
		ix.db.Close()
		return nil, err
	}
	return ix, nil
}

// Dir returns the runs directory, as an absolute path.
func (ix *Index) Dir() string { return ix.dir }

// Rebuilt says why Open threw away the database file it found and built
// a new one from the run folders: "corrupt: ...", "schema version 0, want
// 1", ...; "" when it used the file it found or created a missing one.
func (ix *Index) Rebuilt() string { return ix.rebuilt }

// Close closes the database.
func (ix *Index) Close() error { return ix.db.Close() }

// unusableError is a database file that exists but cannot be used as the
// index: corrupt, not SQLite, or another schema version.
type unusableError struct{ why string }

func (e *unusableError) Error() string { return e.why }

// openDB opens the database at path, creating its schema when the file is
// new. A file it cannot use gives an *unusableError.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := checkDB(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func checkDB(ctx context.Context, db *sql.DB) error {
	// A file that is not a database fails already here, when the first
	// connection runs its pragmas.
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return &unusableError{why: "unreadable: " + err.Error()}
	}
	switch version {
	case schemaVersion:
		var res string
		if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
			return &unusableError{why: "corrupt: " + err.Error()}
		}
		if res != "ok" {
			return &unusableError{why: "corrupt: " + res}
		}
		return nil
	case 0:
		var tables int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
			return &unusableError{why: "unreadable: " + err.Error()}
		}
		if tables > 0 {
			return &unusableError{why: "not an llmbench index"}
		}
		return createSchema(ctx, db)
	default:
		return &unusableError{why: fmt.Sprintf("schema version %d, want %d", version, schemaVersion)}
	}
}

func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

// removeDB deletes the database file and SQLite's files beside it.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
