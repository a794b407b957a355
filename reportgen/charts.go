package reportgen

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/llmbench/llmbench/runfmt"
)

// chart is one chart of a page: the element it is drawn into and the
// ECharts option that go-echarts built for it.
type chart struct {
	ID      string // a fixed id, so that pages (and golden files) are stable
	Caption string // above the chart, in HTML
	Tall    bool   // a taller box, for charts with many rows
	Option  map[string]any
	// Links maps a category (an axis label) to the page a click on it
	// opens: the trace in the Jaeger UI.
	Links map[string]string
}

// optioner is what every go-echarts chart is: options that become JSON.
type optioner interface {
	Validate()
	JSON() map[string]interface{}
}

// newChart takes the option of a built go-echarts chart.
func newChart(id, caption string, c optioner) *chart {
	c.Validate()
	return &chart{ID: id, Caption: caption, Option: c.JSON()}
}

// chartsJS encodes the charts' options for the page's script, one chart a
// line. encoding/json escapes <, > and & (as \u003c, \u003e, \u0026) and
// U+2028/U+2029, so no string from a run can end the script element,
// open a comment or break the JavaScript.
func chartsJS(cs []*chart) (template.JS, error) {
	type entry struct {
		ID     string            `json:"id"`
		Option map[string]any    `json:"option"`
		Links  map[string]string `json:"links,omitempty"`
	}
	var sb strings.Builder
	sb.WriteString("[")
	for i, c := range cs {
		b, err := json.Marshal(entry{c.ID, c.Option, c.Links})
		if err != nil {
			return "", fmt.Errorf("encode chart %s: %w", c.ID, err)
		}
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("\n")
		sb.Write(b)
	}
	sb.WriteString("\n]")
	return template.JS(sb.String()), nil
}

// partColors gives each part the same color in every chart, in the
// timeline order of runfmt.Parts: client side blue, server overhead grey,
// queueing red, model work green and yellow.
var partColors = map[string]string{
	runfmt.PartClientQueue:  "#1f4e9c",
	runfmt.PartConnectSend:  "#5b8bd6",
	runfmt.PartNetwork:      "#9ec0ef",
	runfmt.PartUnsplit:      "#6f6f6f",
	runfmt.PartServerOther:  "#9a9a9a",
	runfmt.PartTokenize:     "#c5b0d5",
	runfmt.PartServerQueue:  "#d62728",
	runfmt.PartPrefill:      "#2ca02c",
	runfmt.PartDecode:       "#bcbd22",
	runfmt.PartDecodeOwn:    "#f2b701",
	runfmt.PartDecodeShared: "#ff7f0e",
	runfmt.PartBetweenSteps: "#17becf",
	runfmt.PartDetokenize:   "#8c564b",
	runfmt.PartStreamWrite:  "#e377c2",
	partUnexplained:         "#dddddd",
}

// partUnexplained is the remainder of a breakdown, drawn after the parts.
const partUnexplained = "unexplained"

// partText says what each part is, for the attribution table.
var partText = map[string]string{
	runfmt.PartClientQueue:  "scheduled → the client call began (arrival-rate executors)",
	runfmt.PartConnectSend:  "call began → request written: connection wait, connect, TLS, send",
	runfmt.PartNetwork:      "request in flight to the server, and the last token's way back",
	runfmt.PartUnsplit:      "request written → last token, not split: no server spans or server timings",
	runfmt.PartServerOther:  "server time no child span covers (HTTP parsing, handler)",
	runfmt.PartTokenize:     "tokenize_input: prompt → token ids",
	runfmt.PartServerQueue:  "queue_wait: admitted → scheduled into the running batch",
	runfmt.PartPrefill:      "prompt forward pass, up to the first token",
	runfmt.PartDecode:       "decode steps, whole: own and shared not told apart (the step cost by batch size was not identified)",
	runfmt.PartDecodeOwn:    "decode steps: what this request's token would cost in a batch of its own",
	runfmt.PartDecodeShared: "decode steps: what the batch's other sequences added to each step",
	runfmt.PartBetweenSteps: "decode window between the engine's steps: the engine loop's own work",
	runfmt.PartDetokenize:   "decode_output: token ids → text",
	runfmt.PartStreamWrite:  "writing and flushing SSE events",
	partUnexplained:         "time no measurement covers",
}

// series is a named row of values, one per category.
type series struct {
	Name   string
	Values []float64
}

func initOpts(id string) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{ChartID: id})
}

func legendOpts() charts.GlobalOpts {
	return charts.WithLegendOpts(opts.Legend{Top: "0"})
}

func gridOpts() charts.GlobalOpts {
	return charts.WithGridOpts(opts.Grid{Left: "3%", Right: "4%", Top: "64", Bottom: "36", ContainLabel: opts.Bool(true)})
}

func axisTooltip() charts.GlobalOpts {
	return charts.WithTooltipOpts(opts.Tooltip{Trigger: "axis", AxisPointer: &opts.AxisPointer{Type: "shadow"}})
}

// stackedBars draws one bar per category, stacked from the series in
// order. Horizontal bars list the categories top to bottom.
func stackedBars(id string, categories []string, rows []series, unit string, horizontal bool) *charts.Bar {
	bar := charts.NewBar()
	bar.SetGlobalOptions(initOpts(id), legendOpts(), gridOpts(), axisTooltip())
	if horizontal {
		bar.SetGlobalOptions(
			charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: unit, NameLocation: "middle", NameGap: 24}),
			charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true)}),
		)
		bar.XYReversal()
	} else {
		bar.SetGlobalOptions(
			charts.WithXAxisOpts(opts.XAxis{Type: "category"}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: unit}),
		)
	}
	bar.SetXAxis(categories)
	for _, r := range rows {
		data := make([]opts.BarData, len(r.Values))
		for i, v := range r.Values {
			data[i] = opts.BarData{Value: round(finite(v), 2)}
		}
		so := []charts.SeriesOpts{charts.WithBarChartOpts(opts.BarChart{Stack: "total"})}
		if c, ok := partColors[r.Name]; ok {
			so = append(so, charts.WithItemStyleOpts(opts.ItemStyle{Color: c}))
		}
		bar.AddSeries(r.Name, data, so...)
	}
	return bar
}

