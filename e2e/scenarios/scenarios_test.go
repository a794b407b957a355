// Package scenarios_test runs every scenario script of scenarios/ (from
// that folder: see TestMain),
// shortened to seconds through its own -e knobs, against refserver
// serving the tiny test checkpoint in-process, and checks that each one
// passes its thresholds and leaves the run folder it promises.
package scenarios_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmbench/llmbench/analyzer"
	"github.com/llmbench/llmbench/internal/stack/stacktest"
	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/nightly"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/refservertest"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt"
	"github.com/llmbench/llmbench/telemetry"
)

// TestMain runs the tests in scenarios/, where the scripts' names and
// their relative imports resolve as a user's `llmbench run` sees them.
func TestMain(m *testing.M) {
	if err := os.Chdir(filepath.Join("..", "..", "scenarios")); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// lockedBuffer collects a refserver's log from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startRefserver(t *testing.T, maxBatch int, otlp string) string {
	cfg := refserver.ServeConfig{Telemetry: telemetry.Config{Endpoint: otlp, ServiceName: "refserver", SampleRatio: 1}}
	cfg.Engine.MaxBatch, cfg.Engine.MaxQueue = maxBatch, 512
	return refservertest.Start(t, cfg)
}

// run runs a scenario script of this folder with env as its only __ENV,
// into the run folder out, and returns its result once it exited 0. mod,
// if not nil, changes the configuration first.
func run(t *testing.T, out, script string, env map[string]string, mod func(*loadgen.Config)) *loadgen.Result {
	t.Helper()
	cfg := loadgen.Config{Script: script, Env: env, NoSysEnv: true, Out: out, Quiet: true}
	if env["TARGET"] == "" {
		cfg.NoHealth = true
	}
	if mod != nil {
		mod(&cfg)
	}
	var stdout, stderr bytes.Buffer
	res, err := loadgen.Run(t.Context(), cfg, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run %s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	if res.Exit != loadgen.ExitOK {
		t.Fatalf("run %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", script, res.Exit, stdout.String(), stderr.String())
	}
	return res
}

// requests reads the run's requests.jsonl.
func requests(t *testing.T, dir string) []*runfmt.Request {
	t.Helper()
	var out []*runfmt.Request
	for r, err := range runfmt.Requests(dir) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// with returns env with TARGET set, for a map literal's convenience.
func with(target string, env map[string]string) map[string]string {
	out := map[string]string{"TARGET": target}
	// The scripts' latency thresholds are for a real server on its own
	// machine; here shortened scenarios and their refservers share the
	// test machine's cores, and a slow CI machine is not a failed
	// scenario. The bounds stay in place, loose, so that a script that
	// builds them wrong still fails; an error rate still counts as it is.
	for _, k := range []string{"TTFT_P95", "E2E_P95", "TTFT_MAX", "SPIKE_TTFT_P95"} {
		out[k] = "300000"
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// scenarioCase is one shipped script, the knobs that shorten it, and what
// its run folder must show beyond the checks every script gets.
type scenarioCase struct {
	env map[string]string
	// scenarios are the scenario names requests.jsonl must hold, exactly.
	scenarios []string
	check     func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request)
}

// cases maps every .js file of this folder to its case; TestScenarios
// fails when a script has none, so a new scenario cannot go untested.
var cases = map[string]scenarioCase{
	"smoke.js": {
		scenarios: []string{"smoke"},
		check: func(t *testing.T, _ *loadgen.Result, reqs []*runfmt.Request) {
			if len(reqs) != 5 {
				t.Errorf("got %d requests, want 5", len(reqs))
			}
		},
	},
	"baseline.js": {
		env:       map[string]string{"HOLD": "2s"},
		scenarios: []string{"baseline"},
		check: func(t *testing.T, _ *loadgen.Result, reqs []*runfmt.Request) {
			if got := countBy(reqs, func(r *runfmt.Request) string { return strconv.Itoa(r.VU) }); len(got) != 5 {
				t.Errorf("requests came from %d VUs, want 5", len(got))
			}
		},
	},
	"open-loop.js": {
		env:       map[string]string{"RATE": "20", "DURATION": "3s", "SEED": "1", "MAX_TOKENS": "8"},
		scenarios: []string{"open_loop"},
		check: func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request) {
			// 60 arrivals expected; a Poisson count is within ±4σ of it.
			if n := len(reqs); n < 30 || n > 90 {
				t.Errorf("got %d requests at 20/s for 3 s, want 30..90", n)
			}
			// Poisson gaps are exponential: their coefficient of
			// variation is 1, where evenly spaced arrivals give 0.
			if cv := gapCV(t, reqs); cv < 0.6 || cv > 1.5 {
				t.Errorf("arrival gaps: coefficient of variation %.2f, want about 1 (Poisson)", cv)
			}
			if res.Summary.LLM.ClientQueue == nil {
				t.Errorf("summary: no client queue for an arrival-rate run")
			}
		},
	},
	"concurrency-sweep.js": {
		env:       map[string]string{"STEP": "1s", "GAP": "0s", "MAX_TOKENS": "8"},
		scenarios: []string{"vus_1", "vus_16", "vus_2", "vus_32", "vus_4", "vus_8"},
		check: func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request) {
			for level, vus := range distinctVUs(reqs) {
				if want := strings.TrimPrefix(level, "vus_"); strconv.Itoa(vus) != want {
					t.Errorf("scenario %s: requests came from %d VUs, want %s", level, vus, want)
				}
			}
			a, err := analyzer.Analyze(t.Context(), analyzer.Config{Run: res.Dir, Quiet: true}, nil)
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			if a.Saturation == nil {
				t.Fatal("analysis: no saturation table")
			}
			var offered []float64
			for _, p := range a.Saturation.Points {
				offered = append(offered, p.Offered)
				if p.Throughput <= 0 {
					t.Errorf("saturation point %s: throughput %v, want > 0", p.Label, p.Throughput)
				}
			}
			if want := []float64{1, 2, 4, 8, 16, 32}; !slices.Equal(offered, want) {
				t.Errorf("saturation points offer %v, want %v", offered, want)
			}
		},
	},
	"prompt-sweep.js": {
		env:       map[string]string{"LENGTHS": "8,16,32,64,96", "REPEAT": "2"},
		scenarios: []string{"prompt_sweep"},
		check: func(t *testing.T, _ *loadgen.Result, reqs []*runfmt.Request) {
			if len(reqs) != 10 {
				t.Errorf("got %d requests, want 5 lengths × 2", len(reqs))
			}
			for _, r := range reqs {
				// The filler is exact in GPT-2 tokens: the server's count
				// is the length asked for.
				if want := r.Tags["input_len"]; strconv.Itoa(r.InputTokens) != want || r.OutputTokens != 1 {
					t.Errorf("request %d: got %d input and %d output tokens, want %s and 1", r.Seq, r.InputTokens, r.OutputTokens, want)
				}
			}
			if got := countBy(reqs, func(r *runfmt.Request) string { return r.Tags["input_len"] }); len(got) != 5 {
				t.Errorf("input lengths: got %v, want 5 lengths twice each", got)
			}
		},
	},
	"spike.js": {
		env:       map[string]string{"BASE": "3", "SPIKE": "30", "MAX_VUS": "40", "WARM": "1s", "HOLD": "1s", "RECOVER": "2s", "MAX_TOKENS": "4"},
		scenarios: []string{"spike"},
		check: func(t *testing.T, _ *loadgen.Result, reqs []*runfmt.Request) {
			// The thresholds saw requests in every phase (tagged by when
			// they began, which a busy client delays). The schedule
			// itself: the busiest second of arrivals (the 1 s spike, 30
			// expected) against the rate of the other 3 s (3/s). setup()
			// starts the phases' clock once the 40 VUs exist, as in k6.
			var at []time.Time
			for _, r := range reqs {
				at = append(at, r.Scheduled)
			}
			slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
			peak := 0
			for i, j := 0, 0; i < len(at); i++ {
				for at[i].Sub(at[j]) >= time.Second {
					j++
				}
				peak = max(peak, i-j+1)
			}
			if rest := float64(len(at)-peak) / 3; float64(peak) < 3*rest {
				t.Errorf("arrivals: %d in the busiest second, %.1f/s in the rest; want the spike over 3 times the rest", peak, rest)
			}
		},
	},
	"soak.js": {
		env:       map[string]string{"DURATION": "3s", "RATE": "10", "MAX_TOKENS": "8"},
		scenarios: []string{"soak"},
		check: func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request) {
			for _, m := range []string{"llm_failed", "llm_ttft", "llm_e2e"} {
				if th := res.Summary.Metrics[m].Thresholds; len(th) != 1 {
					t.Errorf("summary: %s has thresholds %v, want one", m, th)
				}
			}
		},
	},
	"chat-streams.js": {
		env:       map[string]string{"VUS": "2", "STREAMS": "4", "DURATION": "2s", "THINK": "0s", "MAX_TOKENS": "4"},
		scenarios: []string{"chat_streams"},
		check: func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request) {
			// Every turn of every user holds 4 streams, tagged 0..3.
			turns := countBy(reqs, func(r *runfmt.Request) string { return fmt.Sprintf("vu %d iter %d", r.VU, r.Iter) })
			if len(turns) < 2 {
				t.Errorf("got %d turns, want at least 2", len(turns))
			}
			for turn, n := range turns {
				if n != 4 {
					t.Errorf("%s: %d streams, want 4", turn, n)
				}
			}
			if got := countBy(reqs, func(r *runfmt.Request) string { return r.Tags["stream"] }); len(got) != 4 || got["0"] == 0 || got["3"] == 0 {
				t.Errorf("stream tags: got %v, want 0..3", got)
			}
			if m, ok := res.Summary.Metrics["llm_turn"]; !ok || m.Type != "trend" || len(m.Values) == 0 {
				t.Errorf("summary: llm_turn is %+v, want a trend of the turns", m)
			}
		},
	},
	"own-server.js": {
		env:       map[string]string{"PROTOCOL": "openai-chat", "MODEL": "gpt2", "LEVELS": "1,2", "STEP": "1s", "PROMPT_TOKENS": "8", "MAX_TOKENS": "4"},
		scenarios: []string{"users_1", "users_2"},
		check: func(t *testing.T, res *loadgen.Result, reqs []*runfmt.Request) {
			for level, vus := range distinctVUs(reqs) {
				if want := strings.TrimPrefix(level, "users_"); strconv.Itoa(vus) != want {
					t.Errorf("scenario %s: requests came from %d VUs, want %s", level, vus, want)
				}
			}
			for _, r := range reqs {
				// ignore_eos: every request makes all its tokens; refserver
				// sends its own timings, kept with their source.
				if r.OutputTokens != 4 || r.Protocol != "openai-chat" || r.ServerTimingSource != runfmt.ServerTimingRefserver || r.ServerTTFTMS == nil || r.TTFTOverServerMS == nil {
					t.Errorf("request %d: %d tokens over %s, server timings from %q (ttft %v, over %v)", r.Seq, r.OutputTokens, r.Protocol, r.ServerTimingSource, r.ServerTTFTMS, r.TTFTOverServerMS)
					break
				}
			}
			run, err := runfmt.ReadRun(res.Dir)
			if err != nil || run.Server == nil || run.Server.Kind != runfmt.ServerRefserver || run.Server.GPUAvailable == nil {
				t.Errorf("run.json server: %+v (%v), want refserver identified from its /health", run.Server, err)
			}
		},
	},
	"mixed.js": {
		env:       map[string]string{"RATE": "10", "DURATION": "3s", "CONTEXT": "128", "MIN_OUTPUT": "4", "MAX_OUTPUT": "48", "IGNORE_EOS": "1"},
		scenarios: []string{"mixed"},
		check: func(t *testing.T, _ *loadgen.Result, reqs []*runfmt.Request) {
			classes := countBy(reqs, func(r *runfmt.Request) string { return r.Tags["class"] })
			if len(classes) < 3 {
				t.Errorf("classes: got %v, want at least 3", classes)
			}
			outs := map[int]bool{}
			ins := map[int]bool{}
			for _, r := range reqs {
				// MAX_INPUT is CONTEXT − MAX_OUTPUT: 80.
				if r.OutputTokens < 4 || r.OutputTokens > 48 || r.InputTokens > 80 {
					t.Errorf("request %d (%s): got %d input and %d output tokens, want at most 80 and 4..48", r.Seq, r.Tags["class"], r.InputTokens, r.OutputTokens)
				}
				outs[r.OutputTokens] = true
				ins[r.InputTokens] = true
			}
			if len(outs) < 3 || len(ins) < 5 {
				t.Errorf("lengths drawn: %d distinct output and %d distinct input lengths, want at least 3 and 5", len(outs), len(ins))
			}
		},
	},
}

