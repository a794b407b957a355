package loadgen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmbench/llmbench/loadgen/executor"
	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/loadgen/script"
	"github.com/llmbench/llmbench/loadgen/threshold"
	"github.com/llmbench/llmbench/runfmt"
)

// scriptOptions are the parts of a script's options the runner reads
// itself; the executors read the scenarios.
type scriptOptions struct {
	Thresholds        json.RawMessage `json:"thresholds"`
	SetupTimeout      json.RawMessage `json:"setupTimeout"`    // a k6 duration: see durations
	TeardownTimeout   json.RawMessage `json:"teardownTimeout"` // a k6 duration
	SummaryTrendStats []string        `json:"summaryTrendStats"`
	SummaryTimeUnit   string          `json:"summaryTimeUnit"`
	// MaxRedirects is how many redirects k6/http follows (k6's default 10).
	MaxRedirects *int `json:"maxRedirects"`
	// NoCookiesReset keeps each VU's cookies across its iterations.
	NoCookiesReset bool `json:"noCookiesReset"`
	// The options of k6/http and the connections
	// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/).
	DiscardResponseBodies bool              `json:"discardResponseBodies"`
	UserAgent             *string           `json:"userAgent"`
	Throw                 bool              `json:"throw"`
	Batch                 *int              `json:"batch"`
	BatchPerHost          *int              `json:"batchPerHost"`
	InsecureSkipTLSVerify bool              `json:"insecureSkipTLSVerify"`
	NoConnectionReuse     bool              `json:"noConnectionReuse"`
	Hosts                 map[string]string `json:"hosts"`
	MinIterationDuration  json.RawMessage   `json:"minIterationDuration"` // a k6 duration
	// SLO sets the service-level objectives of goodput, in milliseconds:
	// {ttft: 500, tpot: 50, e2e: 10000}. A request is good when it
	// succeeded and met every one given. (An llmbench option; k6 has none.)
	SLO map[string]float64 `json:"slo"`

	// What durations read from the duration options.
	setup, teardown, minIteration time.Duration
}

// durations reads the duration options as k6 does (a string such as
// "30s" or "1d", or a number of milliseconds), and refuses one that is
// neither, or negative, naming it.
func (o *scriptOptions) durations() error {
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		dst  *time.Duration
		def  time.Duration
	}{
		{"setupTimeout", o.SetupTimeout, &o.setup, 60 * time.Second},
		{"teardownTimeout", o.TeardownTimeout, &o.teardown, 60 * time.Second},
		{"minIterationDuration", o.MinIterationDuration, &o.minIteration, 0},
	} {
		*d.dst = d.def
		if len(d.raw) == 0 || string(d.raw) == "null" {
			continue
		}
		v, err := executor.ParseDurationJSON(d.raw)
		if err != nil {
			return fmt.Errorf("options: %s %s: %v; want a duration such as \"10s\" or a number of milliseconds", d.name, d.raw, err)
		}
		if v < 0 {
			return fmt.Errorf("options: %s %s: negative", d.name, d.raw)
		}
		*d.dst = v
	}
	return nil
}

func (o scriptOptions) setupTimeout() time.Duration    { return o.setup }
func (o scriptOptions) teardownTimeout() time.Duration { return o.teardown }

// trendStats are the trend values the summary computes: k6's defaults or
// summaryTrendStats, and the percentiles the thresholds need.
func (o scriptOptions) trendStats(ths []threshold.Threshold) []string {
	stats := append([]string(nil), o.SummaryTrendStats...)
	return append(stats, threshold.NewEvaluator(ths).TrendStats()...)
}

// apply sets what the options say on the VUs' environment and on the
// run's HTTP client (shared by k6/http and k6/x/llm, as k6's options apply
// to every request), before any VU makes a request.
func (o scriptOptions) apply(env *script.Env, hc *http.Client) error {
	env.MaxRedirects = o.MaxRedirects
	env.NoCookiesReset = o.NoCookiesReset
	env.HTTP = script.HTTPOptions{
		DiscardResponseBodies: o.DiscardResponseBodies, UserAgent: o.UserAgent, Throw: o.Throw,
		Batch: o.Batch, BatchPerHost: o.BatchPerHost,
	}
	for name, n := range map[string]*int{"maxRedirects": o.MaxRedirects, "batch": o.Batch, "batchPerHost": o.BatchPerHost} {
		if n != nil && *n < 0 {
			return fmt.Errorf("options: %s %d: want 0 or more", name, *n)
		}
	}
	if u := o.SummaryTimeUnit; u != "" {
		if _, ok := metrics.TimeUnits[u]; !ok {
			return fmt.Errorf("options: summaryTimeUnit %q: want s, ms or us", u)
		}
	}
	env.MinIterationDuration = o.minIteration
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		return nil
	}
	if o.InsecureSkipTLSVerify {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	tr.DisableKeepAlives = o.NoConnectionReuse
	if len(o.Hosts) > 0 {
		// hosts: {"name": "ip" or "ip:port"}, like /etc/hosts for the run.
		dial := tr.DialContext
		hosts := o.Hosts
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil {
				if to, ok := hosts[host]; ok {
					if _, _, err := net.SplitHostPort(to); err == nil {
						addr = to
					} else {
						addr = net.JoinHostPort(to, port)
					}
				}
			}
			return dial(ctx, network, addr)
		}
	}
	return nil
}

