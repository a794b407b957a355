package nightly

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/llmbench/llmbench/internal/jsonerr"
)

// Suite is a nightly suite file (e.g. scenarios/nightly.json): which
// scenario scripts to run against which targets, the SLOs their numbers
// must meet, and how regressions are detected. Every scenario runs against
// every target. Nothing in this package modifies a loaded Suite, so it may
// be read concurrently.
type Suite struct {
	Name        string `json:"name"` // e.g. "nightly"; part of each run folder's name
	Description string `json:"description,omitempty"`
	// Scenarios are the scripts to run, each with its own __ENV values.
	Scenarios []Scenario `json:"scenarios"`
	// Targets are the servers to run them against, e.g. the same refserver
	// on CPU and on GPU.
	Targets []Target `json:"targets"`
	// SLOs maps a metric (see Metrics) to its limit: an upper bound for
	// latencies and the error rate, a lower bound for throughput. A
	// scenario's own SLOs replace these metric by metric.
	SLOs     map[string]float64 `json:"slos,omitempty"`
	Detector Detector           `json:"detector"`

	// Path is the suite file; Dir its folder, which relative script paths
	// are resolved against. Neither is read from the file.
	Path string `json:"-"`
	Dir  string `json:"-"`
}

// Scenario is one scenario script of a suite.
type Scenario struct {
	Name   string            `json:"name,omitempty"` // default: the script's base name without .js
	Script string            `json:"script"`         // relative to the suite file's folder
	Env    map[string]string `json:"env,omitempty"`  // __ENV values, e.g. {"HOLD": "25s"}
	// SLOs replace the suite's SLOs for this scenario, metric by metric.
	SLOs map[string]float64 `json:"slos,omitempty"`
}

// Target is a server the scenarios run against. URL and the Env values
// may name environment variables as ${VAR} or ${VAR:-default}; they are
// expanded when the suite is loaded.
type Target struct {
	Name     string            `json:"name"`               // e.g. "cpu"; part of each run folder's name
	URL      string            `json:"url"`                // __ENV.TARGET, e.g. "${TARGET:-http://127.0.0.1:8000}"
	Protocol string            `json:"protocol,omitempty"` // __ENV.PROTOCOL: generate (default), openai-completions or openai-chat
	Env      map[string]string `json:"env,omitempty"`      // more __ENV values, e.g. {"MODEL": "gpt2"}
	// Optional skips the target when its URL expands to nothing, so that
	// one suite serves hosts with and without, say, a GPU server.
	Optional bool `json:"optional,omitempty"`
}

// Protocols are the values Target.Protocol may take.
var Protocols = []string{"generate", "openai-completions", "openai-chat"}

// Entry is one scenario run against one target.
type Entry struct {
	Scenario Scenario
	Target   Target
	SLOs     map[string]float64 // the suite's SLOs with the scenario's over them
}

// Entries lists the suite's scenario × target pairs in file order
// (scenario-major), leaving out optional targets without a URL.
func (s *Suite) Entries() []Entry {
	var es []Entry
	for _, sc := range s.Scenarios {
		slos := make(map[string]float64, len(s.SLOs)+len(sc.SLOs))
		for k, v := range s.SLOs {
			slos[k] = v
		}
		for k, v := range sc.SLOs {
			slos[k] = v
		}
		for _, t := range s.Targets {
			if t.URL == "" && t.Optional {
				continue
			}
			es = append(es, Entry{Scenario: sc, Target: t, SLOs: slos})
		}
	}
	return es
}

// ScriptPath is the scenario's script path, resolved against the suite's
// folder when it is relative.
func (s *Suite) ScriptPath(sc Scenario) string {
	if filepath.IsAbs(sc.Script) {
		return sc.Script
	}
	return filepath.Join(s.Dir, sc.Script)
}

// LoadSuite reads and checks the suite file at path. Environment variables
// in the targets are expanded from the process environment. The error
// names the file and the field at fault.
func LoadSuite(path string) (*Suite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load suite: %w", err)
	}
	s, err := parseSuite(b, filepath.Dir(path), os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("suite %s: %w", path, err)
	}
	s.Path = path
	return s, nil
}