// groupedBars draws the series side by side for each category.
func groupedBars(id string, categories []string, rows []series, unit string) *charts.Bar {
	bar := charts.NewBar()
	bar.SetGlobalOptions(initOpts(id), legendOpts(), gridOpts(), axisTooltip(),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{Rotate: 30, Interval: "0"}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: unit}))
	bar.SetXAxis(categories)
	for _, r := range rows {
		data := make([]opts.BarData, len(r.Values))
		for i, v := range r.Values {
			data[i] = opts.BarData{Value: round(finite(v), 2)}
		}
		bar.AddSeries(r.Name, data)
	}
	return bar
}

// sharePie draws each part's share of the total, in percent.
func sharePie(id string, shares map[string]float64) *charts.Pie {
	pie := charts.NewPie()
	pie.SetGlobalOptions(initOpts(id), legendOpts(),
		charts.WithTooltipOpts(opts.Tooltip{Trigger: "item", Formatter: "{b}: {c} % of the total"}))
	var data []opts.PieData
	var other float64
	for _, p := range runfmt.Parts {
		s := 100 * shares[p]
		if s < 0.5 {
			other += max(s, 0)
			continue
		}
		data = append(data, opts.PieData{Name: p, Value: round(s, 2), ItemStyle: &opts.ItemStyle{Color: partColors[p]}})
	}
	if other > 0 {
		data = append(data, opts.PieData{Name: "other parts (< 0.5 % each)", Value: round(other, 2), ItemStyle: &opts.ItemStyle{Color: partColors[partUnexplained]}})
	}
	pie.AddSeries("share of the total", data,
		charts.WithPieChartOpts(opts.PieChart{Radius: []string{"35%", "65%"}, Center: []string{"50%", "55%"}}),
		charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Formatter: "{b}: {c} %"}))
	return pie
}

// xy is a point of a line over a value axis.
type xy = [2]float64

// line is a named line of points.
type line struct {
	Name   string
	Points []xy
	Right  bool // on the second (right) y axis
	Step   bool
}

// lines draws lines over a value x axis, with a second y axis on the
// right when any line asks for it.
func lines(id string, xName, yName, rightName string, ls []line) *charts.Line {
	ln := charts.NewLine()
	ln.SetGlobalOptions(initOpts(id), legendOpts(), gridOpts(),
		charts.WithTooltipOpts(opts.Tooltip{Trigger: "axis"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: xName, NameLocation: "middle", NameGap: 24, Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: yName}))
	if rightName != "" {
		ln.ExtendYAxis(opts.YAxis{Type: "value", Name: rightName, Position: "right"})
	}
	for _, l := range ls {
		lo := opts.LineChart{ShowSymbol: opts.Bool(len(l.Points) < 40), ConnectNulls: opts.Bool(true)}
		if l.Right && rightName != "" {
			lo.YAxisIndex = 1
		}
		if l.Step {
			lo.Step = "end"
		}
		ln.AddSeries(l.Name, lineData(l.Points), charts.WithLineChartOpts(lo))
	}
	return ln
}

func lineData(ps []xy) []opts.LineData {
	data := make([]opts.LineData, len(ps))
	for i, p := range ps {
		data[i] = opts.LineData{Value: xy{round(finite(p[0]), 3), round(finite(p[1]), 3)}}
	}
	return data
}

// distribution draws a histogram of sorted values (bars, left axis) and
// their CDF (a line, right axis, percent) over one value axis, with the
// SLO as a vertical line when there is one.
func distribution(id, what string, sorted []float64, slo float64) *charts.Bar {
	bar := charts.NewBar()
	bar.SetGlobalOptions(initOpts(id), legendOpts(), gridOpts(),
		charts.WithTooltipOpts(opts.Tooltip{Trigger: "axis"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "ms", NameLocation: "middle", NameGap: 24, Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: what}))
	bar.ExtendYAxis(opts.YAxis{Type: "value", Name: "CDF %", Position: "right", Max: 100})
	bins := histogram(sorted, 30)
	data := make([]opts.BarData, len(bins))
	for i, b := range bins {
		data[i] = opts.BarData{Value: xy{round((b.From+b.To)/2, 3), float64(b.Count)}}
	}
	var so []charts.SeriesOpts
	if slo > 0 {
		so = append(so,
			charts.WithMarkLineNameXAxisItemOpts(opts.MarkLineNameXAxisItem{Name: "SLO", XAxis: slo}),
			charts.WithMarkLineStyleOpts(opts.MarkLineStyle{Symbol: []string{"none", "none"}, Label: &opts.Label{Show: opts.Bool(true), Formatter: "SLO {c} ms"}}))
	}
	bar.AddSeries("histogram", data, so...)
	cl := charts.NewLine()
	cl.AddSeries("CDF", lineData(cdf(sorted, 101)),
		charts.WithLineChartOpts(opts.LineChart{YAxisIndex: 1, ShowSymbol: opts.Bool(false), Step: "end"}))
	bar.Overlap(cl)
	return bar
}
