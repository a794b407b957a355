package runfmt

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TimeSeriesFile is the run's time series: one Interval per line, one a
// second while the run goes on. The live dashboard shows the same lines
// as they come, and the report's "over the run" charts read them.
const TimeSeriesFile = "timeseries.jsonl"

// Interval is one second (or so) of a run: what happened between the
// previous line's Time and this one's. Latencies are in milliseconds over
// the LLM requests that completed in the interval (nil when none did).
type Interval struct {
	Time    time.Time `json:"t"`         // the interval's end
	Elapsed float64   `json:"elapsed_s"` // since the test started, at Time

	VUs        int64 `json:"vus"`
	VUsMax     int64 `json:"vus_max"`
	InFlight   int64 `json:"in_flight"` // LLM requests in flight at Time
	Iterations int64 `json:"iterations"`
	Dropped    int64 `json:"dropped_iterations"`

	Requests     int64   `json:"requests"` // LLM requests completed
	Errors       int64   `json:"errors"`
	RequestsPerS float64 `json:"requests_per_s"`
	OutputTokens int64   `json:"output_tokens"`
	TokensPerS   float64 `json:"output_tokens_per_s"`

	TTFT *Quantiles `json:"ttft,omitempty"`
	TPOT *Quantiles `json:"tpot,omitempty"`
	ITL  *Quantiles `json:"itl,omitempty"`
}

// Quantiles are a distribution's median, 95th and 99th percentiles and
// its count.
type Quantiles struct {
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Count int     `json:"count"`
}

// TimeSeriesLog appends Intervals to a run's timeseries.jsonl. Safe for
// concurrent use.
type TimeSeriesLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// CreateTimeSeries creates dir/timeseries.jsonl, empty.
func CreateTimeSeries(dir string) (*TimeSeriesLog, error) {
	f, err := os.Create(filepath.Join(dir, TimeSeriesFile))
	if err != nil {
		return nil, fmt.Errorf("create time series: %w", err)
	}
	return &TimeSeriesLog{f: f, w: bufio.NewWriter(f)}, nil
}

// Append writes one interval and flushes it, so that a reader sees whole
// lines while the run goes on.
func (l *TimeSeriesLog) Append(iv *Interval) error {
	b, err := json.Marshal(iv)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(append(b, '\n'))
	return l.w.Flush()
}

// Close flushes and closes the file.
func (l *TimeSeriesLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if e := l.f.Close(); err == nil {
		err = e
	}
	return err
}

// ReadTimeSeries reads a run's intervals; a run folder without the file
// (written before it existed) has none, and no error. A line cut short
// (a run killed mid-write) ends the series.
func ReadTimeSeries(dir string) ([]Interval, error) {
	f, err := os.Open(filepath.Join(dir, TimeSeriesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Interval
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var iv Interval
			if err := json.Unmarshal(line, &iv); err != nil {
				return out, fmt.Errorf("%s line %d: %w", TimeSeriesFile, len(out)+1, err)
			}
			out = append(out, iv)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
