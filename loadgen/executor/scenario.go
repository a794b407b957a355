package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Executor names, as k6 spells them in a scenario's "executor" field.
const (
	SharedIterations    = "shared-iterations"     // VUs share a fixed number of iterations
	PerVUIterations     = "per-vu-iterations"     // each VU runs a fixed number of iterations
	ConstantVUs         = "constant-vus"          // a fixed number of VUs loop for a duration
	RampingVUs          = "ramping-vus"           // the number of looping VUs follows stages
	ConstantArrivalRate = "constant-arrival-rate" // iterations start at a fixed rate
	RampingArrivalRate  = "ramping-arrival-rate"  // iterations start at a rate that follows stages
)

// Arrival processes of the arrival-rate executors (Scenario.Arrival).
const (
	ArrivalUniform = "uniform" // evenly spaced starts, as k6 does (the default)
	ArrivalPoisson = "poisson" // exponential gaps with the same mean rate (an llmbench extension)
)

// DefaultScenario is the name of the scenario made from the top-level
// shortcut options (vus, duration, iterations, stages).
const DefaultScenario = "default"

// Stage is one stage of ramping-vus (Target VUs) or ramping-arrival-rate
// (Target iterations per TimeUnit): the value moves linearly from the
// previous stage's target (or StartVUs/StartRate) to Target over Duration.
type Stage struct {
	Duration time.Duration // e.g. 30s; 0 jumps to Target at once
	Target   int64         // e.g. 20
}

// Scenario is one k6 scenario: an executor and its settings. ParseOptions
// fills in k6's defaults; a Scenario built by hand has no defaults and must
// set every field its executor uses (Validate says which are missing).
// The per-executor fields that an executor does not use are ignored.
type Scenario struct {
	Name     string // e.g. "chat"; must match [0-9A-Za-z_-]+
	Executor string // one of the executor constants, e.g. ConstantVUs

	StartTime    time.Duration     // offset from the start of the test (default 0)
	GracefulStop time.Duration     // how long iterations may run past the end before they are cancelled (default 30s)
	Exec         string            // the script function to run (default "default")
	Env          map[string]string // extra __ENV values for this scenario
	Tags         map[string]string // extra metric tags for this scenario

	VUs         int64         // shared-iterations, per-vu-iterations, constant-vus (default 1)
	Iterations  int64         // shared-iterations (total), per-vu-iterations (each VU) (default 1)
	MaxDuration time.Duration // shared-iterations, per-vu-iterations (default 10m)
	Duration    time.Duration // constant-vus, constant-arrival-rate (required)

	StartVUs         int64         // ramping-vus (default 1)
	Stages           []Stage       // ramping-vus, ramping-arrival-rate (required)
	GracefulRampDown time.Duration // ramping-vus: how long a ramped-down VU may finish its iteration (default 30s)

	Rate            int64         // constant-arrival-rate: iterations per TimeUnit (required)
	StartRate       int64         // ramping-arrival-rate (default 0)
	TimeUnit        time.Duration // arrival-rate executors (default 1s)
	PreAllocatedVUs int64         // arrival-rate executors (required)
	MaxVUs          int64         // arrival-rate executors (default PreAllocatedVUs)

	// Arrival is the arrival process of the arrival-rate executors:
	// ArrivalUniform ("" means uniform) or ArrivalPoisson. Poisson arrivals
	// are an llmbench extension, not k6: the gaps are exponential, the mean
	// rate is the configured one (following the stages for
	// ramping-arrival-rate, by time-rescaling a unit-rate Poisson process),
	// and the arrival times are a deterministic function of Seed.
	Arrival string
	Seed    int64 // seed of the Poisson arrivals (default 0)
}

// Length is how long the scenario starts new iterations, from its
// StartTime: Duration, MaxDuration or the sum of its stages. Iterations may
// run GracefulStop longer.
func (s *Scenario) Length() time.Duration {
	switch s.Executor {
	case SharedIterations, PerVUIterations:
		return s.MaxDuration
	case ConstantVUs, ConstantArrivalRate:
		return s.Duration
	}
	var d time.Duration
	for _, st := range s.Stages {
		d += st.Duration
	}
	return d
}