// The top-level options llmbench reads, and k6's that it does not
// implement (docs/LOADGEN.md, "Compatibility with k6").
var (
	knownOptions = []string{
		"vus", "duration", "iterations", "stages", "scenarios", "thresholds", "setupTimeout", "teardownTimeout",
		"summaryTrendStats", "maxRedirects", "noCookiesReset", "slo", "tags", "discardResponseBodies", "userAgent",
		"throw", "batch", "batchPerHost", "hosts", "insecureSkipTLSVerify", "noConnectionReuse", "minIterationDuration",
		"executionSegment", "executionSegmentSequence", "ext", "cloud", "summaryTimeUnit",
	}
	unimplementedOptions = []string{
		"noVUConnectionReuse", "rps", "blockHostnames", "dns", "systemTags", "httpDebug",
		"tlsAuth", "tlsCipherSuites", "tlsVersion", "localIPs", "paused", "noSetup", "noTeardown", "noThresholds",
		"noSummary", "console", "linger", "discardResponseBodiesAfter", "insecureSkipTLSVerifyList", "compatibilityMode",
	}
)

// warnOptions writes one line for each option that changes nothing here:
// a k6 option llmbench does not implement, or a name it does not know (a
// typo, most often).
func warnOptions(w io.Writer, opts json.RawMessage) {
	var o map[string]json.RawMessage
	if json.Unmarshal(opts, &o) != nil {
		return
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case slices.Contains(knownOptions, k):
		case slices.Contains(unimplementedOptions, k):
			fmt.Fprintf(w, "WARN options.%s: a k6 option llmbench does not implement; it is ignored (docs/LOADGEN.md lists what is supported)\n", k)
		default:
			fmt.Fprintf(w, "WARN options.%s: not an option llmbench knows (a typo?); it is ignored\n", k)
		}
	}
}

// override applies the command line to the script's options the way k6
// does: --vus, --duration, --iterations and --stage replace the script's
// scenarios and shortcut options with one default scenario, and the
// flags named after an option (--user-agent, --throw, ...) set it.
func (c *Config) override(opts json.RawMessage) (json.RawMessage, error) {
	var o map[string]any
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if o == nil {
		o = map[string]any{}
	}
	if slo, ok := o["slo"].(map[string]any); ok {
		for k := range slo {
			if !slices.Contains(runfmt.SLOKeys, k) {
				return nil, fmt.Errorf("options.slo.%s: unknown objective (want ttft, ttst, tpot or e2e, in milliseconds)", k)
			}
		}
	}
	changed := false
	if c.VUs != 0 || c.Duration != 0 || c.Iter != 0 || len(c.Stages) > 0 {
		changed = true
		for _, k := range []string{"scenarios", "stages", "vus", "duration", "iterations"} {
			delete(o, k)
		}
		if c.VUs > 0 {
			o["vus"] = c.VUs
		}
		if c.Duration > 0 {
			o["duration"] = c.Duration.String()
		}
		if c.Iter > 0 {
			o["iterations"] = c.Iter
		}
		if len(c.Stages) > 0 {
			// -s DURATION[:TARGET]; a stage without a target keeps the one
			// before it (k6's rule), from the start VUs for the first.
			var stages []map[string]any
			last := c.VUs
			for _, st := range c.Stages {
				d, target, ok := strings.Cut(st, ":")
				n := last
				if ok {
					n, _ = strconv.Atoi(target)
				}
				stages = append(stages, map[string]any{"duration": d, "target": n})
				last = n
			}
			o["stages"] = stages
		}
	}
	f := &c.opts
	set := func(key string, v any) {
		o[key] = v
		changed = true
	}
	if f.userAgent.set {
		set("userAgent", f.userAgent.v)
	}
	if f.minIterationDuration.set {
		set("minIterationDuration", f.minIterationDuration.v)
	}
	if f.summaryTimeUnit.set {
		set("summaryTimeUnit", f.summaryTimeUnit.v)
	}
	if f.summaryTrendStats.set {
		var stats []string
		for _, st := range strings.Split(f.summaryTrendStats.v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				stats = append(stats, st)
			}
		}
		set("summaryTrendStats", stats)
	}
	for key, b := range map[string]optBool{"throw": f.throw, "insecureSkipTLSVerify": f.insecureSkipTLSVerify,
		"discardResponseBodies": f.discardResponseBodies, "noConnectionReuse": f.noConnectionReuse} {
		if b.set {
			set(key, b.v)
		}
	}
	for key, n := range map[string]optInt{"maxRedirects": f.maxRedirects, "batch": f.batch, "batchPerHost": f.batchPerHost} {
		if n.set {
			set(key, n.v)
		}
	}
	if c.NoThresholds {
		delete(o, "thresholds")
		changed = true
	}
	if !changed {
		return opts, nil
	}
	return json.Marshal(o)
}
