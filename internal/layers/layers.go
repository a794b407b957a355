// Package layers states llmbench's import rule, which its test enforces
// with `go list -deps`: every import points down or to the shared
// packages, and no component imports another beside it.
//
//	cmd/llmbench, cmd/refserver, cmd/llmbench-dev   wiring only
//	internal/demo                                   runs the whole stack once
//	nightly                                         runs, analyzes and reports a suite
//	web                                             serves the reports
//	reportgen                                       renders run folders (and compares two analyses)
//	refserver   loadgen   analyzer                  the three producers: never each other
//	runfmt (+index), bpe, telemetry, scenarios,
//	internal/stats, internal/connguard,
//	internal/hostguard, internal/stack,
//	internal/jsonerr                                shared: they import only each other
//
// internal/stack imports nothing of llmbench's at all, and the product
// binaries (llmbench, refserver) link neither package testing nor the
// developers' benchmarks.
package layers

// Shared are the packages (with their subpackages) every component may
// import. They import only each other.
var Shared = []string{
	"runfmt", "bpe", "telemetry", "scenarios",
	"internal/stats", "internal/connguard", "internal/hostguard", "internal/stack",
	"internal/jsonerr",
}

// Allowed says which components each component may import besides its own
// packages and the shared ones. A component is a top-level folder, or
// internal/demo; cmd/* may import anything.
var Allowed = map[string][]string{
	"refserver":     nil,
	"loadgen":       nil,
	"analyzer":      nil,
	"reportgen":     {"analyzer"}, // attribution.Compare: a comparison of two analyses
	"web":           {"reportgen"},
	"nightly":       {"loadgen", "analyzer", "reportgen"},
	"internal/demo": {"loadgen", "analyzer", "reportgen", "web"},
	"e2e":           nil, // tests only
	// stacktest gives tests the real Jaeger and Prometheus with the
	// analyzer's clients of them; only tests import it.
	"internal/stack/stacktest": {"analyzer"},
	"deploy":                   nil, // tests of the deployment files only
	"faults":                   nil, // tests only
}

// Isolated are shared packages that import nothing of llmbench's.
var Isolated = []string{"internal/stack"}

// DevOnly are packages the product binaries must not link.
var DevOnly = []string{"loadgen/selfbench", "analyzer/perf", "refserver/bench", "testing"}