var scenarioName = regexp.MustCompile(`^[0-9A-Za-z_-]+$`)

// Validate checks the scenario's settings for its executor. Its errors
// name the scenario and the field.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("scenario %q: %s: %s", s.Name, field, fmt.Sprintf(format, args...)))
	}
	positive := func(field string, v int64) {
		if v <= 0 {
			bad(field, "must be greater than 0, got %d", v)
		}
	}
	nonNegative := func(field string, v int64) {
		if v < 0 {
			bad(field, "must not be negative, got %d", v)
		}
	}
	nonNegativeDur := func(field string, d time.Duration) {
		if d < 0 {
			bad(field, "must not be negative, got %s", d)
		}
	}
	positiveDur := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "must be greater than 0, got %s", d)
		}
	}
	stages := func() {
		if len(s.Stages) == 0 {
			bad("stages", "at least one stage is required")
		}
		var total time.Duration
		for i, st := range s.Stages {
			nonNegativeDur(fmt.Sprintf("stages[%d].duration", i), st.Duration)
			nonNegative(fmt.Sprintf("stages[%d].target", i), st.Target)
			total += st.Duration
		}
		if len(s.Stages) > 0 && total <= 0 {
			bad("stages", "total duration must be greater than 0")
		}
	}

	if !scenarioName.MatchString(s.Name) {
		bad("name", "must match [0-9A-Za-z_-]+")
	}
	nonNegativeDur("startTime", s.StartTime)
	nonNegativeDur("gracefulStop", s.GracefulStop)
	switch s.Executor {
	case SharedIterations, PerVUIterations:
		positive("vus", s.VUs)
		positive("iterations", s.Iterations)
		positiveDur("maxDuration", s.MaxDuration)
		if s.Executor == SharedIterations && s.VUs > 0 && s.Iterations < s.VUs {
			bad("iterations", "%d must not be less than vus (%d)", s.Iterations, s.VUs)
		}
	case ConstantVUs:
		positive("vus", s.VUs)
		positiveDur("duration", s.Duration)
	case RampingVUs:
		nonNegative("startVUs", s.StartVUs)
		nonNegativeDur("gracefulRampDown", s.GracefulRampDown)
		stages()
		if peak := s.peakStage(s.StartVUs); len(s.Stages) > 0 && peak == 0 {
			bad("stages", "startVUs or one of the targets must be greater than 0")
		}
	case ConstantArrivalRate, RampingArrivalRate:
		if s.Executor == ConstantArrivalRate {
			positive("rate", s.Rate)
			positiveDur("duration", s.Duration)
		} else {
			nonNegative("startRate", s.StartRate)
			stages()
			if peak := s.peakStage(s.StartRate); len(s.Stages) > 0 && peak == 0 {
				bad("stages", "startRate or one of the targets must be greater than 0")
			}
		}
		positiveDur("timeUnit", s.TimeUnit)
		nonNegative("preAllocatedVUs", s.PreAllocatedVUs)
		positive("maxVUs", s.MaxVUs)
		if s.MaxVUs < s.PreAllocatedVUs {
			bad("maxVUs", "%d must not be less than preAllocatedVUs (%d)", s.MaxVUs, s.PreAllocatedVUs)
		}
		switch s.Arrival {
		case "", ArrivalUniform, ArrivalPoisson:
		default:
			bad("arrival", "unknown arrival process %q (want %q or %q)", s.Arrival, ArrivalUniform, ArrivalPoisson)
		}
	case "":
		bad("executor", "required")
	case "externally-controlled":
		bad("executor", "externally-controlled is not supported")
	default:
		bad("executor", "unknown executor %q (want one of %s)", s.Executor, strings.Join(executors, ", "))
	}
	if s.Executor != ConstantArrivalRate && s.Executor != RampingArrivalRate && s.Arrival != "" && s.Arrival != ArrivalUniform {
		bad("arrival", "only the arrival-rate executors take an arrival process")
	}
	return errors.Join(errs...)
}