// TestScenarios runs every scenario script, shortened, against its own
// refserver: each must exit 0 (its thresholds held), finish, and record
// requests under the scenario names it promises.
func TestScenarios(t *testing.T) {
	scripts, err := filepath.Glob("*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		if _, ok := cases[s]; !ok {
			t.Errorf("%s: no case in TestScenarios: add one with the knobs that shorten it", s)
		}
	}
	// One script at a time: eight refservers and load generators at once,
	// under the race detector on a busy two-core machine, kept requests in
	// flight past a scenario's gracefulStop (30 s), which then cancelled
	// them and failed the error thresholds. (The timing thresholds are
	// loosened by with.) make test checks that a script runs and records
	// what it promises, not how fast.
	for script, tc := range cases {
		t.Run(script, func(t *testing.T) {
			base := startRefserver(t, 0, "")
			res := run(t, filepath.Join(t.TempDir(), "run"), script, with(base, tc.env), nil)
			runJSON, err := runfmt.ReadRun(res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if runJSON.Status != runfmt.StatusFinished || runJSON.Target != base {
				t.Errorf("run.json: got status %q, target %q; want finished, %s", runJSON.Status, runJSON.Target, base)
			}
			reqs := requests(t, res.Dir)
			if len(reqs) == 0 {
				t.Fatal("requests.jsonl: no requests")
			}
			for _, r := range reqs {
				if !r.OK {
					t.Errorf("request %d failed: %s %s", r.Seq, r.ErrorClass, r.Error)
				}
			}
			names := countBy(reqs, func(r *runfmt.Request) string { return r.Scenario })
			if got := sortedKeys(names); !slices.Equal(got, tc.scenarios) {
				t.Errorf("scenarios in requests.jsonl: got %v, want %v", got, tc.scenarios)
			}
			if res.Summary == nil || !res.Summary.ThresholdsOK || res.Summary.LLM == nil || res.Summary.LLM.Requests != int64(len(reqs)) {
				t.Errorf("summary: got %+v, want thresholds ok and %d requests", res.Summary, len(reqs))
			}
			if tc.check != nil {
				tc.check(t, res, reqs)
			}
		})
	}
}

