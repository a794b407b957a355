package script

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// Built-in metrics the k6 module records.
const (
	metricChecks        = "checks"
	metricGroupDuration = "group_duration"
)

// Metric declares a metric: its name, kind (Counter, Gauge, Rate, Trend)
// and whether its values are times.
type Metric struct {
	Name, Kind string
	IsTime     bool
}

// Builtins are the metrics that exist in every run, whether or not the
// script uses what records them, as k6 registers its built-in metrics up
// front (https://grafana.com/docs/k6/latest/using-k6/metrics/reference/):
// a threshold on group_duration or http_req_duration is valid in a script
// that never calls group() or k6/http. They are k6's standard, HTTP and
// group metrics, then llmbench's llm_* metrics.
func Builtins() []Metric {
	out := []Metric{
		{"iterations", Counter, false}, {"iteration_duration", Trend, true}, {"iteration_errors", Counter, false},
		{"dropped_iterations", Counter, false}, {"vus", Gauge, false}, {"vus_max", Gauge, false},
		{metricChecks, Rate, false}, {metricDataSent, Counter, false}, {metricDataReceived, Counter, false},
		{metricGroupDuration, Trend, true}, {metricHTTPReqs, Counter, false}, {metricHTTPFailed, Rate, false},
	}
	for _, n := range []string{metricHTTPDuration, metricHTTPBlocked, metricHTTPConnect, metricHTTPTLS, metricHTTPSending, metricHTTPWaiting, metricHTTPReceiving} {
		out = append(out, Metric{n, Trend, true})
	}
	for _, n := range []string{MetricRequests, MetricErrors, MetricTokenMismatch} {
		out = append(out, Metric{n, Counter, false})
	}
	for _, n := range []string{MetricTTFT, MetricTTST, MetricTPOT, MetricITL, MetricE2E, MetricClientQueue} {
		out = append(out, Metric{n, Trend, true})
	}
	for _, n := range []string{MetricInputTokens, MetricOutputTokens} {
		out = append(out, Metric{n, Trend, false})
	}
	return out
}

// k6Module is `import { check, sleep, group, fail } from 'k6'`.
func (vu *VU) k6Module() *goja.Object {
	m := vu.rt.NewObject()
	_ = m.Set("check", vu.check)
	_ = m.Set("sleep", vu.sleep)
	_ = m.Set("group", vu.group)
	// randomSeed(n) makes this VU's Math.random reproducible
	// (https://grafana.com/docs/k6/latest/javascript-api/k6/randomseed/).
	_ = m.Set("randomSeed", func(seed int64) {
		src := rand.New(rand.NewPCG(uint64(seed), 0x6c6c6d62656e6368))
		vu.rt.SetRandSource(src.Float64)
	})
	_ = m.Set("fail", func(msg string) {
		panic(vu.rt.ToValue(&failError{msg: msg}))
	})
	return m
}

// tags are the tags every sample of this VU carries now: the run's, the
// scenario's, the VU's own (exec.vu.metrics.tags), the call's, then the
// scenario name and the current group.
func (vu *VU) tags(extra map[string]string) map[string]string {
	t := mergeTags(vu.env.Tags, vu.it.Tags, vu.vuTags, extra)
	if vu.it.Scenario != "" {
		t["scenario"] = vu.it.Scenario
	}
	if g := vu.groupPath(); g != "" {
		t["group"] = g
	}
	return t
}

// groupPath is k6's "::outer::inner" path of the current group ("" at the
// root).
func (vu *VU) groupPath() string {
	if len(vu.groups) == 0 {
		return ""
	}
	return "::" + strings.Join(vu.groups, "::")
}

// check(val, sets, tags): each predicate is called with val; a thrown
// exception fails that check and is rethrown, as in k6.
func (vu *VU) check(c goja.FunctionCall) goja.Value {
	rt := vu.rt
	val := c.Argument(0)
	sets := c.Argument(1)
	if isNil(sets) {
		panic(rt.NewTypeError("check(): the second argument must be an object of name: predicate"))
	}
	var extra map[string]string
	if t := c.Argument(2); !isNil(t) {
		extra = exportTags(t)
	}
	if err := vu.env.Recorder.Declare(metricChecks, Rate, false); err != nil {
		panic(rt.NewGoError(err))
	}
	all := true
	obj := sets.ToObject(rt)
	for _, name := range obj.Keys() {
		pred := obj.Get(name)
		ok := false
		if fn, isFn := goja.AssertFunction(pred); isFn {
			res, err := fn(goja.Undefined(), val)
			if err != nil {
				vu.recordCheck(name, false, extra)
				panic(err)
			}
			ok = res.ToBoolean()
		} else {
			ok = pred.ToBoolean()
		}
		vu.recordCheck(name, ok, extra)
		all = all && ok
	}
	return rt.ToValue(all)
}

