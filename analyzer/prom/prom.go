// Package prom reads PromQL series over a run's window for the analyzer:
// queue depth, batch size, CPU, request rate and the other queries of
// queries.json (users can add their own, see LoadQueries), through
// Prometheus' HTTP API. It also reduces a series to the numbers a verdict
// quotes (Max, Mean).
package prom

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/llmbench/llmbench/runfmt"
)

// Client runs the analysis's queries against one Prometheus, through
// client_golang's v1 API (QueryRange). It is safe for concurrent use.
type Client struct {
	v1 rangeQuerier
}

// New returns a Client of the Prometheus at address, e.g.
// http://127.0.0.1:9090 (http:// is assumed when no scheme is given).
func New(address string) (*Client, error) {
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	c, err := api.NewClient(api.Config{Address: address})
	if err != nil {
		return nil, fmt.Errorf("prometheus client %s: %w", address, err)
	}
	return NewWith(c), nil
}

// NewWith returns a Client that sends its requests through c, e.g. one
// made with a RoundTripper that adds credentials.
func NewWith(c api.Client) *Client { return &Client{v1: v1.NewAPI(c)} }

// StepPoints is the number of points Step aims at over a window.
const StepPoints = 200

// Step returns the resolution for a window: about StepPoints points, in whole
// seconds, never under 1 s (Prometheus scrapes every second).
func Step(start, end time.Time) time.Duration {
	step := time.Duration(math.Ceil(end.Sub(start).Seconds()/StepPoints)) * time.Second
	return max(step, time.Second)
}

// QueryTimeout limits each query.
const QueryTimeout = 30 * time.Second

// Range runs q over [start, end] at the given step (Step(start, end) when
// step ≤ 0). Queries should aggregate to one series (sum, max,
// histogram_quantile over sum by (le)); when several series come back
// anyway, they are summed point by point. Samples that are NaN or
// infinite (histogram_quantile over a window without requests) are left
// out, so the series has gaps there; an empty result gives no points. On
// error the Series carries it in Error as well. Prometheus' warnings are
// dropped.
func (c *Client) Range(ctx context.Context, q Query, start, end time.Time, step time.Duration) (runfmt.Series, error) {
	s := runfmt.Series{Name: q.Name, Query: q.Query, Unit: q.Unit, Points: [][2]float64{}}
	if step <= 0 {
		step = Step(start, end)
	}
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	m, err := c.queryRange(ctx, q.Query, start, end, step)
	if err != nil {
		err = fmt.Errorf("query %s: %w", q.Name, err)
		s.Error = err.Error()
		return s, err
	}
	s.Points = sum(m)
	return s, nil
}

// Instant evaluates promql now and returns its value: the first series'
// sample, and false when the result is empty. It asks for a range of one
// instant, so it needs no more of the API than Range does.
func (c *Client) Instant(ctx context.Context, promql string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	now := time.Now()
	m, err := c.queryRange(ctx, promql, now, now, time.Second)
	if err != nil {
		return 0, false, fmt.Errorf("query %q: %w", promql, err)
	}
	for _, ss := range m {
		if len(ss.Values) > 0 {
			return ss.Values[len(ss.Values)-1][1], true, nil
		}
	}
	return 0, false, nil
}

// sum adds up the series of m at each timestamp, leaving out NaN and
// infinite samples, in time order.
func sum(m []stream) [][2]float64 {
	at := make(map[float64]float64)
	for _, ss := range m {
		for _, p := range ss.Values {
			if math.IsNaN(p[1]) || math.IsInf(p[1], 0) {
				continue
			}
			at[p[0]] += p[1]
		}
	}
	points := make([][2]float64, 0, len(at))
	for t, v := range at {
		points = append(points, [2]float64{t, v})
	}
	slices.SortFunc(points, func(a, b [2]float64) int { return cmp.Compare(a[0], b[0]) })
	return points
}

// Concurrency is how many queries All runs at a time.
const Concurrency = 4

// All runs the queries over [start, end] (see Range), Concurrency at a
// time, and returns their series in the order of queries. A query that
// fails does not stop the others: its error is in its Series.Error, for
// the caller to count.
func (c *Client) All(ctx context.Context, queries []Query, start, end time.Time, step time.Duration) []runfmt.Series {
	if step <= 0 {
		step = Step(start, end)
	}
	out := make([]runfmt.Series, len(queries))
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for i, q := range queries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], _ = c.Range(ctx, q, start, end, step)
		})
	}
	wg.Wait()
	return out
}

// Max returns the largest value of s and its time; ok is false when s has
// no points.
func Max(s runfmt.Series) (v float64, at time.Time, ok bool) {
	for i, p := range s.Points {
		if i == 0 || p[1] > v {
			v, at = p[1], unix(p[0])
		}
	}
	return v, at, len(s.Points) > 0
}

// Mean returns the mean of the values of s; its points are evenly spaced,
// so this is the mean over time, gaps left out. ok is false when s has no
// points.
func Mean(s runfmt.Series) (v float64, ok bool) {
	if len(s.Points) == 0 {
		return 0, false
	}
	var total float64
	for _, p := range s.Points {
		total += p[1]
	}
	return total / float64(len(s.Points)), true
}

// Increase returns how much the counter series s grew within [from, to]:
// its last point in the window less its first, and the time between them.
// ok is false with fewer than two points in the window, or when the
// counter went down (a restart). Unlike Max of a rate(), it sees nothing
// from before or after the window.
func Increase(s runfmt.Series, from, to time.Time) (delta float64, span time.Duration, ok bool) {
	lo, hi := float64(from.UnixMilli())/1e3, float64(to.UnixMilli())/1e3
	var first, last [2]float64
	n := 0
	for _, p := range s.Points {
		if p[0] < lo || p[0] > hi {
			continue
		}
		if n == 0 {
			first = p
		}
		last = p
		n++
	}
	if n < 2 || last[1] < first[1] || last[0] <= first[0] {
		return 0, 0, false
	}
	return last[1] - first[1], unix(last[0]).Sub(unix(first[0])), true
}

// unix converts unix seconds to a time, to the millisecond (Prometheus'
// resolution).
func unix(sec float64) time.Time {
	return time.UnixMilli(int64(math.Round(sec * 1e3)))
}