// TestDefaultOptions starts every script with no knobs set, as a user
// would run it, against a closed port, and cancels it once its run folder
// exists: by then its default options and thresholds were parsed and
// validated (an invalid one exits 104, a script error 107, before any run
// folder). The long default runs themselves are not run.
func TestDefaultOptions(t *testing.T) {
	scripts, err := filepath.Glob("*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts {
		t.Run(script, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "run")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfg := loadgen.Config{Script: script, Env: map[string]string{"TARGET": "http://127.0.0.1:1"}, NoSysEnv: true, Out: out, Quiet: true, NoSummary: true, NoHealth: true}
			type result struct {
				res *loadgen.Result
				err error
			}
			var stderr lockedBuffer
			done := make(chan result, 1)
			go func() {
				res, err := loadgen.Run(ctx, cfg, io.Discard, &stderr)
				done <- result{res, err}
			}()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			var r result
		wait:
			for {
				select {
				case r = <-done:
					break wait
				case <-tick.C:
					if _, err := os.Stat(filepath.Join(out, runfmt.RunFile)); err == nil {
						cancel()
					}
				}
			}
			if r.err != nil || (r.res.Exit != loadgen.ExitInterrupted && r.res.Exit != loadgen.ExitThresholds) {
				t.Fatalf("exit %d, %v; want it to start (and be interrupted, or fail its thresholds against a closed port)\n%s", r.res.Exit, r.err, stderr.String())
			}
			if _, err := runfmt.ReadRun(out); err != nil {
				t.Errorf("run.json: %v", err)
			}
		})
	}
}

