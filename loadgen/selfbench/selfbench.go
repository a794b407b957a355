// Package selfbench is the load generator's own benchmark (`llmbench-dev
// selfbench`, `make bench`): it runs `llmbench run` scripts against a fake
// LLM server that streams on a fixed schedule from the same machine, and
// reports whether the load generator keeps up: how many concurrent streams
// it holds, how far its measured chunk gaps are from the gaps the server
// really flushed (matched per request by trace id), whether it sustains an
// open-loop arrival rate without dropping iterations, and what CPU and
// memory it needs per 1,000 VUs.
//
// The fake server (FakeServer, `llmbench-dev fake-llm`) runs in a child
// process by default, so the CPU and memory measured are the load
// generator's own. A benchmark is not a test: Run prints measured figures
// next to their targets and says met or MISSED, and its error is only for
// what prevented measuring.
package selfbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/runfmt"
)

// The targets of the benchmark (issue 4).
const (
	TargetStreams    = 1000 // concurrent streams held in the closed-loop phase
	TargetGapErrorMS = 2.0  // p99 of |client gap − server gap|, milliseconds
	TargetRate       = 500  // open-loop arrivals per second
	rateTolerance    = 0.99 // the achieved rate must be at least this share of the target
)

// The streams of each phase: the closed loop streams 50 tokens 20 ms apart
// (after a 20 ms TTFT); the open loop uses short streams, 5 tokens 5 ms
// apart.
var (
	closedStream = FakeConfig{Tokens: 50, Interval: 20 * time.Millisecond, TTFT: 20 * time.Millisecond}
	openStream   = FakeConfig{Tokens: 5, Interval: 5 * time.Millisecond, TTFT: 5 * time.Millisecond}
)

// Config configures Run. Its zero value runs the full benchmark: 1,000
// VUs for 30 s closed-loop, then 500 arrivals/s for 20 s open-loop, with
// the fake server in a child process started from this executable.
type Config struct {
	VUs          int           // closed-loop VUs; 0 means TargetStreams
	Duration     time.Duration // closed-loop phase; 0 means 30s (10s with Quick)
	Rate         int           // open-loop arrivals per second; 0 means TargetRate
	RateDuration time.Duration // open-loop phase; 0 means 20s (5s with Quick)
	Quick        bool          // shorter default phases
	// Stagger spreads the closed-loop VUs' first requests over one
	// stream's length (TTFT + tokens × interval), as if they had arrived
	// over time: the streams then start, tick and end at different
	// moments. Without it they start together and stay in lockstep, every
	// event of every stream due at the same instant and every VU starting
	// its next request at the same instant: the harder case.
	Stagger    bool
	Out        string // also write the Report as JSON here
	CPUProfile string // write a CPU profile of both phases here
	// Binary is the executable that has the `fake-llm` command; "" means
	// this one (os.Executable).
	Binary string
	// InProcess serves the fake from this process instead of a child (for
	// tests): the CPU and memory measured then include the server's.
	InProcess bool
	// FakeNice is the niceness the child fake server runs at (through
	// nice(1)); 0 is the load generator's own. A fake at a lower priority
	// runs when the load generator is idle, so it sends its events when
	// they can be read at once, and late: an easier load than the one
	// named (docs/BENCHMARKS.md). The fake records when it really sent
	// each event, so its lateness is not counted against the client
	// either way; the schedule row reports it.
	FakeNice int
	// WorkDir keeps the scripts and run folders there; "" means a
	// temporary folder, removed at the end.
	WorkDir string
}

