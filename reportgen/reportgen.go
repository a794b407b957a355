// Package reportgen turns a run folder into report.html, and two run
// folders into a comparison: self-contained pages that open from a file://
// URL and load nothing from the network.
//
// A run's report shows, top to bottom: the verdict and recommendations
// with their evidence; the headline numbers against the SLOs; the latency
// attribution per percentile band and as shares of the total; a waterfall
// of the slowest requests with links to their traces in the Jaeger UI;
// the TTFT, TPOT, ITL and e2e distributions; time series over the run;
// and the run's metadata and coverage. A run that was not analyzed gets
// what its summary and requests.jsonl can show, and says so.
//
// The charts are go-echarts (github.com/go-echarts/go-echarts/v2) options
// with fixed chart ids, drawn by the ECharts library that `make assets`
// puts into assets/echarts.min.js; it is embedded into the binary and
// inlined into the page's one script element. go-echarts' own page
// renderer is not used: it loads ECharts from its assets host, and it
// writes chart options without escaping them for HTML. Here the page is an
// html/template and the options are encoded by encoding/json, which
// escapes <, > and &, so no text from a run (a scenario name, an error
// message, a tag) can end the script element or inject markup.
//
// Every function is safe for concurrent use.
package reportgen

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// Options tune a report. The zero value is the default: no links to the
// Jaeger UI (the report says how to get them), the 15 slowest requests in
// the waterfall, 5-second intervals in the time series.
type Options struct {
	// JaegerUI is the base URL of the Jaeger UI, e.g.
	// http://127.0.0.1:16686; each trace links to JaegerUI/trace/<id>.
	JaegerUI string
	// Slowest is how many of the slowest requests the waterfall shows.
	Slowest int
	// Interval is the width of a time-series bucket.
	Interval time.Duration
}

// RegisterFlags adds the options' flags to fs.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.JaegerUI, "jaeger-ui", "", "the Jaeger UI's base URL, to link each trace (e.g. http://127.0.0.1:16686)")
	fs.IntVar(&o.Slowest, "slowest", 0, "how many of the slowest requests the waterfall shows (default 15)")
	fs.DurationVar(&o.Interval, "interval", 0, "the time series' interval (default 5s)")
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.JaegerUI != "" {
		u, err := url.Parse(o.JaegerUI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("jaeger-ui %q: want an http or https URL, e.g. http://127.0.0.1:16686", o.JaegerUI)
		}
	}
	if o.Slowest < 0 {
		return fmt.Errorf("slowest %d: want 0 or more", o.Slowest)
	}
	if o.Interval < 0 || (o.Interval > 0 && o.Interval < 100*time.Millisecond) {
		return fmt.Errorf("interval %s: want at least 100ms", o.Interval)
	}
	return nil
}

func (o Options) slowest() int {
	if o.Slowest > 0 {
		return o.Slowest
	}
	return 15
}

func (o Options) interval() time.Duration {
	if o.Interval > 0 {
		return o.Interval
	}
	return 5 * time.Second
}

// EChartsVersion is the ECharts release that go-echarts v2.6.7 targets,
// and the one `make assets` installs (ECHARTS_VERSION in the Makefile).
const EChartsVersion = "5.4.3"

// ErrNoECharts is returned when the binary was built without the ECharts
// library: run `make assets`, then build again.
var ErrNoECharts = errors.New("the ECharts library is not in this build: run `make assets`, then rebuild (it embeds reportgen/assets/echarts.min.js)")

//go:embed assets
var assets embed.FS

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct": func(x float64) string { return fmt.Sprintf("%.0f %%", 100*x) },
}).ParseFS(templateFS, "templates/*.html"))

// library is the ECharts library to inline.
func library() (template.JS, error) { return libraryFrom(assets) }

// ECharts returns the ECharts library the reports embed, for other pages
// of llmbench (the live dashboard) to serve; ErrNoECharts when the build
// has none.
func ECharts() ([]byte, error) {
	js, err := library()
	return []byte(js), err
}

