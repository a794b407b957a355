package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/llmbench/llmbench/runfmt"
)

// TextOptions shape the text summary. The zero value gives plain text
// with DefaultTrendStats.
type TextOptions struct {
	// Color adds ANSI colours. Set it only when the writer is a terminal.
	Color bool
	// TrendStats are the trend values to show, in order (see TrendStatKey);
	// nil means DefaultTrendStats. Values the summary lacks are skipped.
	TrendStats []string
	// TimeUnit shows every time value in this unit (k6's
	// summaryTimeUnit: "s", "ms" or "us"); "" picks a unit per value.
	TimeUnit string
}

// TimeUnits are the units TextOptions.TimeUnit takes, in milliseconds.
var TimeUnits = map[string]float64{"s": 1000, "ms": 1, "us": 0.001, "µs": 0.001}

// ANSI colours of the text summary.
const (
	ansiGreen = "\x1b[32m"
	ansiRed   = "\x1b[31m"
	ansiCyan  = "\x1b[36m"
	ansiFaint = "\x1b[2m"
	ansiReset = "\x1b[0m"
)

const (
	textIndent = "     " // the left margin of every line
	passMark   = "✓"
	failMark   = "✗"
)

// WriteText writes s as k6's end-of-test summary does: the checks of the
// root group and of each nested group (█) with ✓ or ✗, and the pass
// percentage of each check that failed; then every metric sorted by name,
// dotted to one column, each followed by its sub-metrics, indented. A
// metric with thresholds is marked ✓ when all of them held and ✗ when
// one did not; the thresholds that failed are listed at the end, with the
// value they were checked against, and so is the threshold that aborted
// the run, if one did. A trend shows its stats (avg=… min=… …), a counter
// its count and rate per second, a rate its percentage with ✓ passes and
// ✗ fails, a gauge its value, min and max. Time values are formatted as
// durations and data values as bytes (see FormatValue).
func WriteText(w io.Writer, s *runfmt.Summary, opts TextOptions) error {
	t := textWriter{opts: opts}
	if t.opts.TrendStats == nil {
		t.opts.TrendStats = DefaultTrendStats
	}
	t.b.WriteString("\n")
	if len(s.Root.Checks) > 0 || len(s.Root.Groups) > 0 {
		t.group(s.Root, textIndent, true)
	}
	t.metrics(s.Metrics)
	t.crossed(s)
	if _, err := io.WriteString(w, t.b.String()); err != nil {
		return fmt.Errorf("write text summary: %w", err)
	}
	return nil
}

type textWriter struct {
	opts TextOptions
	b    strings.Builder
}

func (t *textWriter) paint(color, s string) string {
	if !t.opts.Color || s == "" {
		return s
	}
	return color + s + ansiReset
}

func (t *textWriter) mark(ok bool) string {
	if ok {
		return t.paint(ansiGreen, passMark)
	}
	return t.paint(ansiRed, failMark)
}

// group writes a group's checks, then its nested groups.
func (t *textWriter) group(g runfmt.Group, indent string, root bool) {
	if !root {
		fmt.Fprintf(&t.b, "%s█ %s\n\n", indent, g.Name)
		indent += "  "
	}
	for _, c := range g.Checks {
		fmt.Fprintf(&t.b, "%s%s %s\n", indent, t.mark(c.Fails == 0), c.Name)
		if c.Fails > 0 {
			pct := c.Passes * 100 / (c.Passes + c.Fails)
			fmt.Fprintf(&t.b, "%s ↳  %d%% — %s %d / %s %d\n", indent, pct, t.mark(true), c.Passes, t.mark(false), c.Fails)
		}
	}
	if len(g.Checks) > 0 {
		t.b.WriteString("\n")
	}
	for _, sub := range g.Groups {
		t.group(sub, indent, false)
	}
}

// cell is one column of a metric line: its text, and the same text with
// colours.
type cell struct {
	plain, colored string
}

type metricLine struct {
	label  string // name, or { tag:value } for a sub-metric
	sub    bool   // indented under its metric
	marked bool   // has thresholds
	ok     bool   // all of its thresholds held
	trend  bool
	cells  []cell
	stats  []string // a trend's stat of each cell
}

func (t *textWriter) metrics(ms map[string]runfmt.Metric) {
	var lines []metricLine
	for _, key := range Names(ms) {
		m := ms[key]
		l := metricLine{label: key, marked: len(m.Thresholds) > 0, ok: true, trend: m.Type == "trend"}
		if name := baseName(key); name != key {
			if _, ok := ms[name]; ok {
				l.sub = true
				inner := strings.TrimSuffix(key[len(name)+1:], "}")
				l.label = "{ " + strings.ReplaceAll(inner, ",", ", ") + " }"
			}
		}
		for _, th := range m.Thresholds {
			l.ok = l.ok && th.OK
		}
		t.cells(&l, m)
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return
	}

	labelWidth := 0
	plainWidths := map[int]int{}
	statWidths := map[string]int{}
	for _, l := range lines {
		labelWidth = max(labelWidth, labelLen(l))
		for i, c := range l.cells {
			n := utf8.RuneCountInString(c.plain)
			if l.trend {
				statWidths[l.stats[i]] = max(statWidths[l.stats[i]], n)
			} else {
				plainWidths[i] = max(plainWidths[i], n)
			}
		}
	}
	labelWidth += 3

	for _, l := range lines {
		prefix := textIndent
		if l.marked {
			prefix = textIndent[:3] + t.mark(l.ok) + " "
		}
		t.b.WriteString(prefix)
		if l.sub {
			t.b.WriteString("  ")
		}
		t.b.WriteString(l.label)
		t.b.WriteString(t.paint(ansiFaint, strings.Repeat(".", labelWidth-labelLen(l))+":"))
		for i, c := range l.cells {
			t.b.WriteString(" ")
			t.b.WriteString(c.colored)
			if i == len(l.cells)-1 {
				break
			}
			w := plainWidths[i]
			if l.trend {
				w = statWidths[l.stats[i]]
			}
			t.b.WriteString(strings.Repeat(" ", w-utf8.RuneCountInString(c.plain)))
		}
		t.b.WriteString("\n")
	}
	t.b.WriteString("\n")
}

