package web

import (
	"container/list"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/llmbench/llmbench/runfmt"
)

// renders makes the report pages: at most maxRenders at once across the
// server, one per key at a time (concurrent views of one run share its
// render), and the last pages kept in a cache bounded in bytes. A key
// names the run folders' files by size and modification time, so a run
// that changes is rendered again. It is safe for concurrent use.
type renders struct {
	sem   chan struct{}
	group singleflight.Group

	mu     sync.Mutex
	max    int64
	size   int64
	order  *list.List // of *cached, most recent first
	byKey  map[string]*list.Element
	hits   int64
	misses int64
}

type cached struct {
	key  string
	page []byte
}

// Render limits: two renders at once (each holds a run's requests in
// memory), and 64 MiB of pages kept.
const (
	maxRenders    = 2
	maxCacheBytes = 64 << 20
)

func newRenders() *renders {
	return &renders{sem: make(chan struct{}, maxRenders), max: maxCacheBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the page for key, from the cache or made by render (once,
// however many ask at the same time).
func (r *renders) get(ctx context.Context, key string, render func(context.Context) ([]byte, error)) ([]byte, error) {
	if page, ok := r.lookup(key); ok {
		return page, nil
	}
	v, err, _ := r.group.Do(key, func() (any, error) {
		if page, ok := r.lookup(key); ok {
			return page, nil
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-r.sem }()
		// The render outlives the request that started it only as long
		// as that request does; others waiting on it then try again.
		page, err := render(ctx)
		if err != nil {
			return nil, err
		}
		r.put(key, page)
		return page, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (r *renders) lookup(key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byKey[key]; ok {
		r.order.MoveToFront(e)
		r.hits++
		return e.Value.(*cached).page, true
	}
	r.misses++
	return nil, false
}

func (r *renders) put(key string, page []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int64(len(page)) > r.max/4 {
		return // too big to keep: made again when asked
	}
	if e, ok := r.byKey[key]; ok {
		r.size -= int64(len(e.Value.(*cached).page))
		r.order.Remove(e)
	}
	r.byKey[key] = r.order.PushFront(&cached{key: key, page: page})
	r.size += int64(len(page))
	for r.size > r.max {
		last := r.order.Back()
		c := last.Value.(*cached)
		r.order.Remove(last)
		delete(r.byKey, c.key)
		r.size -= int64(len(c.page))
	}
}

// folderKey identifies a run folder's contents: its files' sizes and
// modification times.
func folderKey(dir string) string {
	var b strings.Builder
	b.WriteString(dir)
	for _, name := range []string{runfmt.RunFile, runfmt.RequestsFile, runfmt.SummaryFile, runfmt.AnalysisFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "|%s:%d:%d", name, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "|%s:-", name)
		}
	}
	return b.String()
}