func (vu *VU) recordCheck(name string, ok bool, extra map[string]string) {
	v := 0.0
	if ok {
		v = 1
	}
	t := vu.tags(extra)
	t["check"] = name
	vu.env.Recorder.Add(metricChecks, time.Now(), v, t)
	vu.env.Recorder.Check(vu.groupPath(), name, ok)
}

// sleep(seconds) waits, returning early when the iteration is stopped.
func (vu *VU) sleep(secs float64) {
	if vu.init {
		panic(vu.rt.NewGoError(errInit("sleep()")))
	}
	if secs <= 0 || math.IsNaN(secs) {
		return
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-vu.ctx.Done():
		vu.rt.Interrupt(ErrInterrupted)
	}
}

// group(name, fn) runs fn inside a named group and records its duration.
func (vu *VU) group(name string, fn goja.Callable) goja.Value {
	if strings.Contains(name, "::") {
		panic(vu.rt.NewTypeError("group(): a group name must not contain '::'"))
	}
	if err := vu.env.Recorder.Declare(metricGroupDuration, Trend, true); err != nil {
		panic(vu.rt.NewGoError(err))
	}
	vu.groups = append(vu.groups, name)
	start := time.Now()
	defer func() {
		vu.env.Recorder.Add(metricGroupDuration, time.Now(), float64(time.Since(start))/float64(time.Millisecond), vu.tags(nil))
		vu.groups = vu.groups[:len(vu.groups)-1]
	}()
	v, err := fn(goja.Undefined())
	if err != nil {
		panic(err)
	}
	return v
}

// executionModule is a small part of k6/execution: the VU, the scenario
// and test.abort().
func (vu *VU) executionModule() *goja.Object {
	rt := vu.rt
	m := rt.NewObject()
	dyn := func(get func() any) *goja.Object {
		return rt.NewDynamicObject(&lazyObject{rt: rt, get: get})
	}
	// https://grafana.com/docs/k6/latest/javascript-api/k6-execution/
	tags := rt.NewDynamicObject(&tagStore{vu: vu, m: vu.vuTags, what: "exec.vu.metrics.tags", scenario: true})
	metadata := rt.NewDynamicObject(&tagStore{vu: vu, m: vu.metadata, what: "exec.vu.metrics.metadata"})
	metrics := rt.NewObject()
	_ = metrics.Set("tags", tags)
	_ = metrics.Set("metadata", metadata)
	_ = m.Set("vu", dyn(func() any {
		return map[string]any{
			"idInInstance": vu.ID, "idInTest": vu.ID,
			"iterationInInstance": max(vu.iters-1, 0), "iterationInScenario": vu.it.Iter,
			"metrics": metrics, "tags": tags, // tags: k6's older name for metrics.tags
		}
	}))
	_ = m.Set("scenario", dyn(func() any {
		sc := map[string]any{
			"name": vu.it.Scenario, "executor": vu.it.Executor,
			"iterationInInstance": vu.it.ScenarioIter, "iterationInTest": vu.it.ScenarioIter,
			"progress": 0.0,
		}
		if !vu.it.ScenarioStart.IsZero() {
			sc["startTime"] = vu.it.ScenarioStart.UnixMilli()
		}
		if vu.it.Progress != nil {
			sc["progress"] = vu.it.Progress()
		}
		return sc
	}))
	_ = m.Set("instance", dyn(func() any {
		var in Instance
		if vu.env.Instance != nil {
			in = vu.env.Instance()
		}
		return map[string]any{
			"iterationsCompleted": in.IterationsCompleted, "iterationsInterrupted": in.IterationsInterrupted,
			"vusActive": in.VUsActive, "vusInitialized": in.VUsInitialized,
			"currentTestRunDuration": float64(in.Duration) / float64(time.Millisecond),
		}
	}))
	test := rt.NewObject()
	_ = test.Set("abort", func(reason string) {
		if vu.env.Abort != nil {
			vu.env.Abort(reason)
		}
		if reason == "" {
			reason = "test aborted"
		}
		panic(rt.NewGoError(&failError{msg: "test.abort(): " + reason}))
	})
	// test.fail marks the test as failed (exit 110) and lets it go on.
	_ = test.Set("fail", func(reason string) {
		if vu.env.Fail != nil {
			vu.env.Fail(reason)
		}
	})
	// test.options: the options as the run uses them, the scenarios
	// filled in and the shortcuts (vus, duration, stages) turned into
	// one; read-only.
	if err := test.DefineAccessorProperty("options", rt.ToValue(vu.testOptions), nil, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
		panic(rt.NewGoError(err))
	}
	_ = m.Set("test", test)
	return m
}