func labelLen(l metricLine) int {
	n := utf8.RuneCountInString(l.label)
	if l.sub {
		n += 2
	}
	return n
}

// cells fills l's columns from m's values.
func (t *textWriter) cells(l *metricLine, m runfmt.Metric) {
	v := m.Values
	val := func(s string) cell { return cell{s, t.paint(ansiCyan, s)} }
	switch m.Type {
	case "trend":
		for _, stat := range t.opts.TrendStats {
			key, err := TrendStatKey(stat)
			if err != nil {
				continue
			}
			x, ok := v[key]
			if !ok {
				continue
			}
			s := t.value(x, m.Contains)
			if key == "count" {
				s = FormatNumber(x)
			}
			l.cells = append(l.cells, cell{key + "=" + s, key + "=" + t.paint(ansiCyan, s)})
			l.stats = append(l.stats, key)
		}
	case "counter":
		l.cells = []cell{val(t.value(v["count"], m.Contains)), val(t.value(v["rate"], m.Contains) + "/s")}
	case "rate":
		p, f := FormatNumber(v["passes"]), FormatNumber(v["fails"])
		l.cells = []cell{
			val(fmt.Sprintf("%.2f%%", v["rate"]*100)),
			{passMark + " " + p, t.mark(true) + " " + p},
			{failMark + " " + f, t.mark(false) + " " + f},
		}
	case "gauge":
		mn, mx := t.value(v["min"], m.Contains), t.value(v["max"], m.Contains)
		l.cells = []cell{
			val(t.value(v["value"], m.Contains)),
			{"min=" + mn, "min=" + t.paint(ansiCyan, mn)},
			{"max=" + mx, "max=" + t.paint(ansiCyan, mx)},
		}
	default:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := FormatNumber(v[k])
			l.cells = append(l.cells, cell{k + "=" + s, k + "=" + t.paint(ansiCyan, s)})
		}
	}
}

// crossed lists the thresholds that failed and the one that aborted the
// run.
func (t *textWriter) crossed(s *runfmt.Summary) {
	var out []string
	for _, key := range Names(s.Metrics) {
		m := s.Metrics[key]
		exprs := make([]string, 0, len(m.Thresholds))
		for e, th := range m.Thresholds {
			if !th.OK {
				exprs = append(exprs, e)
			}
		}
		sort.Strings(exprs)
		for _, e := range exprs {
			line := fmt.Sprintf("%s%s threshold crossed: %s '%s'", textIndent, t.mark(false), key, e)
			if agg, x, ok := observed(e, m); ok {
				line += " " + agg + "=" + formatAgg(m, agg, x)
			}
			if m.Thresholds[e].AbortOnFail {
				line += " (abortOnFail)"
			}
			out = append(out, line)
		}
	}
	if s.Aborted != "" {
		out = append(out, textIndent+"run aborted by threshold "+s.Aborted)
	}
	if len(out) > 0 {
		t.b.WriteString(strings.Join(out, "\n") + "\n\n")
	}
}

// observed finds the value a threshold expression was checked against: the
// aggregation before its operator, looked up in m's values.
func observed(expr string, m runfmt.Metric) (agg string, v float64, ok bool) {
	i := strings.IndexAny(expr, "<>=!")
	if i < 0 {
		return "", 0, false
	}
	agg = strings.Join(strings.Fields(expr[:i]), "")
	if strings.HasPrefix(agg, "p(") {
		key, err := TrendStatKey(agg)
		if err != nil {
			return "", 0, false
		}
		agg = key
	}
	v, ok = m.Values[agg]
	return agg, v, ok
}

// value formats x as FormatValue does, in the forced time unit if any.
func (t *textWriter) value(x float64, contains string) string {
	if div, ok := TimeUnits[t.opts.TimeUnit]; ok && contains == "time" {
		return FormatNumber(math.Round(x/div*100)/100) + t.opts.TimeUnit
	}
	return FormatValue(x, contains)
}

// formatAgg formats the value of one aggregation of m as its line does.
func formatAgg(m runfmt.Metric, agg string, x float64) string {
	switch {
	case m.Type == "rate":
		return fmt.Sprintf("%.2f%%", x*100)
	case m.Type == "counter" && agg == "rate":
		return FormatValue(x, m.Contains) + "/s"
	case m.Type == "trend" && agg == "count":
		return FormatNumber(x)
	}
	return FormatValue(x, m.Contains)
}