// TestPromptSweepPrefillFit runs the prompt sweep traced, refserver and
// the load generator both exporting to the real Jaeger, and analyzes it:
// every request's trace is found and the analysis fits prefill time to
// the prompt length over all of them. It is skipped when Jaeger is not
// built (make tools), unless $LLMBENCH_INTEGRATION=1.
func TestPromptSweepPrefillFit(t *testing.T) {
	t.Parallel()
	j := stacktest.Jaeger(t)
	base := startRefserver(t, 0, j.OTLPGRPC)
	env := with(base, map[string]string{"LENGTHS": "8,16,32,64,96", "REPEAT": "2"})
	res := run(t, filepath.Join(t.TempDir(), "run"), "prompt-sweep.js", env, func(c *loadgen.Config) {
		c.Tracing = telemetry.Config{Endpoint: j.OTLPGRPC, ServiceName: "llmbench", SampleRatio: 1}
	})
	a, err := analyzer.Analyze(t.Context(), analyzer.Config{Run: res.Dir, Jaeger: j.QueryGRPC, Wait: 20 * time.Second, Quiet: true}, nil)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	if c := a.Coverage; c.Requests != 10 || c.MissingTraces != 0 || c.ClientOnly != 0 {
		t.Errorf("coverage: got %+v, want 10 requests, every one traced", c)
	}
	if f := a.PrefillFit; f == nil || f.X != "input_tokens" || f.N != 10 {
		t.Errorf("prefill fit: got %+v, want one over the 10 requests' input_tokens", f)
	}
}