// parseSuite decodes and validates a suite, expanding ${VAR} with lookup.
func parseSuite(b []byte, dir string, lookup func(string) (string, bool)) (*Suite, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, jsonerr.Describe(b, err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value in the file")
	}
	s.Dir = dir
	for i := range s.Targets {
		t := &s.Targets[i]
		var err error
		if t.URL, err = expand(t.URL, lookup); err != nil {
			return nil, fmt.Errorf("targets[%d].url: %w", i, err)
		}
		for k, v := range t.Env {
			if t.Env[k], err = expand(v, lookup); err != nil {
				return nil, fmt.Errorf("targets[%d].env.%s: %w", i, k, err)
			}
		}
	}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		if sc.Name == "" && sc.Script != "" {
			sc.Name = strings.TrimSuffix(filepath.Base(sc.Script), filepath.Ext(sc.Script))
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s.Detector = s.Detector.withDefaults()
	return &s, nil
}

// namePattern is what suite, scenario and target names may hold: they
// become parts of folder names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.]*$`)

// Validate checks the suite's fields; the error names each one at fault.
func (s *Suite) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkName := func(field, v string) {
		if v == "" {
			bad("%s: missing", field)
		} else if !namePattern.MatchString(v) {
			bad("%s: %q: use letters, digits, '_' and '.' only (it becomes part of a folder name)", field, v)
		}
	}
	checkName("name", s.Name)
	if len(s.Scenarios) == 0 {
		bad("scenarios: none; a suite runs at least one script")
	}
	seen := map[string]int{}
	for i, sc := range s.Scenarios {
		if sc.Script == "" {
			bad("scenarios[%d].script: missing", i)
			continue
		}
		checkName(fmt.Sprintf("scenarios[%d].name", i), sc.Name)
		if j, dup := seen[sc.Name]; dup {
			bad("scenarios[%d].name: %q is scenarios[%d]'s name too", i, sc.Name, j)
		}
		seen[sc.Name] = i
		if _, err := os.Stat(s.ScriptPath(sc)); err != nil {
			bad("scenarios[%d].script: %w", i, err)
		}
		for k, v := range sc.SLOs {
			if err := checkSLO(k, v); err != nil {
				bad("scenarios[%d].slos.%s: %w", i, k, err)
			}
		}
	}
	if len(s.Targets) == 0 {
		bad("targets: none; name at least one server, e.g. {\"name\": \"cpu\", \"url\": \"${TARGET:-http://127.0.0.1:8000}\"}")
	}
	seen = map[string]int{}
	for i, t := range s.Targets {
		checkName(fmt.Sprintf("targets[%d].name", i), t.Name)
		if j, dup := seen[t.Name]; dup && t.Name != "" {
			bad("targets[%d].name: %q is targets[%d]'s name too", i, t.Name, j)
		}
		seen[t.Name] = i
		switch {
		case t.URL == "" && !t.Optional:
			bad("targets[%d].url: empty (after expanding the environment); set it, or mark the target \"optional\": true", i)
		case t.URL != "" && !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://"):
			bad("targets[%d].url: %q is not an http:// or https:// URL", i, t.URL)
		}
		if t.Protocol != "" && !slices.Contains(Protocols, t.Protocol) {
			bad("targets[%d].protocol: %q is none of %s", i, t.Protocol, strings.Join(Protocols, ", "))
		}
	}
	for k, v := range s.SLOs {
		if err := checkSLO(k, v); err != nil {
			bad("slos.%s: %w", k, err)
		}
	}
	if err := s.Detector.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkSLO(metric string, limit float64) error {
	if _, err := lookupMetric(metric); err != nil {
		return err
	}
	if limit < 0 {
		return fmt.Errorf("limit %g is negative", limit)
	}
	return nil
}

// expand replaces ${VAR} and ${VAR:-default} in s. A variable that is not
// set expands to nothing, or to its default.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var err error
	out := os.Expand(s, func(name string) string {
		key, def, hasDef := strings.Cut(name, ":-")
		if key == "" || strings.ContainsAny(key, " {}$") {
			if err == nil {
				err = fmt.Errorf("%q: bad variable reference ${%s}", s, name)
			}
			return ""
		}
		if v, ok := lookup(key); ok && v != "" {
			return v
		}
		if hasDef {
			return def
		}
		return ""
	})
	return out, err
}