// testOptions is exec.test.options: Env.Options parsed once per VU and
// frozen.
func (vu *VU) testOptions() goja.Value {
	if vu.optionsValue != nil {
		return vu.optionsValue
	}
	if len(vu.env.Options) == 0 {
		if vu.init {
			panic(vu.rt.NewGoError(errInit("exec.test.options")))
		}
		return goja.Null()
	}
	v, err := vu.parseJSON(string(vu.env.Options))
	if err != nil {
		panic(vu.rt.NewGoError(fmt.Errorf("exec.test.options: %w", err)))
	}
	deepFreeze(vu.rt, v)
	vu.optionsValue = v
	return v
}

func deepFreeze(rt *goja.Runtime, v goja.Value) {
	o, ok := v.(*goja.Object)
	if !ok {
		return
	}
	for _, k := range o.Keys() {
		deepFreeze(rt, o.Get(k))
	}
	freeze, _ := goja.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze"))
	_, _ = freeze(goja.Undefined(), o)
}

// tagStore is exec.vu.metrics.tags or .metadata: a VU's own key/values,
// kept across its iterations. Tags go on every sample the VU records from
// then on (https://grafana.com/docs/k6/latest/javascript-api/k6-execution/#vu);
// values must be strings, numbers or booleans, as in k6, where another
// type is a warning and is not set.
type tagStore struct {
	vu   *VU
	m    map[string]string
	what string
	// scenario: the scenario's name reads as the "scenario" tag.
	scenario bool
}

func (t *tagStore) Get(key string) goja.Value {
	if v, ok := t.m[key]; ok {
		return t.vu.rt.ToValue(v)
	}
	if t.scenario && key == "scenario" && t.vu.it.Scenario != "" {
		return t.vu.rt.ToValue(t.vu.it.Scenario)
	}
	return goja.Undefined()
}

func (t *tagStore) Set(key string, val goja.Value) bool {
	switch x := val.Export().(type) {
	case string:
		t.m[key] = x
	case int64, float64, bool:
		t.m[key] = val.String()
	default:
		t.vu.env.logf("WARN [VU %d] %s[%q]: %s is not a string, number or boolean; not set (as in k6)\n", t.vu.ID, t.what, key, val)
	}
	return true
}

func (t *tagStore) Has(key string) bool {
	_, ok := t.m[key]
	return ok || (t.scenario && key == "scenario" && t.vu.it.Scenario != "")
}

func (t *tagStore) Delete(key string) bool {
	delete(t.m, key)
	return true
}

func (t *tagStore) Keys() []string {
	ks := make([]string, 0, len(t.m)+1)
	for k := range t.m {
		ks = append(ks, k)
	}
	if t.scenario && t.vu.it.Scenario != "" && t.m["scenario"] == "" {
		ks = append(ks, "scenario")
	}
	sort.Strings(ks)
	return ks
}

// lazyObject is a read-only object whose properties are computed on access.
type lazyObject struct {
	rt  *goja.Runtime
	get func() any
}

func (o *lazyObject) Get(key string) goja.Value {
	if m, ok := o.get().(map[string]any); ok {
		if v, has := m[key]; has {
			return o.rt.ToValue(v)
		}
	}
	return goja.Undefined()
}
func (o *lazyObject) Set(string, goja.Value) bool { return false }
func (o *lazyObject) Has(key string) bool {
	m, _ := o.get().(map[string]any)
	_, ok := m[key]
	return ok
}
func (o *lazyObject) Delete(string) bool { return false }
func (o *lazyObject) Keys() []string {
	m, _ := o.get().(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

type initError string

func (e initError) Error() string { return string(e) }

func errInit(what string) error {
	return initError(what + " is not allowed in the init context (the top level of the script): call it from a function")
}

// exportTags converts a JS object of tags to a map of strings.
func exportTags(v goja.Value) map[string]string {
	out := map[string]string{}
	if o, ok := v.Export().(map[string]any); ok {
		for k, x := range o {
			out[k] = stringOf(x)
		}
	}
	return out
}

func stringOf(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// isNil reports whether a JS value is missing: nil (an absent property),
// undefined or null.
func isNil(v goja.Value) bool { return v == nil || goja.IsUndefined(v) || goja.IsNull(v) }
