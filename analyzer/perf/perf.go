// Package perf is the analyzer's performance benchmark (`llmbench-dev
// analyze-bench`, run by `make bench`): can `llmbench analyze` handle a run
// of 10,000 requests (about 100,000 spans) within 30 s and 1 GiB, Jaeger on
// loopback included (issue 5)?
//
// It starts the pinned Jaeger (internal/stack), simulates the run (8
// closed-loop users against a continuous-batching engine of 8 sequences,
// over a few minutes of simulated time in the recent past), exports the
// spans that the load generator and refserver would have sent, with their
// shapes and names (llm.request as service llmbench; POST /generate/stream,
// tokenize_input, queue_wait, model_generate, prefill, decode,
// decode_output, stream_write and the engine.step spans as service
// refserver), through the OTel SDK over OTLP gRPC, and writes the matching
// run folder. It then runs the analysis in a child process (`llmbench-dev
// analyze-bench --analyze-only DIR`), so that the peak memory measured,
// the child's VmHWM, is the analysis's alone, and times it: every trace is
// fetched from Jaeger over gRPC, as `llmbench analyze` does.
//
// A benchmark is not a test: Run prints each figure next to its target
// and says met or MISSED; its error is only for what kept it from
// measuring.
package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/internal/stack"
	"github.com/llmbench/llmbench/runfmt"
)

// The targets of the benchmark (issue 5).
const (
	TargetRequests = 10000            // requests in the analyzed run
	TargetWall     = 30 * time.Second // the analysis's wall time, Jaeger's answers included
	TargetMemory   = 1 << 30          // bytes: the analysis's peak RSS, and with Jaeger's
)

// Defaults of Config's zero fields.
const (
	DefaultUsers    = 8
	DefaultMaxBatch = 8
	DefaultSeed     = 1
)

// Config configures Run. Its zero value runs the full benchmark: 10,000
// requests of 8 users against a batch of 8, with engine.step spans, the
// analysis in a child process started from this executable.
type Config struct {
	Requests int    // requests in the simulated run; 0 means TargetRequests
	Users    int    // closed-loop users; 0 means DefaultUsers
	MaxBatch int    // the simulated engine's batch cap; 0 means DefaultMaxBatch
	Seed     uint64 // the simulation's random seed; 0 means DefaultSeed
	// NoSteps leaves the engine.step spans out of Jaeger. The analyzer
	// fetches them only for runs of at most 5,000 requests, but a real
	// run's Jaeger holds them, so by default they are there.
	NoSteps bool
	// FetchSteps makes the analysis fetch the engine.step spans too, as
	// `llmbench analyze --steps N` does for runs of up to N requests.
	FetchSteps bool
	Out        string // also write the Report as JSON here
	// WorkDir keeps the run folder and Jaeger's log there; "" means a
	// temporary folder, removed at the end.
	WorkDir    string
	CPUProfile string // write a CPU profile of the analysis here
	MemProfile string // write an allocation profile of the analysis here
	// InProcess analyzes in this process instead of a child (for tests):
	// the peak memory then includes what the simulation left behind.
	InProcess bool
	// Binary is the executable with the analyze-bench command; "" means
	// this one (os.Executable).
	Binary string

	// AnalyzeOnly, when set, makes Run the child's side: it analyzes this
	// run folder with the Jaeger at the query address Jaeger, measuring,
	// and writes the Measurement as one JSON line to w.
	AnalyzeOnly string
	Jaeger      string
}

// RegisterFlags adds the flags of `llmbench-dev analyze-bench` to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Requests, "requests", TargetRequests, "requests in the simulated run")
	fs.IntVar(&c.Users, "users", DefaultUsers, "closed-loop users of the simulated run")
	fs.IntVar(&c.MaxBatch, "max-batch", DefaultMaxBatch, "the simulated engine's batch cap")
	fs.Uint64Var(&c.Seed, "seed", DefaultSeed, "the simulation's random seed")
	fs.BoolVar(&c.NoSteps, "no-steps", false, "leave the engine.step spans out of Jaeger")
	fs.BoolVar(&c.FetchSteps, "fetch-steps", false, "make the analysis fetch the engine.step spans too (by default the analyzer skips them above 5,000 requests)")
	fs.StringVar(&c.Out, "out", "", "also write the report as JSON to this `file`")
	fs.StringVar(&c.WorkDir, "work", "", "keep the run folder and Jaeger's log in this `folder` (default: a temporary one, removed)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the analysis to this `file`")
	fs.StringVar(&c.MemProfile, "memprofile", "", "write an allocation profile of the analysis to this `file`")
	fs.BoolVar(&c.InProcess, "in-process", false, "analyze in this process (the memory figure then includes the simulation's leftovers)")
	fs.StringVar(&c.Binary, "binary", "", "the executable with the analyze-bench command (default: this one)")
	fs.StringVar(&c.AnalyzeOnly, "analyze-only", "", "the child's side: analyze this run `folder` and print the measurement as JSON")
	fs.StringVar(&c.Jaeger, "jaeger", "", "with -analyze-only: Jaeger's gRPC query `host:port`")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Requests < 0 || c.Users < 0 || c.MaxBatch < 0 {
		return errors.New("analyze-bench: -requests, -users and -max-batch must not be negative")
	}
	if c.AnalyzeOnly != "" && c.Jaeger == "" {
		return errors.New("analyze-bench: -analyze-only needs -jaeger")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Requests == 0 {
		c.Requests = TargetRequests
	}
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	return c
}

