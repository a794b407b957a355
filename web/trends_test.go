package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/llmbench/llmbench/runfmt/index"
)

func TestBuildChart(t *testing.T) {
	pt := func(night, id string, v float64, reg string) index.Point {
		return index.Point{Night: night, RunID: id, Value: v, Regression: reg}
	}
	c := buildChart("ttft_p95_ms", "TTFT p95 (ms)", []trendSeries{
		{Name: "baseline", Points: []index.Point{pt("2026-11-28", "a1", 100, ""), pt("2026-11-30", "a3", 340, "up 240 %")}},
		{Name: "smoke", Points: []index.Point{pt("2026-11-29", "b2", 50, ""), pt("2026-11-30", "b3", 60, "")}},
	})
	if c.Empty || len(c.Lines) != 2 {
		t.Fatalf("got empty %v, %d lines, want 2 lines", c.Empty, len(c.Lines))
	}
	// Three nights, in order, sharing one axis.
	if got, want := len(c.XTicks), 3; got != want {
		t.Fatalf("x ticks: got %d, want %d", got, want)
	}
	for i, want := range []string{"2026-11-28", "2026-11-29", "2026-11-30"} {
		if c.XTicks[i].Label != want {
			t.Errorf("x tick %d: got %q, want %q", i, c.XTicks[i].Label, want)
		}
	}
	base, smoke := c.Lines[0].Points, c.Lines[1].Points
	if base[1].X != smoke[1].X || base[0].X >= smoke[0].X || smoke[0].X >= smoke[1].X {
		t.Errorf("x: got base %v, %v and smoke %v, %v, want nights in order, one x per night", base[0].X, base[1].X, smoke[0].X, smoke[1].X)
	}
	// y grows upwards; 0 at the bottom, the top a round step above 340.
	if !(base[1].Y < base[0].Y && base[0].Y < smoke[0].Y) {
		t.Errorf("y: got %v (340), %v (100), %v (50), want larger values higher", base[1].Y, base[0].Y, smoke[0].Y)
	}
	if first, last := c.YTicks[0], c.YTicks[len(c.YTicks)-1]; first.Label != "0" || first.Pos != c.Bottom || last.Label != "400" || last.Pos != c.Top {
		t.Errorf("y ticks: got %v … %v, want 0 at the bottom, 400 at the top", first, last)
	}
	for _, tt := range []struct {
		name string
		d    dot
		reg  bool
		href string
	}{
		{"flagged", base[1], true, "/runs/a3"},
		{"plain", base[0], false, "/runs/a1"},
	} {
		if tt.d.Regression != tt.reg || tt.d.Href != tt.href {
			t.Errorf("%s: got regression %v, href %q, want %v, %q", tt.name, tt.d.Regression, tt.d.Href, tt.reg, tt.href)
		}
	}
	if want := "2026-11-30 baseline: 340 — regression: up 240 %"; base[1].Title != want {
		t.Errorf("title: got %q, want %q", base[1].Title, want)
	}
	if want := fmt.Sprintf("M%.1f %.1f L%.1f %.1f", smoke[0].X, smoke[0].Y, smoke[1].X, smoke[1].Y); c.Lines[1].Path != want {
		t.Errorf("path: got %q, want %q, through its points", c.Lines[1].Path, want)
	}

	if e := buildChart("itl_p99_ms", "", []trendSeries{{Name: "x"}}); !e.Empty || e.Label != "itl_p99_ms" {
		t.Errorf("no points: got empty %v, label %q, want empty, the metric's name", e.Empty, e.Label)
	}
	// A night missing from the point falls back to its start's date;
	// equal values still get a y range.
	flat := buildChart("error_rate", "error rate", []trendSeries{{Name: "x", Points: []index.Point{
		{RunID: "r", Start: time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC), Value: 0}}}})
	if flat.XTicks[0].Label != "2026-11-28" || len(flat.YTicks) < 2 {
		t.Errorf("flat: got x %v, y %v, want the start's date and a y range", flat.XTicks, flat.YTicks)
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct{ raw, want float64 }{
		{0.7, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {85, 100}, {0.03, 0.05}, {0, 1}, {-3, 1},
	} {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v): got %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	m := map[string]float64{"ttft_p95_ms": 1234.6, "tpot_p95_ms": 21.25, "e2e_p95_ms": 15000, "error_rate": 0.025, "requests_per_s": 2}
	for _, tt := range []struct{ name, want string }{
		{"ttft_p95_ms", "1235 ms"},
		{"tpot_p95_ms", "21.2 ms"},
		{"e2e_p95_ms", "15.0 s"},
		{"error_rate", "2.5 %"},
		{"requests_per_s", "2.00"},
		{"itl_p99_ms", "—"},
	} {
		if got := formatMetric(tt.name, m); got != tt.want {
			t.Errorf("formatMetric(%s): got %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		v    float64
		want string
	}{{0, "0"}, {0.30000000000000004, "0.3"}, {123.456, "123.5"}, {2500, "2500"}, {1234567, "1234567"}} {
		if got := formatTick(tt.v); got != tt.want {
			t.Errorf("formatTick(%v): got %q, want %q", tt.v, got, tt.want)
		}
	}
}
