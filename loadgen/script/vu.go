package script

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// Iteration says which iteration a VU runs and for which scenario.
type Iteration struct {
	Scenario string
	Exec     string // the exported function; "" is "default"
	Iter     int64  // __ITER
	// ScenarioIter is the iteration's number in its scenario across this
	// process's VUs (k6/execution's scenario.iterationInTest, per segment).
	ScenarioIter int64
	Scheduled    time.Time
	// Executor and ScenarioStart are the scenario's executor and when it
	// started (k6/execution's scenario.executor and startTime).
	Executor      string
	ScenarioStart time.Time
	Tags          map[string]string // the scenario's tags
	// Progress is k6/execution's scenario.progress, 0 to 1; nil reads 0.
	Progress func() float64
	Env      map[string]string // the scenario's env, layered over the run's __ENV
}

// VU is one virtual user: a goja runtime that ran the script's init code.
// It is not safe for concurrent use: one iteration at a time.
type VU struct {
	env     *Env
	rt      *goja.Runtime
	ID      int // __VU; 0 for the init, setup and teardown runtimes
	exports *goja.Object
	mods    map[string]goja.Value
	loop    *loop
	envObj  *goja.Object

	// respCallback is k6/http's response callback for this VU
	// (http.setResponseCallback); nil: none.
	respCallback *expectedStatuses
	// jar is the VU's cookie jar, emptied at each iteration's start.
	jar *cookiejar.Jar

	// vuTags and metadata are exec.vu.metrics.tags and .metadata: kept
	// across iterations; the tags go on the VU's samples.
	vuTags, metadata map[string]string
	optionsValue     goja.Value // exec.test.options, once parsed

	// iters counts this VU's iterations across scenarios
	// (k6/execution's vu.iterationInInstance is iters−1 during one).
	iters int64

	// Per call state.
	ctx       context.Context
	init      bool
	groups    []string
	it        Iteration
	dataJSON  string     // the setup data this VU parsed
	dataValue goja.Value // its parsed value, kept across iterations as k6 does
}

// NewVU builds a runtime and runs the script's init code in it (imports,
// top-level statements, open()). Errors are *ScriptError where the script
// is at fault.
func NewVU(ctx context.Context, env *Env, id int) (*VU, error) {
	rt := goja.New()
	rt.SetFieldNameMapper(goja.TagFieldNameMapper("js", true))
	vu := &VU{env: env, rt: rt, ID: id, mods: map[string]goja.Value{}, ctx: ctx, init: true, respCallback: defaultExpected, jar: newJar(),
		vuTags: map[string]string{}, metadata: map[string]string{}}
	vu.loop = newLoop(rt)
	if err := vu.globals(); err != nil {
		return nil, err
	}
	fn, err := rt.RunProgram(env.Program.prg)
	if err != nil {
		return nil, vu.scriptErr(err)
	}
	call, ok := goja.AssertFunction(fn)
	if !ok {
		return nil, errors.New("script wrapper is not a function")
	}
	module := rt.NewObject()
	exports := rt.NewObject()
	_ = module.Set("exports", exports)
	stop := vu.interruptOn(ctx)
	err = vu.loop.run(ctx, func() error {
		_, err := call(goja.Undefined(), module, exports, rt.ToValue(vu.require))
		return err
	})
	if err == nil {
		err = vu.resolveExports(module.Get("exports").ToObject(rt))
	}
	stop()
	if err != nil {
		return nil, vu.callErr(ctx, err)
	}
	vu.init = false
	return vu, nil
}

// resolveExports reads every export once, in the init context: esbuild's
// CommonJS exports are getters, which must not run later outside a call.
func (vu *VU) resolveExports(obj *goja.Object) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	vu.exports = vu.rt.NewObject()
	for _, k := range obj.Keys() {
		if err := vu.exports.Set(k, obj.Get(k)); err != nil {
			return err
		}
	}
	return nil
}

// interruptOn interrupts the runtime when ctx ends. The returned stop must
// be called once the JavaScript has returned: it waits for an interrupt in
// progress and clears it, so that it cannot reach a later call.
func (vu *VU) interruptOn(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		vu.rt.Interrupt(ErrInterrupted)
		close(done)
	})
	return func() {
		if !cancel() {
			<-done
		}
		vu.rt.ClearInterrupt()
	}
}

