package nightly

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose Sleep moves time on at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	naps   int
	maxNap time.Duration
	// onSleep, when set, is called before each nap (e.g. to cancel).
	onSleep func(now time.Time)
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep(c.Now())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.naps++
	c.maxNap = max(c.maxNap, d)
	c.now = c.now.Add(d)
	return nil
}

func TestScheduleSurvivesFailedNights(t *testing.T) {
	cron, err := ParseCron("0 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	var ran []time.Time
	err = Schedule(ctx, cron, clock, log, func(ctx context.Context, at time.Time) error {
		ran = append(ran, at)
		if now := clock.Now(); !now.Equal(at) {
			t.Errorf("night %d started at %s, want its scheduled %s", len(ran), now, at)
		}
		clock.advance(20 * time.Minute) // a night's run takes a while
		switch len(ran) {
		case 1:
			return errors.New("target down")
		case 2:
			panic("bug in a night")
		case 4:
			cancel()
			return ctx.Err()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Schedule: got %v, want context.Canceled", err)
	}
	want := []time.Time{
		time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 2, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 4, 2, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC),
	}
	if len(ran) != len(want) {
		t.Fatalf("got %d nights %v, want %d", len(ran), ran, len(want))
	}
	for i := range want {
		if !ran[i].Equal(want[i]) {
			t.Errorf("night %d: got %s, want %s", i+1, ran[i], want[i])
		}
	}
	logs := logBuf.String()
	for _, w := range []string{"target down", "panic: bug in a night", "run done"} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	if clock.maxNap > maxNap {
		t.Errorf("longest sleep: got %s, want at most %s (the wall clock is looked at again)", clock.maxNap, maxNap)
	}
}

func TestScheduleSkipsNightsMissedByALongRun(t *testing.T) {
	cron, err := ParseCron("*/10 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logBuf bytes.Buffer
	var ran []time.Time
	err = Schedule(ctx, cron, clock, slog.New(slog.NewTextHandler(&logBuf, nil)), func(ctx context.Context, at time.Time) error {
		ran = append(ran, at)
		if len(ran) == 1 {
			clock.advance(25 * time.Minute) // past 00:20 and 00:30
		}
		if len(ran) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Schedule: got %v, want context.Canceled", err)
	}
	want := []time.Time{time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)}
	if len(ran) != 2 || !ran[0].Equal(want[0]) || !ran[1].Equal(want[1]) {
		t.Errorf("runs: got %v, want %v", ran, want)
	}
	if !strings.Contains(logBuf.String(), "skipped=2") {
		t.Errorf("log: got\n%s\nwant skipped=2", logBuf.String())
	}
}

func TestScheduleStopsWhileWaiting(t *testing.T) {
	cron, err := ParseCron("0 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	clock.onSleep = func(now time.Time) {
		if now.Hour() == 20 {
			cancel()
		}
	}
	called := false
	err = Schedule(ctx, cron, clock, slog.New(slog.DiscardHandler), func(context.Context, time.Time) error {
		called = true
		return nil
	})
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("got %v (ran: %v), want context.Canceled before any run", err, called)
	}
}

func TestSystemClockSleepCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// An hour's sleep on a done context returns at once with its error.
	if err := (SystemClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if err := (SystemClock{}).Sleep(t.Context(), time.Microsecond); err != nil {
		t.Errorf("a short sleep: got %v, want nil", err)
	}
}