// TestCPUvsGPU does what cpu-vs-gpu.sh does, in-process: the same
// open-loop load against two refservers (max batch 1 and 8, the script's
// CPU-only stand-ins), both analyzed, then compared. The two runs must
// have been offered the very same arrival times.
func TestCPUvsGPU(t *testing.T) {
	t.Parallel()
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", "cpu-vs-gpu.sh").CombinedOutput(); err != nil {
			t.Errorf("bash -n cpu-vs-gpu.sh: %v\n%s", err, out)
		}
	}
	env := map[string]string{"RATE": "10", "DURATION": "2s", "SEED": "3", "MAX_TOKENS": "8"}
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	t.Run("runs", func(t *testing.T) {
		for i, batch := range []int{1, 8} {
			t.Run(fmt.Sprintf("max-batch-%d", batch), func(t *testing.T) {
				t.Parallel()
				run(t, dirs[i], "open-loop.js", with(startRefserver(t, batch, ""), env), nil)
			})
		}
	})
	if t.Failed() {
		return
	}
	a, b := requests(t, dirs[0]), requests(t, dirs[1])
	ga, gb := arrivalGaps(t, a), arrivalGaps(t, b)
	if len(ga) != len(gb) {
		t.Fatalf("arrivals: %d on A, %d on B; want the same schedule", len(ga)+1, len(gb)+1)
	}
	for i := range ga {
		if d := ga[i] - gb[i]; d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("arrival gap %d: %v on A, %v on B; want the same schedule", i, ga[i], gb[i])
		}
	}
	for _, d := range dirs {
		if _, err := analyzer.Analyze(t.Context(), analyzer.Config{Run: d, Quiet: true}, nil); err != nil {
			t.Fatalf("analyze %s: %v", d, err)
		}
	}
	out := filepath.Join(t.TempDir(), "compare.html")
	path, err := reportgen.WriteCompare(t.Context(), dirs[0], dirs[1], out, reportgen.Options{})
	if errors.Is(err, reportgen.ErrNoECharts) {
		t.Logf("reportgen: %v; the comparison page is not checked (make assets)", err)
		return
	}
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("comparison page %s: %v, size %v", path, err, fi)
	}
}