func (vu *VU) globals() error {
	rt := vu.rt
	vu.envObj = rt.NewObject()
	for k, v := range vu.env.Vars {
		_ = vu.envObj.Set(k, v)
	}
	for name, v := range map[string]any{
		"__ENV":  vu.envObj,
		"__VU":   vu.ID,
		"__ITER": 0,
		"open":   vu.open,
		"console": map[string]any{
			"log": vu.console("INFO"), "info": vu.console("INFO"), "debug": vu.console("DEBUG"),
			"warn": vu.console("WARN"), "error": vu.console("ERROR"),
		},
	} {
		if err := rt.Set(name, v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	// k6's timers are globals too
	// (https://grafana.com/docs/k6/latest/javascript-api/k6-timers/).
	for name, fn := range vu.timerFuncs() {
		if err := rt.Set(name, fn); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

func (vu *VU) console(level string) func(goja.FunctionCall) goja.Value {
	return func(c goja.FunctionCall) goja.Value {
		parts := make([]string, len(c.Arguments))
		for i, a := range c.Arguments {
			parts[i] = vu.stringify(a)
		}
		line := fmt.Sprintf("%s[VU %d] %s\n", level+strings.Repeat(" ", 5-len(level)), vu.ID, strings.Join(parts, " "))
		if w := vu.env.Console; w != nil {
			vu.env.logMu.Lock()
			io.WriteString(w, line)
			vu.env.logMu.Unlock()
		} else {
			vu.env.logf("%s", line)
		}
		return goja.Undefined()
	}
}

// stringify renders a console argument: strings as they are, objects as
// JSON, the rest with their JS String().
func (vu *VU) stringify(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, isFn := goja.AssertFunction(o); !isFn && o.ClassName() != "Error" {
			if b, err := json.Marshal(o.Export()); err == nil {
				return string(b)
			}
		}
	}
	return v.String()
}

func (vu *VU) open(name string, mode ...string) goja.Value {
	if !vu.init {
		panic(vu.rt.NewGoError(fmt.Errorf("open(%q): open() works only in the init context (the top level of the script), as in k6", name)))
	}
	b, err := vu.env.readFile(name)
	if err != nil {
		panic(vu.rt.NewGoError(err))
	}
	if len(mode) > 0 && mode[0] == "b" {
		return vu.rt.ToValue(vu.rt.NewArrayBuffer(append([]byte(nil), b...)))
	}
	return vu.rt.ToValue(string(b))
}

func (vu *VU) require(name string) goja.Value {
	if m, ok := vu.mods[name]; ok {
		return m
	}
	var m *goja.Object
	switch name {
	case "k6":
		m = vu.k6Module()
	case "k6/http":
		m = vu.httpModule()
	case "k6/metrics":
		m = vu.metricsModule()
	case "k6/data":
		m = vu.dataModule()
	case "k6/x/llm":
		m = vu.llmModule()
	case "k6/execution":
		m = vu.executionModule()
	case "k6/encoding":
		m = vu.encodingModule()
	case "k6/crypto":
		m = vu.cryptoModule()
	case "k6/timers":
		m = vu.timersModule()
	case "k6/x/summary":
		m = vu.summaryModule()
	default:
		panic(vu.rt.NewGoError(fmt.Errorf("unknown module %q: the built-in modules are k6, k6/http, k6/metrics, k6/data, k6/execution, k6/encoding, k6/crypto, k6/timers and k6/x/llm; local files are imported with a relative path ('./lib.js')", name)))
	}
	vu.mods[name] = m
	return m
}

// Options returns the script's exported options as JSON ("{}" when it
// exports none).
func (vu *VU) Options() (json.RawMessage, error) {
	o := vu.exports.Get("options")
	if o == nil || isNil(o) {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o.Export()); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// Has reports whether the script exports a function of that name.
func (vu *VU) Has(name string) bool {
	_, ok := goja.AssertFunction(vu.exports.Get(name))
	return ok
}

// Exports lists the names of the exported functions.
func (vu *VU) Exports() []string {
	var out []string
	for _, k := range vu.exports.Keys() {
		if vu.Has(k) {
			out = append(out, k)
		}
	}
	return out
}

// Iterate runs one iteration: the scenario's exec function with the setup
// data. An exception comes back as a *ScriptError, an interruption as
// ErrInterrupted.
func (vu *VU) Iterate(ctx context.Context, it Iteration, setupData string) error {
	exec := it.Exec
	if exec == "" {
		exec = "default"
	}
	fn, ok := goja.AssertFunction(vu.exports.Get(exec))
	if !ok {
		return fmt.Errorf("scenario %s: the script exports no function %q", it.Scenario, exec)
	}
	vu.it = it
	vu.iters++
	if !vu.env.NoCookiesReset {
		vu.jar = newJar() // k6 empties the VU's jar at each iteration unless noCookiesReset
	}
	vu.groups = vu.groups[:0]
	_ = vu.rt.Set("__ITER", it.Iter)
	for k, v := range it.Env {
		_ = vu.envObj.Set(k, v)
	}
	data := goja.Undefined()
	if setupData != "" {
		if setupData != vu.dataJSON || vu.dataValue == nil {
			v, err := vu.parseJSON(setupData)
			if err != nil {
				return fmt.Errorf("setup data: %w", err)
			}
			vu.dataJSON, vu.dataValue = setupData, v
		}
		data = vu.dataValue
	}
	start := time.Now()
	_, err := vu.call(ctx, fn, data)
	if minDur := vu.env.MinIterationDuration; err == nil && minDur > 0 {
		// options.minIterationDuration: the iteration lasts at least this.
		if rest := minDur - time.Since(start); rest > 0 {
			t := time.NewTimer(rest)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return ErrInterrupted
			}
		}
	}
	return err
}

// Setup runs the script's setup() and returns what it returned as JSON
// ("" when there is no setup or it returned nothing).
func (vu *VU) Setup(ctx context.Context) (string, error) {
	fn, ok := goja.AssertFunction(vu.exports.Get("setup"))
	if !ok {
		return "", nil
	}
	vu.it = Iteration{Scenario: "setup"}
	v, err := vu.call(ctx, fn)
	if err != nil {
		return "", err
	}
	if v == nil || goja.IsUndefined(v) {
		return "", nil
	}
	b, err := json.Marshal(v.Export())
	if err != nil {
		return "", fmt.Errorf("setup(): its return value is not JSON-serializable: %w", err)
	}
	return string(b), nil
}

// Teardown runs the script's teardown(data).
func (vu *VU) Teardown(ctx context.Context, setupData string) error {
	fn, ok := goja.AssertFunction(vu.exports.Get("teardown"))
	if !ok {
		return nil
	}
	vu.it = Iteration{Scenario: "teardown"}
	data := goja.Undefined()
	if setupData != "" {
		v, err := vu.parseJSON(setupData)
		if err != nil {
			return err
		}
		data = v
	}
	_, err := vu.call(ctx, fn, data)
	return err
}

// HandleSummary calls handleSummary(data) with the summary as JSON and
// returns its result: output name ("stdout", "stderr" or a file path) →
// content. ok is false when the script defines no handleSummary.
func (vu *VU) HandleSummary(ctx context.Context, summaryJSON []byte) (out map[string]string, ok bool, err error) {
	fn, has := goja.AssertFunction(vu.exports.Get("handleSummary"))
	if !has {
		return nil, false, nil
	}
	data, err := vu.parseJSON(string(summaryJSON))
	if err != nil {
		return nil, true, err
	}
	vu.it = Iteration{Scenario: "handleSummary"}
	v, err := vu.call(ctx, fn, data)
	if err != nil {
		return nil, true, err
	}
	out = map[string]string{}
	if v == nil || isNil(v) {
		return out, true, nil
	}
	obj := v.ToObject(vu.rt)
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if ab, isAB := val.Export().(goja.ArrayBuffer); isAB {
			out[k] = string(ab.Bytes())
		} else {
			out[k] = val.String()
		}
	}
	return out, true, nil
}

func (vu *VU) parseJSON(s string) (goja.Value, error) {
	parse, _ := goja.AssertFunction(vu.rt.Get("JSON").ToObject(vu.rt).Get("parse"))
	v, err := parse(goja.Undefined(), vu.rt.ToValue(s))
	if err != nil {
		return nil, vu.scriptErr(err)
	}
	return v, nil
}

// call runs fn with ctx as the call's context, then the event loop until
// the work fn started is done: cancelling ctx interrupts the JavaScript,
// and a returned promise is settled before returning.
func (vu *VU) call(ctx context.Context, fn goja.Callable, args ...goja.Value) (goja.Value, error) {
	vu.ctx = ctx
	stop := vu.interruptOn(ctx)
	var v goja.Value
	err := vu.loop.run(ctx, func() error {
		var err error
		v, err = fn(goja.Undefined(), args...)
		return err
	})
	stop()
	if err != nil {
		return nil, vu.callErr(ctx, err)
	}
	if p, ok := v.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateRejected:
			return nil, vu.rejection(p.Result())
		case goja.PromiseStateFulfilled:
			v = p.Result()
		default:
			return nil, &ScriptError{Msg: "the function returned a promise that never settled: it awaits something that nothing will resolve (no timer, request or callback is left pending)"}
		}
	}
	return v, nil
}

