package prom

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/llmbench/llmbench/internal/jsonerr"
)

// Query is one named PromQL query of the analysis.
type Query struct {
	Name        string `json:"name"`                  // e.g. "queue_depth"; the series' name in analysis.json
	Query       string `json:"query"`                 // PromQL, e.g. "sum(llm_requests_waiting)"
	Unit        string `json:"unit,omitempty"`        // e.g. "requests", "s", "req/s"
	Description string `json:"description,omitempty"` // one sentence for the report
}

// Names of default queries that the analysis refers to.
const (
	RequestRate  = "request_rate"
	ErrorRate    = "error_rate"
	TokenRate    = "token_rate"
	QueueDepth   = "queue_depth"
	Running      = "running"
	BatchSize    = "batch_size"
	KVCacheUsage = "kv_cache_usage"
	TTFTP50      = "ttft_p50"
	TTFTP95      = "ttft_p95"
	TPOTP95      = "tpot_p95"
	QueueWaitP95 = "queue_wait_p95"
	RefserverCPU = "refserver_cpu"
	// Counters, read with Increase over the run's own window.
	RefserverCPUSeconds = "refserver_cpu_seconds"
	EngineBusySeconds   = "engine_busy_seconds"
	EngineCPUSeconds    = "engine_cpu_seconds"
	RefserverMemory     = "refserver_memory"
	LoadgenInFlight     = "loadgen_in_flight"
)

//go:embed queries.json
var defaultQueries []byte

// Defaults returns the built-in queries (queries.json in this package), for
// refserver's and the load generator's metrics. Each call returns a new
// slice.
func Defaults() []Query {
	qs, err := decodeQueries(defaultQueries)
	if err != nil {
		panic("prom: embedded queries.json: " + err.Error())
	}
	return qs
}

// LoadQueries returns the default queries merged with the queries file at
// path; with path "" it returns the defaults. The file has the form of
// the defaults:
//
//	{"queries": [{"name": "...", "query": "...", "unit": "...", "description": "..."}]}
//
// An entry with the name of a default replaces it, in its place; an entry
// with such a name and no query removes it; other entries are added after
// the defaults, in the file's order. Unknown fields, entries without a
// name, a name given twice and a new entry without a query are errors.
//
// The queries are sent as written: there are no placeholders, and the
// defaults use fixed 30 s rate windows (Prometheus scrapes every second).
func LoadQueries(path string) ([]Query, error) {
	qs := Defaults()
	if path == "" {
		return qs, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load queries: %w", err)
	}
	user, err := decodeQueries(b)
	if err != nil {
		return nil, fmt.Errorf("load queries %s: %w", path, err)
	}
	for _, u := range user {
		i := slices.IndexFunc(qs, func(q Query) bool { return q.Name == u.Name })
		switch {
		case i >= 0 && u.Query == "":
			qs = slices.Delete(qs, i, i+1)
		case i >= 0:
			qs[i] = u
		case u.Query == "":
			return nil, fmt.Errorf("load queries %s: query %q: no query", path, u.Name)
		default:
			qs = append(qs, u)
		}
	}
	return qs, nil
}

// decodeQueries reads a queries file: strictly, without duplicate or
// empty names.
func decodeQueries(b []byte) ([]Query, error) {
	var file struct {
		Queries []Query `json:"queries"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, jsonerr.Describe(b, err)
	}
	if dec.More() {
		return nil, errors.New("data after the queries object")
	}
	seen := make(map[string]bool, len(file.Queries))
	for i, q := range file.Queries {
		if q.Name == "" {
			return nil, fmt.Errorf("query %d: no name", i+1)
		}
		if seen[q.Name] {
			return nil, fmt.Errorf("query %q given twice", q.Name)
		}
		seen[q.Name] = true
	}
	return file.Queries, nil
}