var executors = []string{SharedIterations, PerVUIterations, ConstantVUs, RampingVUs, ConstantArrivalRate, RampingArrivalRate}

// peakStage is the largest of start and the stage targets.
func (s *Scenario) peakStage(start int64) int64 {
	peak := start
	for _, st := range s.Stages {
		peak = max(peak, st.Target)
	}
	return peak
}

// fields lists the JSON fields each executor takes, besides the common
// ones. "options" (k6's browser options) is accepted and ignored.
var fields = map[string][]string{
	SharedIterations:    {"vus", "iterations", "maxDuration"},
	PerVUIterations:     {"vus", "iterations", "maxDuration"},
	ConstantVUs:         {"vus", "duration"},
	RampingVUs:          {"startVUs", "stages", "gracefulRampDown"},
	ConstantArrivalRate: {"rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs", "arrival", "seed"},
	RampingArrivalRate:  {"startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs", "arrival", "seed"},
}

var commonFields = []string{"executor", "startTime", "gracefulStop", "exec", "env", "tags", "options"}

// shortcuts are the top-level options that make the default scenario.
var shortcuts = []string{"vus", "duration", "iterations", "stages"}

// ParseOptions reads the scenarios from a script's exported options, given
// as JSON. It reads "scenarios" with k6's field names and defaults
// (startTime 0, gracefulStop 30s, exec "default", vus 1, iterations 1,
// maxDuration 10m, startVUs 1, gracefulRampDown 30s, timeUnit 1s,
// startRate 0, maxVUs = preAllocatedVUs), or else k6's top-level shortcuts,
// which make one scenario named "default":
//
//	iterations (with vus, and duration as maxDuration) → shared-iterations
//	duration (with vus)                                → constant-vus
//	stages (with vus as startVUs)                      → ramping-vus
//	none of them (vus alone, or nothing)               → per-vu-iterations, 1 iteration per VU
//
// Shortcuts together with "scenarios" are an error, as are duration or
// iterations together with stages. Durations are k6 duration strings
// ("1m30s", "500ms", "2h", "1d") or numbers of milliseconds. Other options
// (thresholds and so on) are ignored. The scenarios come back sorted by
// name; every one has passed Validate.
func ParseOptions(raw []byte) ([]Scenario, error) {
	var top map[string]json.RawMessage
	if err := decodeObject(raw, &top); err != nil {
		return nil, fmt.Errorf("parse options: %w", err)
	}
	var used []string
	for _, k := range shortcuts {
		if present(top[k]) {
			used = append(used, k)
		}
	}
	var out []Scenario
	if present(top["scenarios"]) {
		if len(used) > 0 {
			return nil, fmt.Errorf("parse options: the shortcut options (%s) cannot be used together with scenarios", strings.Join(used, ", "))
		}
		var m map[string]json.RawMessage
		if err := decodeObject(top["scenarios"], &m); err != nil {
			return nil, fmt.Errorf("parse options: scenarios: %w", err)
		}
		if len(m) == 0 {
			return nil, errors.New("parse options: scenarios: at least one scenario is required")
		}
		var errs []error
		for name, body := range m {
			s, err := parseScenario(name, body)
			if err == nil {
				err = s.Validate()
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, s)
		}
		if len(errs) > 0 {
			return nil, sortedJoin(errs)
		}
	} else {
		s, err := shortcutScenario(top)
		if err != nil {
			return nil, err
		}
		if err := s.Validate(); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Scenario) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// sortedJoin joins errors in message order, so that a map's iteration
// order does not show.
func sortedJoin(errs []error) error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func shortcutScenario(top map[string]json.RawMessage) (Scenario, error) {
	s := Scenario{Name: DefaultScenario, GracefulStop: 30 * time.Second, Exec: "default", VUs: 1, Iterations: 1, MaxDuration: 10 * time.Minute}
	p := fieldParser{where: "parse options"}
	p.int(top, "vus", &s.VUs)
	hasIter := p.int(top, "iterations", &s.Iterations)
	hasDur := p.duration(top, "duration", &s.Duration)
	hasStages := p.stages(top, "stages", &s.Stages)
	if p.err != nil {
		return Scenario{}, p.err
	}
	switch {
	case hasStages && (hasIter || hasDur):
		return Scenario{}, errors.New("parse options: stages cannot be used together with duration or iterations")
	case hasIter:
		s.Executor = SharedIterations
		if hasDur {
			s.MaxDuration, s.Duration = s.Duration, 0
		}
	case hasDur:
		s.Executor = ConstantVUs
	case hasStages:
		s.Executor = RampingVUs
		s.StartVUs, s.VUs = s.VUs, 0
		s.GracefulRampDown = 30 * time.Second
	default:
		s.Executor = PerVUIterations
	}
	return s, nil
}

func parseScenario(name string, body json.RawMessage) (Scenario, error) {
	var m map[string]json.RawMessage
	if err := decodeObject(body, &m); err != nil {
		return Scenario{}, fmt.Errorf("scenario %q: %w", name, err)
	}
	s := Scenario{
		Name: name, GracefulStop: 30 * time.Second, Exec: "default",
		VUs: 1, Iterations: 1, MaxDuration: 10 * time.Minute,
		StartVUs: 1, GracefulRampDown: 30 * time.Second, TimeUnit: time.Second,
	}
	p := fieldParser{where: fmt.Sprintf("scenario %q", name)}
	p.string(m, "executor", &s.Executor)
	if p.err != nil {
		return Scenario{}, p.err
	}
	allowed, ok := fields[s.Executor]
	if !ok {
		// Let Validate name the problem with the executor.
		return s, nil
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(commonFields, k) && !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Scenario{}, fmt.Errorf("scenario %q: %s: unknown field for executor %s", name, strings.Join(unknown, ", "), s.Executor)
	}
	p.duration(m, "startTime", &s.StartTime)
	p.duration(m, "gracefulStop", &s.GracefulStop)
	p.string(m, "exec", &s.Exec)
	p.stringMap(m, "env", &s.Env)
	p.stringMap(m, "tags", &s.Tags)
	p.int(m, "vus", &s.VUs)
	p.int(m, "iterations", &s.Iterations)
	p.duration(m, "maxDuration", &s.MaxDuration)
	p.int(m, "startVUs", &s.StartVUs)
	p.duration(m, "gracefulRampDown", &s.GracefulRampDown)
	p.int(m, "startRate", &s.StartRate)
	p.duration(m, "timeUnit", &s.TimeUnit)
	p.string(m, "arrival", &s.Arrival)
	p.int(m, "seed", &s.Seed)
	required := func(has bool, field string) {
		if !has && p.err == nil {
			p.err = fmt.Errorf("scenario %q: %s: required for %s", name, field, s.Executor)
		}
	}
	switch s.Executor {
	case ConstantVUs:
		required(p.duration(m, "duration", &s.Duration), "duration")
	case RampingVUs:
		required(p.stages(m, "stages", &s.Stages), "stages")
	case ConstantArrivalRate, RampingArrivalRate:
		if s.Executor == ConstantArrivalRate {
			required(p.int(m, "rate", &s.Rate), "rate")
			required(p.duration(m, "duration", &s.Duration), "duration")
		} else {
			required(p.stages(m, "stages", &s.Stages), "stages")
		}
		required(p.int(m, "preAllocatedVUs", &s.PreAllocatedVUs), "preAllocatedVUs")
		if !p.int(m, "maxVUs", &s.MaxVUs) {
			s.MaxVUs = s.PreAllocatedVUs
		}
		if present(m["seed"]) && s.Arrival != ArrivalPoisson && p.err == nil {
			p.err = fmt.Errorf("scenario %q: seed: only used with arrival %q", name, ArrivalPoisson)
		}
	}
	if p.err != nil {
		return Scenario{}, p.err
	}
	return s, nil
}

// fieldParser decodes optional fields of a JSON object, keeping the first
// error. Each method reports whether the field was present.
type fieldParser struct {
	where string
	err   error
}

func (p *fieldParser) fail(field string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s: %w", p.where, field, err)
	}
}