// RegisterFlags adds the flags of `llmbench-dev selfbench` to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.VUs, "vus", TargetStreams, "closed-loop VUs (concurrent streams)")
	fs.DurationVar(&c.Duration, "duration", 0, "closed-loop phase length (default 30s, 10s with -quick)")
	fs.IntVar(&c.Rate, "rate", TargetRate, "open-loop arrivals per second")
	fs.DurationVar(&c.RateDuration, "rate-duration", 0, "open-loop phase length (default 20s, 5s with -quick)")
	fs.BoolVar(&c.Quick, "quick", false, "shorter phases")
	fs.BoolVar(&c.Stagger, "stagger", false, "spread the closed-loop VUs' first requests over one stream's length (default: all start together, tick and restart in lockstep)")
	fs.StringVar(&c.Out, "out", "", "also write the report as JSON to this `file`")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator to this `file`")
	fs.StringVar(&c.Binary, "fake-binary", "", "the executable with the fake-llm command (default: this one)")
	fs.BoolVar(&c.InProcess, "in-process", false, "serve the fake LLM from this process (the CPU and memory figures then include it)")
	fs.IntVar(&c.FakeNice, "fake-nice", 0, "run the child fake server at this niceness (0: the load generator's priority; higher lets the load generator have the CPU first, which also makes its task easier: the fake then sends when the load generator is idle)")
	fs.StringVar(&c.WorkDir, "work", "", "keep the scripts and run folders in this `folder` (default: a temporary one, removed)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.VUs < 0 || c.Rate < 0 || c.Duration < 0 || c.RateDuration < 0 {
		return errors.New("selfbench: -vus, -rate, -duration and -rate-duration must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.VUs == 0 {
		c.VUs = TargetStreams
	}
	if c.Rate == 0 {
		c.Rate = TargetRate
	}
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
		if c.Quick {
			c.Duration = 10 * time.Second
		}
	}
	if c.RateDuration == 0 {
		c.RateDuration = 20 * time.Second
		if c.Quick {
			c.RateDuration = 5 * time.Second
		}
	}
	return c
}

// Report is what Run measured.
type Report struct {
	Start      time.Time `json:"start"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	LoadAvg    string    `json:"loadavg,omitempty"` // /proc/loadavg before the run: the machine may be shared
	FDLimit    uint64    `json:"fd_limit"`          // the open-file limit (raised to the hard limit)
	InProcess  bool      `json:"in_process_server"`
	Stagger    bool      `json:"stagger"`
	Closed     Phase     `json:"closed_loop"`
	Open       Phase     `json:"open_loop"`
	Rows       []Row     `json:"rows"` // the table Run printed
}

// Phase is one phase's measurements. Times are in milliseconds, memory in
// MiB, CPU in cores (CPU seconds per wall second).
type Phase struct {
	Executor string  `json:"executor"`
	VUs      int     `json:"vus,omitempty"`  // constant-vus
	Rate     int     `json:"rate,omitempty"` // constant-arrival-rate, per second
	Duration float64 `json:"duration_s"`
	Tokens   int     `json:"tokens"`
	Interval float64 `json:"interval_ms"`
	TTFT     float64 `json:"ttft_ms"`

	Exit       int     `json:"exit"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Iterations int64   `json:"iterations"`
	Dropped    int64   `json:"dropped_iterations"`
	VUsMax     int64   `json:"vus_max"`
	SentRate   float64 `json:"sent_per_s"` // requests sent per second, first to last
	// MaxInFlight is the most streams the server had open at once.
	MaxInFlight int64              `json:"max_in_flight"`
	TTFTms      runfmt.Percentiles `json:"ttft_ms_client"`
	ITLms       runfmt.Percentiles `json:"itl_ms_client"`
	ClientQueue runfmt.Percentiles `json:"client_queue_ms"`
	Gaps        GapError           `json:"gap_error"`
	// WarmGaps leaves out each VU's first request (which also opened its
	// connection, all at once at the start of a closed loop).
	WarmGaps GapError `json:"gap_error_warm"`

	WallS        float64 `json:"wall_s"`
	CPUCores     float64 `json:"cpu_cores"`        // over the whole loadgen.Run call (VU start-up and summary included)
	SteadyCores  float64 `json:"cpu_cores_steady"` // the median of per-second samples
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	PeakExact    bool    `json:"peak_rss_exact"` // VmHWM (reset before the phase) rather than sampled VmRSS
	ServerCores  float64 `json:"server_cpu_cores,omitempty"`
	RunDir       string  `json:"run_dir,omitempty"` // kept only with Config.WorkDir
	Stderr       string  `json:"stderr,omitempty"`  // the loadgen's messages, when it reported errors
}