// TestNightlySuite loads the shipped suite: every script it names is one
// of this folder's, which TestScenarios runs.
func TestNightlySuite(t *testing.T) {
	t.Setenv("TARGET", "http://127.0.0.1:8000")
	t.Setenv("TARGET_GPU", "")
	s, err := nightly.LoadSuite("nightly.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Scenarios) == 0 {
		t.Fatal("nightly.json: no scenarios")
	}
	for _, sc := range s.Scenarios {
		p := s.ScriptPath(sc)
		if filepath.Dir(p) != filepath.Clean(s.Dir) {
			t.Errorf("nightly.json: %s is not a script of scenarios/", sc.Script)
		}
		if _, ok := cases[filepath.Base(p)]; !ok {
			t.Errorf("nightly.json: %s is not a scenario TestScenarios runs", sc.Script)
		}
	}
}

// TestLibraries runs testdata/lib.js, which checks the scenarios' shared
// JS (the seeded generator and its distributions, the knob parsers, the
// filler) with check(); every check must pass.
func TestLibraries(t *testing.T) {
	t.Parallel()
	res := run(t, filepath.Join(t.TempDir(), "run"), filepath.Join("testdata", "lib.js"), map[string]string{}, nil)
	var checks []runfmt.Check
	var walk func(g runfmt.Group)
	walk = func(g runfmt.Group) {
		checks = append(checks, g.Checks...)
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(res.Summary.Root)
	if len(checks) < 10 {
		t.Errorf("got %d checks, want the script's dozen or so", len(checks))
	}
	for _, c := range checks {
		if c.Fails > 0 || c.Passes == 0 {
			t.Errorf("check %q: %d passes, %d fails", c.Name, c.Passes, c.Fails)
		}
	}
}

// countBy counts the requests by key.
func countBy(reqs []*runfmt.Request, key func(*runfmt.Request) string) map[string]int {
	n := map[string]int{}
	for _, r := range reqs {
		n[key(r)]++
	}
	return n
}

// distinctVUs is the number of distinct VUs that sent each scenario's
// requests.
func distinctVUs(reqs []*runfmt.Request) map[string]int {
	seen := map[string]map[int]bool{}
	for _, r := range reqs {
		if seen[r.Scenario] == nil {
			seen[r.Scenario] = map[int]bool{}
		}
		seen[r.Scenario][r.VU] = true
	}
	out := map[string]int{}
	for s, vus := range seen {
		out[s] = len(vus)
	}
	return out
}

// arrivalGaps are the gaps between the requests' scheduled times, in
// order.
func arrivalGaps(t *testing.T, reqs []*runfmt.Request) []time.Duration {
	t.Helper()
	var at []time.Time
	for _, r := range reqs {
		if r.Scheduled.IsZero() {
			t.Fatalf("request %d: no scheduled time in an arrival-rate run", r.Seq)
		}
		at = append(at, r.Scheduled)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	return gaps
}

// gapCV is the coefficient of variation (σ/μ) of the arrival gaps.
func gapCV(t *testing.T, reqs []*runfmt.Request) float64 {
	t.Helper()
	gaps := arrivalGaps(t, reqs)
	if len(gaps) < 2 {
		t.Fatalf("got %d arrivals, want enough to measure their gaps", len(gaps)+1)
	}
	var sum, sq float64
	for _, g := range gaps {
		sum += g.Seconds()
	}
	mean := sum / float64(len(gaps))
	for _, g := range gaps {
		sq += (g.Seconds() - mean) * (g.Seconds() - mean)
	}
	return math.Sqrt(sq/float64(len(gaps))) / mean
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
