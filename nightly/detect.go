package nightly

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// Detector holds the regression detector's settings (the suite's
// "detector" object). The zero value of each field means its default.
//
// A metric regressed tonight when all three hold:
//   - tonight's value is beyond the noise of the last Nights nights: its
//     robust z, (tonight − median) / (1.4826 · MAD), is at least Z in the
//     bad direction;
//   - tonight's per-request distribution differs from the last good
//     night's: Mann-Whitney p < Alpha;
//   - the change is large enough to matter: at least MinEffectPct % of
//     the baseline median (percentage points for error_rate) in the bad
//     direction.
//
// Latencies and the error rate get worse going up, throughputs going down.
// A Detector is a value and Detect a pure function: both are safe for
// concurrent use.
type Detector struct {
	// Nights is how many earlier nights make the baseline; default 7. With
	// 1, tonight is set against the night before alone: its MAD is 0, and
	// the scale's floor (1 % of the baseline) makes z large, so the
	// minimum effect and the distribution test decide.
	Nights       int     `json:"nights,omitempty"`
	MinEffectPct float64 `json:"min_effect_pct,omitempty"` // default 10
	// MinEffectByMetric overrides MinEffectPct for single metrics. A
	// rate's (error_rate's) effect is in percentage points; its default
	// is 1.
	MinEffectByMetric map[string]float64 `json:"min_effect_pct_by_metric,omitempty"`
	Alpha             float64            `json:"alpha,omitempty"`   // the Mann-Whitney test's level; default 0.01
	Z                 float64            `json:"z,omitempty"`       // the robust z a regression needs; default 3
	Metrics           []string           `json:"metrics,omitempty"` // default DefaultMetrics
}

// Defaults of Detector.
const (
	DefaultNights       = 7
	DefaultMinEffectPct = 10
	DefaultRateEffectPP = 1
	DefaultAlpha        = 0.01
	DefaultZ            = 3
)

// madScale turns a MAD into a standard deviation's estimate for normal
// data.
const madScale = 1.4826

// Validate checks the settings; the error names each field at fault.
func (d Detector) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("detector."+format, args...)) }
	if d.Nights < 0 {
		bad("nights: %d is negative (0 means %d)", d.Nights, DefaultNights)
	}
	if d.MinEffectPct < 0 {
		bad("min_effect_pct: %g is negative", d.MinEffectPct)
	}
	if d.Alpha < 0 || d.Alpha >= 1 {
		bad("alpha: %g is not in (0, 1)", d.Alpha)
	}
	if d.Z < 0 {
		bad("z: %g is negative", d.Z)
	}
	seen := map[string]bool{}
	for i, m := range d.Metrics {
		if _, err := lookupMetric(m); err != nil {
			bad("metrics[%d]: %w", i, err)
		} else if seen[m] {
			bad("metrics[%d]: %s is listed twice", i, m)
		}
		seen[m] = true
	}
	for _, m := range sortedKeys(d.MinEffectByMetric) {
		if _, err := lookupMetric(m); err != nil {
			bad("min_effect_pct_by_metric.%s: %w", m, err)
		} else if d.MinEffectByMetric[m] < 0 {
			bad("min_effect_pct_by_metric.%s: %g is negative", m, d.MinEffectByMetric[m])
		}
	}
	return errors.Join(errs...)
}

func (d Detector) withDefaults() Detector {
	if d.Nights == 0 {
		d.Nights = DefaultNights
	}
	if d.MinEffectPct == 0 {
		d.MinEffectPct = DefaultMinEffectPct
	}
	if d.Alpha == 0 {
		d.Alpha = DefaultAlpha
	}
	if d.Z == 0 {
		d.Z = DefaultZ
	}
	if len(d.Metrics) == 0 {
		d.Metrics = slices.Clone(DefaultMetrics)
	}
	return d
}

// minEffect is the smallest change of m that counts.
func (d Detector) minEffect(m metricDef) float64 {
	if v, ok := d.MinEffectByMetric[m.name]; ok {
		return v
	}
	if m.kind == kindRate {
		return DefaultRateEffectPP
	}
	return d.MinEffectPct
}

// Observation is what the detector knows of one metric on one night.
type Observation struct {
	Metric  string    // e.g. ttft_p95_ms
	Tonight float64   // tonight's value (summary.json's)
	Sample  []float64 // tonight's per-request values (see MetricNames)
	// History is the metric's value on previous nights, oldest first,
	// failed nights left out. The last Detector.Nights are the baseline.
	History []float64
	// LastGood is the per-request sample of the last night that was not a
	// regression, and LastGoodNight its date, for the distribution test.
	LastGood      []float64
	LastGoodNight string
}

// Verdict statuses (runfmt's NightlyVerdict statuses).
const (
	VerdictOK         = runfmt.NightlyVerdictOK
	VerdictRegression = runfmt.NightlyVerdictRegression
	VerdictImproved   = runfmt.NightlyVerdictImproved
	VerdictNoBaseline = runfmt.NightlyVerdictNoBaseline
	VerdictNoData     = runfmt.NightlyVerdictNoData
)

// Verdict is the detector's judgement of one metric on one night, as
// nightly.json records it (runfmt.NightlyVerdict).
type Verdict = runfmt.NightlyVerdict