// Row is one line of the printed table. Met is nil for figures that have
// no target.
type Row struct {
	Phase    string `json:"phase"`
	What     string `json:"what"`
	Measured string `json:"measured"`
	Target   string `json:"target,omitempty"`
	Met      *bool  `json:"met,omitempty"`
}

// Run runs the benchmark's two phases, prints the table to w and returns
// the report. The error is for what kept it from measuring (no fake
// server, no run folder); missed targets are in the report, not errors.
// It raises the process's open-file limit to the hard limit.
func Run(ctx context.Context, cfg Config, w io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	lim, _ := raiseFDLimit()
	rep := &Report{Start: time.Now(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), FDLimit: lim, InProcess: cfg.InProcess, Stagger: cfg.Stagger}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.LoadAvg = strings.TrimSpace(string(b))
	}
	work := cfg.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "llmbench-selfbench-")
		if err != nil {
			return nil, fmt.Errorf("selfbench: make work folder: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("selfbench: make work folder: %w", err)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("selfbench: create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("selfbench: start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	where := "in this process"
	if !cfg.InProcess {
		where = fmt.Sprintf("in a child process at nice %d", cfg.FakeNice)
	}
	fmt.Fprintf(w, "selfbench: %d CPUs, GOMAXPROCS %d, load average %s, open-file limit %d, fake server %s\n",
		rep.CPUs, rep.GOMAXPROCS, rep.LoadAvg, lim, where)

	closed := phaseSpec{
		name: "closed", stream: closedStream, duration: cfg.Duration, stagger: cfg.Stagger, vus: cfg.VUs,
		scenario: fmt.Sprintf(`{ executor: 'constant-vus', vus: %d, duration: '%dms' }`, cfg.VUs, cfg.Duration.Milliseconds()),
	}
	fmt.Fprintf(w, "selfbench: closed loop: %d VUs for %v, %d tokens %v apart ...\n", cfg.VUs, cfg.Duration, closedStream.Tokens, closedStream.Interval)
	p, err := runPhase(ctx, cfg, work, closed)
	if err != nil {
		return nil, err
	}
	p.Executor, p.VUs = "constant-vus", cfg.VUs
	rep.Closed = *p
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("selfbench: %w", err)
	}

	preVUs := min(max(cfg.Rate/2, 10), 2000)
	open := phaseSpec{
		name: "open", stream: openStream, duration: cfg.RateDuration,
		scenario: fmt.Sprintf(`{ executor: 'constant-arrival-rate', rate: %d, timeUnit: '1s', duration: '%dms', preAllocatedVUs: %d, maxVUs: %d }`,
			cfg.Rate, cfg.RateDuration.Milliseconds(), preVUs, max(preVUs, 4*cfg.Rate)),
	}
	fmt.Fprintf(w, "selfbench: open loop: %d arrivals/s for %v, %d tokens %v apart ...\n", cfg.Rate, cfg.RateDuration, openStream.Tokens, openStream.Interval)
	p, err = runPhase(ctx, cfg, work, open)
	if err != nil {
		return nil, err
	}
	p.Executor, p.Rate = "constant-arrival-rate", cfg.Rate
	rep.Open = *p
	if cfg.WorkDir == "" {
		rep.Closed.RunDir, rep.Open.RunDir = "", ""
	}

	rep.Rows = rows(rep)
	printTable(w, rep)
	if cfg.Out != "" {
		if err := runfmt.WriteJSON(cfg.Out, rep); err != nil {
			return rep, fmt.Errorf("selfbench: %w", err)
		}
	}
	return rep, nil
}

// phaseSpec is one phase to run.
type phaseSpec struct {
	name     string
	stream   FakeConfig
	duration time.Duration
	scenario string // the scenario's options object, in JavaScript
	stagger  bool   // spread the first requests of vus VUs over one stream
	vus      int
}

const scriptTemplate = `import llm from 'k6/x/llm';
import { sleep } from 'k6';
export const options = { scenarios: { %s: %s } };
const c = new llm.Client({ baseURL: __ENV.TARGET, protocol: 'generate' });
const stagger = %g; // seconds between consecutive VUs' first requests
export default function () {
  if (stagger > 0 && __ITER === 0) sleep((__VU - 1) * stagger);
  c.generate({ prompt: 'x', max_tokens: %d });
}
`

// runPhase starts a fake server for the phase, runs its script through
// loadgen.Run while measuring this process, and compares the gaps.
func runPhase(ctx context.Context, cfg Config, work string, ps phaseSpec) (*Phase, error) {
	script := filepath.Join(work, ps.name+".js")
	var stagger float64
	if ps.stagger && ps.vus > 0 {
		stagger = (ps.stream.TTFT + time.Duration(ps.stream.Tokens)*ps.stream.Interval).Seconds() / float64(ps.vus)
	}
	if err := os.WriteFile(script, fmt.Appendf(nil, scriptTemplate, ps.name, ps.scenario, stagger, ps.stream.Tokens), 0o644); err != nil {
		return nil, fmt.Errorf("selfbench: write script: %w", err)
	}
	srv, err := startFake(ctx, cfg, ps.stream)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	// Leave the previous phase's garbage out of this one's memory.
	runtime.GC()
	debug.FreeOSMemory()
	var stderr bytes.Buffer
	dir := filepath.Join(work, ps.name)
	m := startMeter(ctx, time.Second)
	res, err := loadgen.Run(ctx, loadgen.Config{
		Script: script, Env: map[string]string{"TARGET": srv.url}, NoSysEnv: true,
		Out: dir, Quiet: true, NoSummary: true, NoHealth: true,
	}, io.Discard, &stderr)
	u := m.stop()
	if err != nil {
		return nil, fmt.Errorf("selfbench: %s phase: %w\n%s", ps.name, err, tail(stderr.String(), 2000))
	}
	tm, err := srv.timings(ctx)
	if err != nil {
		return nil, err
	}
	serverCPU, _ := srv.stop()

	p := &Phase{
		Duration: ps.duration.Seconds(), Tokens: ps.stream.Tokens, Interval: ms(ps.stream.Interval), TTFT: ms(ps.stream.TTFT),
		Exit: res.Exit, Requests: res.Requests, MaxInFlight: tm.MaxInFlight, RunDir: res.Dir,
		WallS: u.Wall.Seconds(), CPUCores: u.CPU.Seconds() / u.Wall.Seconds(), SteadyCores: u.SteadyCores,
		RSSBeforeMiB: mib(u.RSSBefore), PeakRSSMiB: mib(u.PeakRSS), PeakExact: u.PeakExact,
	}
	if serverCPU > 0 {
		p.ServerCores = serverCPU.Seconds() / u.Wall.Seconds()
	}
	if s := res.Summary; s != nil {
		p.Iterations = int64(s.Metrics["iterations"].Values["count"])
		p.Dropped = int64(s.Metrics["dropped_iterations"].Values["count"])
		p.VUsMax = int64(s.Metrics["vus_max"].Values["max"])
		if s.LLM != nil {
			p.Errors, p.TTFTms, p.ITLms = s.LLM.Errors, s.LLM.TTFT, s.LLM.ITL
			p.Dropped = max(p.Dropped, s.LLM.DroppedIterations)
			if s.LLM.ClientQueue != nil {
				p.ClientQueue = *s.LLM.ClientQueue
			}
		}
	}
	if p.Errors > 0 || res.Exit != loadgen.ExitOK {
		p.Stderr = tail(stderr.String(), 2000)
	}
	var reqs []*runfmt.Request
	for r, err := range runfmt.Requests(res.Dir) {
		if err != nil {
			return nil, fmt.Errorf("selfbench: %s phase: %w", ps.name, err)
		}
		reqs = append(reqs, r)
	}
	p.SentRate = sentRate(reqs)
	p.Gaps = compareGaps(reqs, tm.Streams)
	warm := slices.DeleteFunc(slices.Clone(reqs), func(r *runfmt.Request) bool { return r.Iter == 0 })
	p.WarmGaps = compareGaps(warm, tm.Streams)
	return p, nil
}

// sentRate is the requests sent per second from the first to the last.
func sentRate(reqs []*runfmt.Request) float64 {
	if len(reqs) < 2 {
		return 0
	}
	first, last := reqs[0].Sent, reqs[0].Sent
	for _, r := range reqs[1:] {
		if r.Sent.IsZero() {
			continue
		}
		if r.Sent.Before(first) {
			first = r.Sent
		}
		if r.Sent.After(last) {
			last = r.Sent
		}
	}
	if d := last.Sub(first).Seconds(); d > 0 {
		return float64(len(reqs)-1) / d
	}
	return 0
}

// fake is a running fake server.
type fake struct {
	url     string
	timings func(ctx context.Context) (Timings, error)
	// stop stops the server (once; later calls return the first result)
	// and returns the CPU time it used when it was a child process.
	stop func() (time.Duration, error)
}

// startFake starts the phase's fake server, in a child process unless
// cfg.InProcess.
func startFake(ctx context.Context, cfg Config, fc FakeConfig) (*fake, error) {
	fc.Addr = "127.0.0.1:0"
	if cfg.InProcess {
		return startInProcess(fc)
	}
	return startChild(ctx, cfg.Binary, cfg.FakeNice, fc)
}

func startInProcess(fc FakeConfig) (*fake, error) {
	ln, err := net.Listen("tcp", fc.Addr)
	if err != nil {
		return nil, fmt.Errorf("selfbench: listen: %w", err)
	}
	fs := NewFakeServer(fc)
	srv := &http.Server{Handler: fs, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stopped := false
	return &fake{
		url:     "http://" + ln.Addr().String(),
		timings: func(context.Context) (Timings, error) { return fs.Timings(true), nil },
		stop: func() (time.Duration, error) {
			if !stopped {
				stopped = true
				srv.Close()
				<-done
			}
			return 0, nil
		},
	}, nil
}

func startChild(ctx context.Context, bin string, nice int, fc FakeConfig) (*fake, error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("selfbench: find the fake-llm executable: %w", err)
		}
	}
	cmd := exec.Command(bin, fakeArgs(fc)...)
	if nice != 0 {
		// nice(1) execs the fake in its own place: same process, so its
		// CPU time is still the child's.
		p, err := exec.LookPath("nice")
		if err != nil {
			return nil, fmt.Errorf("selfbench: -fake-nice %d needs nice(1) (coreutils): %w", nice, err)
		}
		cmd = exec.Command(p, append([]string{"-n", strconv.Itoa(nice), bin}, fakeArgs(fc)...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("selfbench: start fake-llm: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("selfbench: start fake-llm: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("selfbench: start fake-llm: %w", err)
	}
	var (
		stopped bool
		cpu     time.Duration
		werr    error
	)
	stop := func() (time.Duration, error) {
		if stopped {
			return cpu, werr
		}
		stopped = true
		stdin.Close() // the end of its stdin stops fake-llm
		t := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		werr = cmd.Wait()
		t.Stop()
		if cmd.ProcessState != nil {
			cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		return cpu, werr
	}
	line := make(chan string, 1)
	go func() { // ends when the child prints its address or exits
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var addr string
	select {
	case addr = <-line:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if addr == "" {
		stop()
		return nil, fmt.Errorf("selfbench: start %s fake-llm: no address printed: %s", bin, tail(stderr.String(), 1000))
	}
	url := "http://" + addr
	return &fake{url: url, stop: stop, timings: func(ctx context.Context) (Timings, error) {
		return fetchTimings(ctx, url)
	}}, nil
}

// fetchTimings gets GET /timings?reset=1 from a fake server.
func fetchTimings(ctx context.Context, base string) (Timings, error) {
	var t Timings
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/timings?reset=1", nil)
	if err != nil {
		return t, fmt.Errorf("selfbench: fetch timings: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return t, fmt.Errorf("selfbench: fetch timings: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return t, fmt.Errorf("selfbench: fetch timings: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return t, fmt.Errorf("selfbench: fetch timings: %w", err)
	}
	return t, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
