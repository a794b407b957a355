package nightly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Clock is the scheduler's time: tests give it a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done, when it returns ctx's
	// error.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock. It is safe for concurrent use.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or for ctx.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxNap is the longest the scheduler sleeps before it looks at the wall
// clock again, so that a suspended machine or a changed clock does not
// shift the schedule.
const maxNap = time.Minute

// Schedule calls run at each time cron matches, until ctx is done, and
// returns ctx's error then. A night whose run fails, or panics, is logged
// and the schedule goes on; a night missed because the one before ran
// long is logged and skipped. at is the time the night was scheduled
// for. Schedule runs one night at a time, on the calling goroutine.
func Schedule(ctx context.Context, cron *Cron, clock Clock, log *slog.Logger, run func(ctx context.Context, at time.Time) error) error {
	next := cron.Next(clock.Now())
	for {
		if next.IsZero() {
			return fmt.Errorf("schedule %q: it matches no time in the next five years", cron)
		}
		log.Info("nightly: next run", "at", next.Format(time.RFC3339), "schedule", cron.String())
		for {
			now := clock.Now()
			if !now.Before(next) {
				break
			}
			if err := clock.Sleep(ctx, min(next.Sub(now), maxNap)); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		log.Info("nightly: run starts", "scheduled", next.Format(time.RFC3339))
		began := clock.Now()
		err := safeRun(ctx, run, next)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			log.Error("nightly: run failed; waiting for the next one", "scheduled", next.Format(time.RFC3339), "err", err)
		default:
			log.Info("nightly: run done", "scheduled", next.Format(time.RFC3339), "took", clock.Now().Sub(began).Round(time.Second).String())
		}
		now := clock.Now()
		following := cron.Next(next)
		if !following.IsZero() && !following.After(now) {
			// The run took past the next time(s): skip them, start at
			// the first one still ahead.
			skipped := 0
			for !following.IsZero() && !following.After(now) {
				skipped++
				following = cron.Next(following)
			}
			log.Warn("nightly: the run took past its next scheduled times; they are skipped", "skipped", skipped)
		}
		next = following
	}
}

// safeRun calls run, turning a panic into an error.
func safeRun(ctx context.Context, run func(context.Context, time.Time) error, at time.Time) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.Join(fmt.Errorf("panic: %v", p), errors.New(string(debug.Stack())))
		}
	}()
	return run(ctx, at)
}