func libraryFrom(fsys fs.FS) (template.JS, error) {
	b, err := fs.ReadFile(fsys, "assets/echarts.min.js")
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoECharts
	}
	if err != nil {
		return "", fmt.Errorf("read echarts.min.js: %w", err)
	}
	// Inlined, the library must not end its script element itself.
	if bytes.Contains(bytes.ToLower(b), []byte("</script")) || bytes.Contains(b, []byte("<!--")) {
		return "", errors.New("read echarts.min.js: it contains </script or <!--, which cannot be inlined")
	}
	return template.JS(b), nil
}

// Render writes the report of the run folder runDir to w: what
// `llmbench report` writes to report.html, for the web UI to serve.
// Nothing is written when it fails; ctx ends the reading of the run.
func Render(ctx context.Context, w io.Writer, runDir string, opts Options) error {
	lib, err := library()
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return render(ctx, w, runDir, opts, lib, time.Now())
}

// RenderCompare writes the comparison of run B (dirB) against run A
// (dirA) to w. Nothing is written when it fails; ctx ends the reading of
// the runs.
func RenderCompare(ctx context.Context, w io.Writer, dirA, dirB string, opts Options) error {
	lib, err := library()
	if err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return renderCompare(ctx, w, dirA, dirB, opts, lib, time.Now())
}

// Write writes runDir/report.html atomically and returns its path.
func Write(ctx context.Context, runDir string, opts Options) (string, error) {
	lib, err := library()
	if err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	var buf bytes.Buffer
	if err := render(ctx, &buf, runDir, opts, lib, time.Now()); err != nil {
		return "", err
	}
	path := filepath.Join(runDir, runfmt.ReportFile)
	if err := runfmt.WriteFile(path, buf.Bytes()); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return path, nil
}

// WriteCompare writes the comparison of run B (dirB) against run A
// (dirA) to out atomically and returns its path. An empty out means
// compare-<A>-vs-<B>.html in the current folder, named after the runs'
// folders.
func WriteCompare(ctx context.Context, dirA, dirB, out string, opts Options) (string, error) {
	lib, err := library()
	if err != nil {
		return "", fmt.Errorf("write comparison: %w", err)
	}
	var buf bytes.Buffer
	if err := renderCompare(ctx, &buf, dirA, dirB, opts, lib, time.Now()); err != nil {
		return "", err
	}
	if out == "" {
		out = fmt.Sprintf("compare-%s-vs-%s.html", filepath.Base(filepath.Clean(dirA)), filepath.Base(filepath.Clean(dirB)))
	}
	if err := runfmt.WriteFile(out, buf.Bytes()); err != nil {
		return "", fmt.Errorf("write comparison: %w", err)
	}
	return out, nil
}

// render is Render with the library and the clock given, as the tests
// give them.
func render(ctx context.Context, w io.Writer, runDir string, opts Options, lib template.JS, now time.Time) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	d, err := load(ctx, runDir, opts)
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	p := buildReport(d, opts)
	return execute(ctx, w, "report.html", p, &p.page, lib, now)
}

func renderCompare(ctx context.Context, w io.Writer, dirA, dirB string, opts Options, lib template.JS, now time.Time) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	a, err := load(ctx, dirA, opts)
	if err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	b, err := load(ctx, dirB, opts)
	if err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	p := buildCompare(a, b)
	return execute(ctx, w, "compare.html", p, &p.page, lib, now)
}

// execute fills in the page's foot and runs the template into a buffer,
// so that w gets the whole page or nothing.
func execute(ctx context.Context, w io.Writer, name string, data any, pg *page, lib template.JS, now time.Time) error {
	js, err := chartsJS(pg.all)
	if err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	pg.Charts, pg.Library = js, lib
	pg.Generated = now.UTC().Format(time.RFC3339)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return nil
}
