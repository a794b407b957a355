package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/llmbench/llmbench/internal/hostguard"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/runfmt/index"
)

// Content Security Policies. The UI's own pages run no script at all; the
// reports run their inline script (ECharts and the charts). Neither may
// load anything, so a page can never reach outside the server.
const (
	pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
	// sandbox: a report.html found in a run folder is the run's, not ours;
	// its scripts run (the charts) in an opaque origin, with no access to
	// this server's.
	reportCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts"
)

// runFiles are the files of a run folder that a page may read: each must
// be a regular file, not a link that could lead out of the runs folder.
var runFiles = []string{runfmt.RunFile, runfmt.RequestsFile, runfmt.SummaryFile, runfmt.AnalysisFile, runfmt.ReportFile, index.NightlyFile}

//go:embed templates/*.html templates/style.css
var templateFS embed.FS

// server holds what the handlers share. It is safe for concurrent use:
// the index is, and the rest is read-only after Handler.
type server struct {
	ix      *index.Index
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	renders *renders
}

// Handler returns the web UI's HTTP handler over the open index ix. Every
// page Syncs the index first, so new, changed and removed run folders show
// at once. log receives the errors that pages report (nil: none). It is
// safe for concurrent use.
func Handler(ix *index.Index, cfg Config, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{ix: ix, cfg: cfg, log: log, pages: parsePages(), renders: newRenders()}
	r := mux.NewRouter()
	// No cleaning (and no redirect) of paths such as /runs/../x: they
	// reach the handlers, which refuse them.
	r.SkipClean(true)
	// /runs/ID/ and /compare/ (as a user types them) redirect to the page.
	r.StrictSlash(true)
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/", s.list).Methods(get...)
	r.HandleFunc("/runs/{id}", s.report).Methods(get...)
	r.HandleFunc("/compare", s.compare).Methods(get...)
	r.HandleFunc("/compare/report", s.compareReport).Methods(get...)
	r.HandleFunc("/trends", s.trends).Methods(get...)
	r.HandleFunc("/healthz", s.healthz).Methods(get...)
	r.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, http.StatusNotFound, "no page %s", req.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, http.StatusMethodNotAllowed, "this server is read-only: %s is not allowed", req.Method)
	})
	return hostguard.New(cfg.addr(), cfg.AllowedHosts).Wrap(r, func(w http.ResponseWriter, req *http.Request, status int, msg string) {
		s.fail(w, req, status, "%s", msg)
	})
}

func parsePages() map[string]*template.Template {
	css, err := fs.ReadFile(templateFS, "templates/style.css")
	if err != nil {
		panic(err)
	}
	funcs := template.FuncMap{
		"css":    func() template.CSS { return template.CSS(css) },
		"metric": formatMetric,
		"time":   formatTime,
		"f1":     func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"run":    runPath,
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"list.html", "compare.html", "trends.html", "error.html"} {
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name))
	}
	return pages
}

// page renders a UI page into a buffer first, so a template error gives a
// clean 500 rather than half a page.
func (s *server) page(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error rendering "+name, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// errorPage is the data of error.html.
type errorPage struct {
	Title   string
	Status  int
	Message string
}

// fail answers with an error page. Server-side failures are logged.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if status >= 500 {
		s.log.Error("page failed", "path", r.URL.Path, "status", status, "err", msg)
	}
	s.page(w, r, status, "error.html", errorPage{Title: http.StatusText(status), Status: status, Message: msg})
}