func present(v json.RawMessage) bool {
	return len(v) > 0 && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

func (p *fieldParser) string(m map[string]json.RawMessage, field string, dst *string) bool {
	if !present(m[field]) {
		return false
	}
	if err := json.Unmarshal(m[field], dst); err != nil {
		p.fail(field, errors.New("must be a string"))
	}
	return true
}

func (p *fieldParser) stringMap(m map[string]json.RawMessage, field string, dst *map[string]string) bool {
	if !present(m[field]) {
		return false
	}
	if err := json.Unmarshal(m[field], dst); err != nil {
		p.fail(field, errors.New("must be an object of strings"))
	}
	return true
}

func (p *fieldParser) int(m map[string]json.RawMessage, field string, dst *int64) bool {
	if !present(m[field]) {
		return false
	}
	v, err := parseInt(m[field])
	if err != nil {
		p.fail(field, err)
	}
	*dst = v
	return true
}

func (p *fieldParser) duration(m map[string]json.RawMessage, field string, dst *time.Duration) bool {
	if !present(m[field]) {
		return false
	}
	d, err := ParseDurationJSON(m[field])
	if err != nil {
		p.fail(field, err)
	}
	*dst = d
	return true
}

func (p *fieldParser) stages(m map[string]json.RawMessage, field string, dst *[]Stage) bool {
	if !present(m[field]) {
		return false
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(m[field], &raw); err != nil {
		p.fail(field, errors.New("must be an array of {duration, target} objects"))
		return true
	}
	out := make([]Stage, len(raw))
	for i, st := range raw {
		name := fmt.Sprintf("%s[%d]", field, i)
		for k := range st {
			if k != "duration" && k != "target" {
				p.fail(name, fmt.Errorf("unknown field %q", k))
			}
		}
		if !p.duration(st, "duration", &out[i].Duration) {
			p.fail(name+".duration", errors.New("required"))
		}
		if !p.int(st, "target", &out[i].Target) {
			p.fail(name+".target", errors.New("required"))
		}
	}
	*dst = out
	return true
}

// decodeObject decodes a JSON object, with numbers kept exact.
func decodeObject(raw []byte, dst *map[string]json.RawMessage) error {
	if !present(raw) {
		return errors.New("want a JSON object, got nothing")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("want a JSON object: %w", err)
	}
	return nil
}

// parseInt reads a JSON integer (2, 2.0 and "2" are fine; 2.5 is not).
func parseInt(raw json.RawMessage) (int64, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, errors.New("must be an integer")
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, errors.New("must be an integer")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("must be an integer, got %s", s)
	}
	return int64(f), nil
}

// ParseDurationJSON reads a k6 duration option's JSON value: a string
// (ParseDuration) or a number of milliseconds.
func ParseDurationJSON(raw json.RawMessage) (time.Duration, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, errors.New("must be a duration")
	}
	switch x := v.(type) {
	case json.Number:
		return ParseDuration(x.String())
	case string:
		return ParseDuration(x)
	}
	return 0, errors.New("must be a duration string or a number of milliseconds")
}

// ParseDuration parses a k6 duration: a Go duration string extended with
// days ("1d12h", "1m30s", "500ms"), or a plain number, which is
// milliseconds ("1500" is 1.5s), as k6 reads it.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Millisecond)
		if math.IsNaN(ns) || math.Abs(ns) >= math.MaxInt64 {
			return 0, fmt.Errorf("bad duration %q: out of range", s)
		}
		return time.Duration(math.Round(ns)), nil
	}
	rest, neg := s, false
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		rest, neg = r, true
	}
	var days time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil || n > 100_000 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, rest[i+1:]
	}
	var d time.Duration
	if rest != "" || days == 0 {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
	}
	d += days
	if neg {
		d = -d
	}
	return d, nil
}
