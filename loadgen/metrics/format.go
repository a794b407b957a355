package metrics

import (
	"fmt"
	"math"
	"strconv"
)

// FormatValue formats v as the text summary shows a value that contains
// the given value type ("time", "data" or "default", as runfmt.Metric
// spells it): see FormatDuration, FormatBytes and FormatNumber.
func FormatValue(v float64, contains string) string {
	switch contains {
	case "time":
		return FormatDuration(v)
	case "data":
		return FormatBytes(v)
	}
	return FormatNumber(v)
}

// FormatNumber formats v with at most six decimals and no trailing zeros,
// as k6 does: 4.36938, 152.355556, 180.
func FormatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	r := math.Round(v*1e6) / 1e6
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// FormatDuration formats ms milliseconds the way k6 shows time values:
// the largest unit of ns, µs, ms and s that keeps the number at 1 or more,
// with at most two decimals (7µs, 12.25µs, 144.56ms, 1.35s), and from one
// minute on hours, minutes and seconds (1m30s, 1h2m3.5s). Zero is "0s".
func FormatDuration(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return strconv.FormatFloat(ms, 'f', -1, 64)
	case ms < 0:
		return "-" + FormatDuration(-ms)
	case ms == 0:
		return "0s"
	}
	units := []struct {
		name  string
		scale float64 // this unit per millisecond
		next  float64 // where the next unit starts, in this unit
	}{
		{"ns", 1e6, 1000},
		{"µs", 1e3, 1000},
		{"ms", 1, 1000},
		{"s", 1e-3, 60},
	}
	for _, u := range units {
		x := math.Round(ms*u.scale*100) / 100
		if x < u.next {
			return strconv.FormatFloat(x, 'f', -1, 64) + u.name
		}
	}
	cs := int64(math.Round(ms / 10)) // centiseconds
	h, m := cs/360000, cs%360000/6000
	s := strconv.FormatFloat(float64(cs%6000)/100, 'f', -1, 64) + "s"
	if h > 0 {
		return fmt.Sprintf("%dh%dm%s", h, m, s)
	}
	return fmt.Sprintf("%dm%s", m, s)
}

// FormatBytes formats b bytes with SI units, as k6 shows data values:
// 718 B, 4.9 kB, 81 kB, 1.3 MB.
func FormatBytes(b float64) string {
	switch {
	case math.IsNaN(b) || math.IsInf(b, 0):
		return strconv.FormatFloat(b, 'f', -1, 64) + " B"
	case b < 0:
		return "-" + FormatBytes(-b)
	case b < 1000:
		return strconv.FormatFloat(math.Round(b), 'f', -1, 64) + " B"
	}
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	v := b
	for i, u := range units {
		v /= 1000
		if math.Round(v*10)/10 < 1000 || i == len(units)-1 {
			if math.Round(v*10)/10 < 10 {
				return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
			}
			return strconv.FormatFloat(v, 'f', 0, 64) + " " + u
		}
	}
	panic("unreachable")
}