// callErr is the error of a call that failed: ErrInterrupted once ctx
// ended, an uncaught rejection or exception as a *ScriptError.
func (vu *VU) callErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	var ur *unhandledRejection
	if errors.As(err, &ur) {
		return vu.rejection(ur.p.Result())
	}
	return vu.scriptErr(err)
}

func (vu *VU) rejection(v goja.Value) error {
	if o, ok := v.(*goja.Object); ok {
		if st := o.Get("stack"); !isNil(st) {
			return &ScriptError{Msg: "uncaught (in promise) " + st.String()}
		}
	}
	return &ScriptError{Msg: "uncaught (in promise) " + vu.stringify(v)}
}

// scriptErr turns a goja error into a *ScriptError located at the
// script's frame that threw.
func (vu *VU) scriptErr(err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if e, ok := ie.Value().(error); ok {
			return e
		}
		return ErrInterrupted
	}
	var ex *goja.Exception
	if !errors.As(err, &ex) {
		return err
	}
	if fe, ok := ex.Value().Export().(*failError); ok {
		return fe
	}
	msg := ex.Value().String()
	if o, ok := ex.Value().(*goja.Object); ok {
		if ge, isGo := o.Export().(error); isGo {
			var fe *failError
			if errors.As(ge, &fe) {
				return fe
			}
			msg = "GoError: " + ge.Error()
		}
	}
	se := &ScriptError{Msg: msg}
	for _, f := range ex.Stack() {
		p := f.Position()
		if p.Filename == "" || p.Line == 0 {
			continue
		}
		se.File, se.Line, se.Column = p.Filename, p.Line, p.Column
		break
	}
	return se
}
