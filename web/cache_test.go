package web

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRendersShareAndCache(t *testing.T) {
	r := newRenders()
	var calls atomic.Int64
	release := make(chan struct{})
	render := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("page"), nil
	}
	// Ten views of one run at once: one render.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			page, err := r.get(t.Context(), "run|a", render)
			if err != nil || string(page) != "page" {
				t.Errorf("get = %q, %v", page, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("ten concurrent views rendered %d times, want 1", n)
	}
	// Later views come from the cache; another key renders.
	if _, err := r.get(t.Context(), "run|a", render); err != nil || calls.Load() != 1 {
		t.Errorf("a cached view rendered again (%d renders, %v)", calls.Load(), err)
	}
	if _, err := r.get(t.Context(), "run|b", render); err != nil || calls.Load() != 2 {
		t.Errorf("another key: %d renders, %v; want 2", calls.Load(), err)
	}
}

func TestRendersBounded(t *testing.T) {
	r := newRenders()
	r.max = 100
	page := func(n int) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) { return bytes.Repeat([]byte("x"), n), nil }
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, err := r.get(t.Context(), k, page(25)); err != nil {
			t.Fatal(err)
		}
	}
	r.get(t.Context(), "e", page(25)) // evicts a, the least recent
	if _, ok := r.lookup("a"); ok {
		t.Error("the least recent page was kept past the cache's size")
	}
	if _, ok := r.lookup("e"); !ok {
		t.Error("the newest page was not kept")
	}
	r.get(t.Context(), "huge", page(60)) // over a quarter of the cache: not kept
	if _, ok := r.lookup("huge"); ok {
		t.Error("a page over a quarter of the cache was kept")
	}
	if r.size > r.max {
		t.Errorf("cache holds %d bytes, more than its %d", r.size, r.max)
	}
}

func TestRenderLimit(t *testing.T) {
	r := newRenders()
	var now, peak atomic.Int64
	render := func(context.Context) ([]byte, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		return []byte("p"), nil
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { r.get(t.Context(), string(rune('a'+i)), render) })
	}
	wg.Wait()
	if p := peak.Load(); p > maxRenders {
		t.Errorf("%d renders ran at once, want at most %d", p, maxRenders)
	}
}
