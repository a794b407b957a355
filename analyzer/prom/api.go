package prom

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// rangeQuerier is the one call of Prometheus' v1 API the analysis makes.
type rangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// stream is one series of a matrix answer: its samples, [unix seconds,
// value].
type stream struct {
	Values [][2]float64
}

// queryRange runs query over [start, end] at step and returns the series
// of the matrix it answers.
func (c *Client) queryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]stream, error) {
	v, _, _, err := c.v1.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("got a %s result, want a matrix", v.Type())
	}
	out := make([]stream, len(m))
	for i, ss := range m {
		out[i].Values = make([][2]float64, len(ss.Values))
		for j, p := range ss.Values {
			out[i].Values[j] = [2]float64{float64(p.Timestamp) / 1e3, float64(p.Value)}
		}
	}
	return out, nil
}