// Report is what Run measured. Memory is in MiB, times in seconds.
type Report struct {
	Start      time.Time `json:"start"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	LoadAvg    string    `json:"loadavg,omitempty"` // /proc/loadavg before the run: the machine may be shared

	Requests   int     `json:"requests"`
	Users      int     `json:"users"`
	MaxBatch   int     `json:"max_batch"`
	SimulatedS float64 `json:"simulated_s"` // the simulated run's length
	// RequestSpans and StepSpans are the spans Jaeger accepted: the
	// requests' own (client and server) and the engine.step spans.
	RequestSpans int64   `json:"request_spans"`
	StepSpans    int64   `json:"step_spans"`
	FailedSpans  int64   `json:"failed_spans"` // spans an export failed to deliver
	ExportS      float64 `json:"export_s"`     // simulating and exporting, until both providers flushed
	IngestS      float64 `json:"ingest_s"`     // then until Jaeger answered with the last spans sent

	Analysis Measurement `json:"analysis"`

	JaegerRSSBeforeMiB float64 `json:"jaeger_rss_before_mib"` // VmRSS holding every span, before the analysis
	JaegerRSSMaxMiB    float64 `json:"jaeger_rss_max_mib"`    // the largest VmRSS sampled during the analysis
	JaegerHWMMiB       float64 `json:"jaeger_hwm_mib"`        // VmHWM over Jaeger's life, ingestion included
	JaegerCPUS         float64 `json:"jaeger_cpu_s"`          // Jaeger's CPU time during the analysis

	Rows []Row `json:"rows"` // the table Run printed
}

// Measurement is one analysis as measured by the process that ran it.
type Measurement struct {
	InProcess    bool    `json:"in_process"`
	WallS        float64 `json:"wall_s"`         // analyzer.Analyze, from the call to its return
	CPUS         float64 `json:"cpu_s"`          // the analyzing process's CPU time over it
	RSSBeforeMiB float64 `json:"rss_before_mib"` // VmRSS before the call
	PeakRSSMiB   float64 `json:"peak_rss_mib"`   // VmHWM after it (reset before the call when PeakExact)
	PeakExact    bool    `json:"peak_exact"`
	AllocMiB     float64 `json:"alloc_mib"` // Go heap allocated during the call
	GCs          uint32  `json:"gcs"`       // garbage collections during the call

	Requests      int    `json:"requests"`
	Analyzed      int    `json:"analyzed"`
	MissingTraces int    `json:"missing_traces"`
	PartialTraces int    `json:"partial_traces"`
	ClientOnly    int    `json:"client_only"`
	Bottleneck    string `json:"bottleneck"`
	// FetchSteps says the analysis was made to fetch the engine.step
	// spans whatever the run's size; otherwise it fetches them only for
	// runs of at most 5,000 requests.
	FetchSteps bool `json:"fetch_steps"`
}

// Row is one line of the printed table. Met is nil for figures that have
// no target.
type Row struct {
	What     string `json:"what"`
	Measured string `json:"measured"`
	Target   string `json:"target,omitempty"`
	Met      *bool  `json:"met,omitempty"`
}

// Run runs the benchmark, prints its table to w and returns the report;
// with cfg.AnalyzeOnly it is the child's side instead (see Config). It
// needs the pinned Jaeger (`make tools`).
func Run(ctx context.Context, cfg Config, w io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.AnalyzeOnly != "" {
		m, err := measure(ctx, cfg.AnalyzeOnly, cfg.Jaeger, cfg.FetchSteps, cfg.CPUProfile, cfg.MemProfile)
		if err != nil {
			return nil, err
		}
		if err := json.NewEncoder(w).Encode(m); err != nil {
			return nil, fmt.Errorf("analyze-bench: write measurement: %w", err)
		}
		return &Report{Analysis: *m}, nil
	}

	rep := &Report{Start: time.Now().UTC(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Requests: cfg.Requests, Users: cfg.Users, MaxBatch: cfg.MaxBatch}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.LoadAvg = strings.TrimSpace(string(b))
	}
	work := cfg.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "llmbench-analyze-bench-")
		if err != nil {
			return nil, fmt.Errorf("analyze-bench: make work folder: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	dir := filepath.Join(work, "run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("analyze-bench: make run folder: %w", err)
	}
	fmt.Fprintf(w, "analyze-bench: %d CPUs, GOMAXPROCS %d, load average %s, analysis %s\n",
		rep.CPUs, rep.GOMAXPROCS, rep.LoadAvg, map[bool]string{true: "in this process", false: "in a child process"}[cfg.InProcess])

	j, err := stack.StartJaeger(ctx, stack.Options{Dir: filepath.Join(work, "jaeger")})
	if err != nil {
		return nil, fmt.Errorf("analyze-bench: %w", err)
	}
	defer j.Stop()

	if _, _, err := generate(ctx, cfg, j, dir, rep, w); err != nil {
		return nil, err
	}
	// What the simulation allocated is garbage now; in a child process it
	// does not count anyway.
	runtime.GC()
	debug.FreeOSMemory()

	fmt.Fprintf(w, "analyze-bench: analyzing %d requests ...\n", rep.Requests)
	jpid := j.Pid()
	rep.JaegerRSSBeforeMiB = mib(procStatus(jpid, "VmRSS"))
	jcpu := procCPU(jpid)
	sampler := sampleRSS(ctx, jpid, 100*time.Millisecond)
	m, err := analyze(ctx, cfg, dir, j.QueryGRPC)
	rep.JaegerRSSMaxMiB = mib(sampler.stop(jpid))
	if err != nil {
		return nil, err
	}
	rep.Analysis = *m
	rep.JaegerCPUS = (procCPU(jpid) - jcpu).Seconds()
	rep.JaegerHWMMiB = mib(procStatus(jpid, "VmHWM"))

	rep.Rows = rows(rep)
	printTable(w, rep)
	if cfg.Out != "" {
		if err := runfmt.WriteJSON(cfg.Out, rep); err != nil {
			return rep, fmt.Errorf("analyze-bench: %w", err)
		}
	}
	return rep, nil
}

// generate simulates the run, exports its spans to j, waits until j
// answers with the last of them, and writes the run folder dir. It
// returns the workload and what export sent, for tests.
func generate(ctx context.Context, cfg Config, j *stack.Jaeger, dir string, rep *Report, w io.Writer) (*workload, *exported, error) {
	fmt.Fprintf(w, "analyze-bench: simulating %d requests of %d users, batch of %d; exporting their spans to Jaeger at %s ...\n",
		cfg.Requests, cfg.Users, cfg.MaxBatch, j.OTLPGRPC)
	t0 := time.Now()
	wl := simulate(simConfig{requests: cfg.Requests, users: cfg.Users, maxBatch: cfg.MaxBatch, seed: cfg.Seed})
	rep.SimulatedS = wl.end.Seconds()
	// The run ended a minute ago: the analysis's wait for late traces is
	// over, so it fetches each trace once, as for any finished run.
	base := time.Now().Add(-wl.end - time.Minute).UTC()
	ex, err := export(ctx, wl, base, j.OTLPGRPC, !cfg.NoSteps)
	if ex != nil {
		rep.RequestSpans, rep.StepSpans, rep.FailedSpans = ex.requestSpans, ex.stepSpans, ex.failed
	}
	if err != nil {
		return nil, nil, fmt.Errorf("analyze-bench: %w", err)
	}
	rep.ExportS = time.Since(t0).Seconds()
	fmt.Fprintf(w, "analyze-bench: exported %d request spans and %d engine.step spans in %.1f s (%.0f s of simulated time)\n",
		rep.RequestSpans, rep.StepSpans, rep.ExportS, rep.SimulatedS)

	t1 := time.Now()
	if err := awaitIngest(ctx, j.QueryGRPC, ex); err != nil {
		return nil, nil, fmt.Errorf("analyze-bench: %w", err)
	}
	rep.IngestS = time.Since(t1).Seconds()
	if err := writeRun(dir, wl, base, ex.traceIDs, ex.spanIDs, j.QueryGRPC, cfg.Users); err != nil {
		return nil, nil, fmt.Errorf("analyze-bench: %w", err)
	}
	return wl, ex, nil
}

// awaitIngest returns when Jaeger answers with the last spans each
// provider sent: each provider's exports arrive in order and Jaeger
// stores them in order, so then it holds them all.
func awaitIngest(ctx context.Context, query string, ex *exported) error {
	c, err := jaeger.Dial(ctx, query)
	if err != nil {
		return err
	}
	defer c.Close()
	last := []struct {
		id     string
		expect []jaeger.Match
	}{
		{ex.traceIDs[len(ex.traceIDs)-1], []jaeger.Match{{Name: "llm.request"}, {Kind: "server"}}},
		{ex.lastStepTrace, []jaeger.Match{{Name: "engine.step"}}},
	}
	for _, l := range last {
		if l.id == "" {
			continue
		}
		f, err := c.Fetch(ctx, []string{l.id}, jaeger.FetchOptions{Expect: l.expect, Wait: time.Minute, Poll: 50 * time.Millisecond})
		if err != nil {
			return err
		}
		if r := f.Traces[0]; r.Status != jaeger.Found {
			return fmt.Errorf("jaeger did not store trace %s within a minute: %v", l.id, r.Status)
		}
	}
	return nil
}

// analyze runs the analysis of dir, in this process or in a child, and
// returns its measurement.
func analyze(ctx context.Context, cfg Config, dir, query string) (*Measurement, error) {
	if cfg.InProcess {
		m, err := measure(ctx, dir, query, cfg.FetchSteps, cfg.CPUProfile, cfg.MemProfile)
		if m != nil {
			m.InProcess = true
		}
		return m, err
	}
	exe := cfg.Binary
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("analyze-bench: find this executable: %w", err)
		}
	}
	args := []string{"analyze-bench", "-analyze-only", dir, "-jaeger", query}
	if cfg.FetchSteps {
		args = append(args, "-fetch-steps")
	}
	if cfg.CPUProfile != "" {
		args = append(args, "-cpuprofile", cfg.CPUProfile)
	}
	if cfg.MemProfile != "" {
		args = append(args, "-memprofile", cfg.MemProfile)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("analyze-bench: run the analysis in %s: %w\n%s", exe, err, tail(stderr.String(), 2000))
	}
	return parseMeasurement(stdout.Bytes())
}

// parseMeasurement reads the child's output: its last line is the
// Measurement.
func parseMeasurement(out []byte) (*Measurement, error) {
	out = bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var m Measurement
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("analyze-bench: read the child's measurement %q: %w", tail(string(out), 200), err)
	}
	return &m, nil
}

// measure analyzes the run folder dir with the Jaeger at query, timing
// the call and reading this process's memory around it. With steps the
// analysis fetches the engine.step spans whatever the run's size.
func measure(ctx context.Context, dir, query string, steps bool, cpuProfile, memProfile string) (*Measurement, error) {
	runtime.GC()
	debug.FreeOSMemory()
	m := &Measurement{PeakExact: resetPeakRSS(), RSSBeforeMiB: mib(procStatus(0, "VmRSS"))}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("analyze-bench: create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("analyze-bench: start CPU profile: %w", err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, t0 := cpuTime(), time.Now()
	acfg := analyzer.Config{Run: dir, Jaeger: query, Quiet: true, Force: true}
	if steps {
		acfg.Steps = math.MaxInt
	}
	a, err := analyzer.Analyze(ctx, acfg, io.Discard)
	m.WallS = time.Since(t0).Seconds()
	m.CPUS = (cpuTime() - cpu0).Seconds()
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	m.PeakRSSMiB = mib(procStatus(0, "VmHWM"))
	runtime.ReadMemStats(&ms1)
	m.AllocMiB = mib(int64(ms1.TotalAlloc - ms0.TotalAlloc))
	m.GCs = ms1.NumGC - ms0.NumGC
	if err != nil {
		return nil, fmt.Errorf("analyze-bench: %w", err)
	}
	c := a.Coverage
	m.Requests, m.Analyzed, m.MissingTraces, m.PartialTraces, m.ClientOnly = c.Requests, c.Analyzed, c.MissingTraces, c.PartialTraces, c.ClientOnly
	m.Bottleneck = a.Verdict.Bottleneck
	m.FetchSteps = steps
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return nil, fmt.Errorf("analyze-bench: create allocation profile: %w", err)
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return nil, fmt.Errorf("analyze-bench: write allocation profile: %w", err)
		}
	}
	return m, nil
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
