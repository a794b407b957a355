package script

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/dop251/goja"
)

// metricsModule is k6/metrics: Counter, Gauge, Rate and Trend constructors.
// A metric may be created in the init context only, as in k6.
func (vu *VU) metricsModule() *goja.Object {
	m := vu.rt.NewObject()
	for _, kind := range []string{Counter, Gauge, Rate, Trend} {
		name := map[string]string{Counter: "Counter", Gauge: "Gauge", Rate: "Rate", Trend: "Trend"}[kind]
		_ = m.Set(name, vu.metricConstructor(kind))
	}
	return m
}

func (vu *VU) metricConstructor(kind string) func(goja.ConstructorCall) *goja.Object {
	return func(c goja.ConstructorCall) *goja.Object {
		rt := vu.rt
		if !vu.init {
			panic(rt.NewGoError(fmt.Errorf("new %s(): custom metrics must be created in the init context (the top level of the script), as in k6", kind)))
		}
		name := c.Argument(0).String()
		isTime := c.Argument(1).ToBoolean()
		if err := vu.env.Recorder.Declare(name, kind, isTime && kind == Trend); err != nil {
			panic(rt.NewGoError(err))
		}
		obj := c.This
		_ = obj.Set("name", name)
		_ = obj.Set("add", func(ac goja.FunctionCall) goja.Value {
			if vu.init {
				panic(rt.NewGoError(errInit(name + ".add()")))
			}
			v := metricValue(ac.Argument(0))
			if math.IsNaN(v) {
				panic(rt.NewTypeError(fmt.Sprintf("%s.add(%s): not a number", name, ac.Argument(0).String())))
			}
			var extra map[string]string
			if t := ac.Argument(1); !isNil(t) {
				extra = exportTags(t)
			}
			vu.env.Recorder.Add(name, time.Now(), v, vu.tags(extra))
			return goja.Undefined()
		})
		return nil
	}
}

// metricValue converts what scripts add: numbers, booleans (Rate), and
// numeric strings.
func metricValue(v goja.Value) float64 {
	switch x := v.Export().(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	case nil:
		return math.NaN()
	}
	return v.ToFloat()
}

// sharedArray is k6/data's SharedArray: built once per run by the first VU
// that asks, then read by all of them. Elements are kept as JSON and parsed
// on access, so nothing is shared mutably between runtimes.
type sharedArray struct {
	ready chan struct{}
	elems []string
	err   error
}

// dataModule is k6/data: SharedArray.
func (vu *VU) dataModule() *goja.Object {
	m := vu.rt.NewObject()
	_ = m.Set("SharedArray", func(c goja.ConstructorCall) *goja.Object {
		rt := vu.rt
		if !vu.init {
			panic(rt.NewGoError(fmt.Errorf("new SharedArray(): only in the init context")))
		}
		name := c.Argument(0).String()
		fn, ok := goja.AssertFunction(c.Argument(1))
		if name == "" || !ok {
			panic(rt.NewTypeError("new SharedArray(name, fn): a non-empty name and a function that returns an array"))
		}
		sa := vu.env.sharedArray(name, func() ([]string, error) {
			v, err := fn(goja.Undefined())
			if err != nil {
				return nil, err
			}
			arr, isObj := v.(*goja.Object)
			if !isObj || arr.ClassName() != "Array" {
				return nil, fmt.Errorf("new SharedArray(%q): the function must return an array", name)
			}
			n := int(arr.Get("length").ToInteger())
			elems := make([]string, n)
			for i := range n {
				b, err := json.Marshal(arr.Get(fmt.Sprint(i)).Export())
				if err != nil {
					return nil, fmt.Errorf("new SharedArray(%q): element %d: %w", name, i, err)
				}
				elems[i] = string(b)
			}
			return elems, nil
		})
		if sa.err != nil {
			panic(sa.err)
		}
		return rt.NewDynamicArray(&sharedView{vu: vu, a: sa, cache: map[int]goja.Value{}})
	})
	return m
}

func (e *Env) sharedArray(name string, build func() ([]string, error)) *sharedArray {
	e.mu.Lock()
	if e.shared == nil {
		e.shared = map[string]*sharedArray{}
	}
	sa, ok := e.shared[name]
	if !ok {
		sa = &sharedArray{ready: make(chan struct{})}
		e.shared[name] = sa
	}
	e.mu.Unlock()
	if !ok {
		sa.elems, sa.err = build()
		close(sa.ready)
	}
	<-sa.ready
	return sa
}

// sharedView is one runtime's read-only view of a sharedArray.
type sharedView struct {
	vu    *VU
	a     *sharedArray
	cache map[int]goja.Value
}

func (s *sharedView) Len() int { return len(s.a.elems) }
func (s *sharedView) Get(i int) goja.Value {
	if i < 0 || i >= len(s.a.elems) {
		return goja.Undefined()
	}
	if v, ok := s.cache[i]; ok {
		return v
	}
	v, err := s.vu.parseJSON(s.a.elems[i])
	if err != nil {
		panic(err)
	}
	s.cache[i] = v
	return v
}
func (s *sharedView) Set(int, goja.Value) bool {
	panic(s.vu.rt.NewTypeError("SharedArray is read-only"))
}
func (s *sharedView) SetLen(int) bool {
	panic(s.vu.rt.NewTypeError("SharedArray is read-only"))
}