// serveReport writes a whole report page, as reportgen made it.
func serveReport(w http.ResponseWriter, r *http.Request, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", reportCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "report.html", time.Time{}, bytes.NewReader(b))
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	runs, err := s.ix.Runs(r.Context(), index.Filter{})
	if err != nil {
		http.Error(w, "index: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "ok: %d runs indexed\n", len(runs))
}

// validID says whether id may name a run folder: one path element, not
// hidden (which keeps out ".", ".." and the index database), with no
// separator of any platform, no NUL or other control character, and valid
// UTF-8. It is the first gate; the second is that the index lists the ID,
// and the index holds only the real folders directly inside the runs
// folder.
func validID(id string) bool {
	if id == "" || len(id) > 255 || id[0] == '.' || !utf8.ValidString(id) {
		return false
	}
	for _, c := range id {
		if c == '/' || c == '\\' || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// runPath is the URL path of a run's page.
func runPath(id string) string { return "/runs/" + url.PathEscape(id) }

// errNoRun is a run ID that is invalid, unknown, or whose folder could
// lead out of the runs folder: all are answered 404, alike.
var errNoRun = errors.New("no such run")

// lookup finds the run named id, after checking that neither its folder
// nor any of its files is something other than what it claims: a
// symbolic link, a device, a folder where a file belongs.
func (s *server) lookup(ctx context.Context, id string) (index.Run, error) {
	if !validID(id) {
		return index.Run{}, errNoRun
	}
	if err := s.ix.Sync(ctx); err != nil {
		return index.Run{}, err
	}
	run, err := s.ix.Run(ctx, id)
	if errors.Is(err, index.ErrNotFound) {
		return index.Run{}, errNoRun
	}
	if err != nil {
		return index.Run{}, err
	}
	if fi, err := os.Lstat(run.Dir); err != nil || !fi.IsDir() {
		return index.Run{}, errNoRun
	}
	for _, name := range runFiles {
		fi, err := os.Lstat(filepath.Join(run.Dir, name))
		if err == nil && !fi.Mode().IsRegular() {
			s.log.Warn("run refused: a file is not a regular file", "run", id, "file", name, "mode", fi.Mode().Type().String())
			return index.Run{}, errNoRun
		}
	}
	return run, nil
}

// lookupOrFail is lookup that answers the request when it fails.
func (s *server) lookupOrFail(w http.ResponseWriter, r *http.Request, id string) (index.Run, bool) {
	run, err := s.lookup(r.Context(), id)
	switch {
	case errors.Is(err, errNoRun):
		s.fail(w, r, http.StatusNotFound, "no run %q in this runs folder", id)
		return run, false
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return run, false
	}
	return run, true
}

// report serves /runs/{id}: the folder's report.html, or one made now.
func (s *server) report(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	run, ok := s.lookupOrFail(w, r, id)
	if !ok {
		return
	}
	if run.HasReport {
		// os.Root refuses any path that would leave the runs folder,
		// should the folder have changed since lookup.
		root, err := os.OpenRoot(s.ix.Dir())
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, "open runs folder: %v", err)
			return
		}
		defer root.Close()
		b, err := root.ReadFile(filepath.Join(id, runfmt.ReportFile))
		if err == nil {
			serveReport(w, r, b)
			return
		}
		if !errors.Is(err, fs.ErrNotExist) {
			s.fail(w, r, http.StatusNotFound, "run %s: report.html cannot be read", id)
			return
		}
		// Removed since the index saw it: make one.
	}
	page, err := s.renders.get(r.Context(), "run|"+folderKey(run.Dir), func(ctx context.Context) ([]byte, error) {
		var buf bytes.Buffer
		err := reportgen.Render(ctx, &buf, run.Dir, s.cfg.reportOptions())
		return buf.Bytes(), err
	})
	if err != nil {
		s.fail(w, r, renderStatus(err), "the report of run %s cannot be made: %v", id, trimDir(err, s.ix.Dir()))
		return
	}
	serveReport(w, r, page)
}

// renderStatus is the status of a report that could not be made: 404 when
// the run's folder or its run.json went away since the lookup (folders
// churn while the web UI runs), or a file is not a regular one; 500
// otherwise.
func renderStatus(err error) int {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, runfmt.ErrNotRegular) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// trimDir shows paths inside the runs folder relative to it.
func trimDir(err error, dir string) string {
	return strings.ReplaceAll(err.Error(), dir+string(os.PathSeparator), "")
}

// listPage is the data of list.html.
type listPage struct {
	Title   string
	Runs    []index.Run
	Total   int // runs in the folder, before filtering
	Filter  index.Filter
	Choices map[string][]string // distinct values of the filterable fields
	Columns []column
	Query   url.Values // the current query, for links that change one thing
}

// column is a sortable column of the run list.
type column struct {
	Key    string // Filter.Sort's key
	Label  string
	Metric bool   // a metric column, right-aligned
	Title  string // its tooltip
	Href   string // the link that sorts by it (or reverses it)
	Arrow  string // ▲ or ▼ when the list is sorted by it
}

var columns = []column{
	{Key: "id", Label: "run"},
	{Key: "start", Label: "start (UTC)"},
	{Key: "scenario", Label: "scenario"},
	{Key: "target", Label: "target"},
	{Key: "device", Label: "device"},
	{Key: "model", Label: "model"},
	{Key: "commit", Label: "commit"},
	{Key: "status", Label: "status"},
	{Key: "requests", Label: "requests", Metric: true},
	{Key: "ttft_p95_ms", Label: "TTFT p95", Metric: true, Title: "time to first token, 95th percentile"},
	{Key: "tpot_p95_ms", Label: "TPOT p95", Metric: true, Title: "time per output token, 95th percentile"},
	{Key: "e2e_p95_ms", Label: "e2e p95", Metric: true, Title: "request written to last token, 95th percentile"},
	{Key: "itl_p99_ms", Label: "ITL p99", Metric: true, Title: "inter-token latency, 99th percentile"},
	{Key: "requests_per_s", Label: "req/s", Metric: true},
	{Key: "output_tokens_per_s", Label: "tok/s", Metric: true, Title: "output tokens per second"},
	{Key: "goodput_per_s", Label: "goodput/s", Metric: true, Title: "requests per second that met every SLO"},
	{Key: "error_rate", Label: "errors", Metric: true},
	{Key: "bottleneck", Label: "bottleneck", Title: "the analysis' verdict"},
}

// list serves /: the runs, filtered and sorted by the query.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	f := index.Filter{
		Scenario: q.Get("scenario"), Target: q.Get("target"), Device: q.Get("device"), Suite: q.Get("suite"),
		Sort: q.Get("sort"), Desc: q.Get("desc") == "1",
	}
	if f.Sort == "" {
		f.Sort, f.Desc = "start", true // newest first
	}
	if !slices.ContainsFunc(columns, func(c column) bool { return c.Key == f.Sort }) && !slices.Contains(index.SortColumns, f.Sort) {
		s.fail(w, r, http.StatusBadRequest, "cannot sort by %q", f.Sort)
		return
	}
	if err := s.ix.Sync(ctx); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	all, err := s.ix.Runs(ctx, index.Filter{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	runs, err := s.ix.Runs(ctx, f)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	p := listPage{Title: "runs", Runs: runs, Total: len(all), Filter: f, Query: q, Choices: map[string][]string{
		"scenario": distinct(all, func(r index.Run) string { return r.Scenario }),
		"target":   distinct(all, func(r index.Run) string { return r.Target }),
		"device":   distinct(all, func(r index.Run) string { return r.Device }),
		"suite":    distinct(all, func(r index.Run) string { return r.Suite }),
	}}
	for _, c := range columns {
		desc := c.Key == "start" || c.Metric // the first click shows the newest, the largest
		if c.Key == f.Sort {
			desc = !f.Desc
			c.Arrow = "▲"
			if f.Desc {
				c.Arrow = "▼"
			}
		}
		c.Href = "?" + with(q, "sort", c.Key, "desc", map[bool]string{true: "1", false: ""}[desc])
		p.Columns = append(p.Columns, c)
	}
	s.page(w, r, http.StatusOK, "list.html", p)
}

// with returns q's encoding with the given key, value pairs set (an empty
// value deletes the key).
func with(q url.Values, kv ...string) string {
	c := url.Values{}
	for k, v := range q {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			c.Del(kv[i])
		} else {
			c.Set(kv[i], kv[i+1])
		}
	}
	return c.Encode()
}

// distinct returns the sorted distinct non-empty values of field.
func distinct(runs []index.Run, field func(index.Run) string) []string {
	var vs []string
	for _, r := range runs {
		if v := field(r); v != "" {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

// comparePage is the data of compare.html.
type comparePage struct {
	Title string
	Runs  []index.Run
	A, B  string
	// Report is the URL of the comparison, when two runs are picked.
	Report string
}

// compare serves /compare: two selects, and the comparison of the picked
// runs below them.
func (s *server) compare(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
	if err := s.ix.Sync(ctx); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	runs, err := s.ix.Runs(ctx, index.Filter{Desc: true})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	p := comparePage{Title: "compare", Runs: runs, A: a, B: b}
	if a != "" && b != "" {
		for _, id := range []string{a, b} {
			if _, ok := s.lookupOrFail(w, r, id); !ok {
				return
			}
		}
		p.Report = "/compare/report?" + url.Values{"a": {a}, "b": {b}}.Encode()
	}
	s.page(w, r, http.StatusOK, "compare.html", p)
}

// compareReport serves /compare/report?a=ID&b=ID: the comparison of run b
// against run a, made now.
func (s *server) compareReport(w http.ResponseWriter, r *http.Request) {
	a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
	if a == "" || b == "" {
		s.fail(w, r, http.StatusBadRequest, "pick two runs: /compare/report?a=RUN&b=RUN")
		return
	}
	ra, ok := s.lookupOrFail(w, r, a)
	if !ok {
		return
	}
	rb, ok := s.lookupOrFail(w, r, b)
	if !ok {
		return
	}
	page, err := s.renders.get(r.Context(), "compare|"+folderKey(ra.Dir)+"||"+folderKey(rb.Dir), func(ctx context.Context) ([]byte, error) {
		var buf bytes.Buffer
		err := reportgen.RenderCompare(ctx, &buf, ra.Dir, rb.Dir, s.cfg.reportOptions())
		return buf.Bytes(), err
	})
	if err != nil {
		s.fail(w, r, renderStatus(err), "the comparison of %s and %s cannot be made: %v", a, b, trimDir(err, s.ix.Dir()))
		return
	}
	serveReport(w, r, page)
}

// formatMetric formats run metric name for the list: "—" when absent.
func formatMetric(name string, m map[string]float64) string {
	v, ok := m[name]
	if !ok {
		return "—"
	}
	switch {
	case name == index.MetricErrorRate:
		return fmt.Sprintf("%.1f %%", 100*v)
	case strings.HasSuffix(name, "_ms"):
		return formatMS(v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func formatMS(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}