// Detect judges one metric. It is a pure function of its arguments.
func (d Detector) Detect(o Observation) Verdict {
	d = d.withDefaults()
	v := Verdict{Metric: o.Metric, Tonight: finite(o.Tonight), P: 1}
	m, err := lookupMetric(o.Metric)
	if err != nil {
		v.Status, v.Why = VerdictNoData, err.Error()
		return v
	}
	if math.IsNaN(o.Tonight) || math.IsInf(o.Tonight, 0) || len(o.Sample) == 0 {
		v.Status, v.Why = VerdictNoData, m.name+": no value tonight"
		return v
	}
	var hist []float64
	for _, h := range o.History {
		if !math.IsNaN(h) && !math.IsInf(h, 0) {
			hist = append(hist, h)
		}
	}
	if len(hist) > d.Nights {
		hist = hist[len(hist)-d.Nights:]
	}
	v.Nights = len(hist)
	if len(hist) < d.Nights {
		v.Status = VerdictNoBaseline
		v.Why = fmt.Sprintf("%s: baseline needs %s, has %d", m.name, nights(d.Nights), len(hist))
		return v
	}
	med := stats.Median(hist)
	dev := make([]float64, len(hist))
	for i, h := range hist {
		dev[i] = math.Abs(h - med)
	}
	v.Baseline, v.MAD = med, stats.Median(dev)

	if m.kind == kindRate {
		v.EffectPct = 100 * (o.Tonight - med)
	} else if med != 0 {
		v.EffectPct = 100 * (o.Tonight - med) / math.Abs(med)
	} else {
		v.Status = VerdictNoBaseline
		v.Why = fmt.Sprintf("%s: the baseline median is 0, so a change has no size", m.name)
		return v
	}
	// A floor on the scale: nights that agree to the last digit would make
	// any change infinitely many MADs away.
	scale := math.Max(madScale*v.MAD, 0.01*math.Abs(med))
	if m.kind == kindRate {
		scale = math.Max(scale, 0.001)
	}
	v.Z = (o.Tonight - med) / scale
	if len(o.LastGood) == 0 {
		v.Status = VerdictNoBaseline
		v.Why = fmt.Sprintf("%s: no last good night's requests to test tonight's against", m.name)
		return v
	}
	_, v.P = stats.MannWhitney(o.Sample, o.LastGood)

	sign := 1.0 // > 0: the bad direction
	if m.kind == kindThroughput {
		sign = -1
	}
	minEff := d.minEffect(m)
	big := func(s float64) bool { return s*v.EffectPct >= minEff && s*v.Z >= d.Z && v.P < d.Alpha }
	against := "the last good night"
	if o.LastGoodNight != "" {
		against = o.LastGoodNight
	}
	evidence := fmt.Sprintf("%s vs a baseline median of %s over %s (MAD %s), robust z %+.1f, Mann-Whitney p %.2g against %s",
		m.format(o.Tonight), m.format(med), nights(v.Nights), m.format(v.MAD), v.Z, v.P, against)
	switch {
	case big(sign):
		v.Status, v.Regression = VerdictRegression, true
		v.Why = fmt.Sprintf("%s %s %.1f%s: %s", m.name, moved(v.EffectPct), math.Abs(v.EffectPct), m.effectUnit(), evidence)
	case big(-sign):
		v.Status = VerdictImproved
		v.Why = fmt.Sprintf("%s %s %.1f%s (better): %s", m.name, moved(v.EffectPct), math.Abs(v.EffectPct), m.effectUnit(), evidence)
	default:
		v.Status = VerdictOK
		var reasons []string
		dir := sign
		if v.EffectPct*sign < 0 {
			dir = -sign // judge the change in the direction it went
		}
		if dir*v.EffectPct < minEff {
			reasons = append(reasons, fmt.Sprintf("change %+.1f%s is under the minimum effect %g%s", v.EffectPct, m.effectUnit(), minEff, m.effectUnit()))
		}
		if dir*v.Z < d.Z {
			reasons = append(reasons, fmt.Sprintf("robust z %+.1f is within the nights' noise (±%g)", v.Z, d.Z))
		}
		if v.P >= d.Alpha {
			reasons = append(reasons, fmt.Sprintf("p %.2g is not below %g", v.P, d.Alpha))
		}
		v.Why = fmt.Sprintf("%s %s: %s", m.name, strings.Join(reasons, "; "), evidence)
	}
	return v
}

// Judge sums up a night's verdicts: whether any metric regressed, and why
// (the regressed metrics' reasons, or what kept the night from a verdict).
func Judge(vs []Verdict) (regression bool, why string) {
	var reg, nobase []string // the whys
	for _, v := range vs {
		switch v.Status {
		case VerdictRegression:
			reg = append(reg, v.Why)
		case VerdictNoBaseline:
			nobase = append(nobase, v.Why)
		}
	}
	switch {
	case len(reg) > 0:
		return true, strings.Join(reg, "; ")
	case len(nobase) == len(vs) && len(vs) > 0:
		return false, "no verdict: " + strings.TrimPrefix(nobase[0], vs[0].Metric+": ")
	}
	return false, "no regression"
}

func nights(n int) string {
	if n == 1 {
		return "1 night"
	}
	return fmt.Sprintf("%d nights", n)
}

func moved(effect float64) string {
	if effect < 0 {
		return "fell"
	}
	return "rose"
}

// finite maps NaN and ±Inf to 0, which JSON can hold.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
