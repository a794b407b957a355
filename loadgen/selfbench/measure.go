package selfbench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/llmbench/llmbench/internal/stats"
)

// raiseFDLimit raises the soft open-file limit to the hard limit and
// returns the limit now in force.
func raiseFDLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return l.Cur, err
		}
	}
	return l.Cur, nil
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a field of /proc/self/status in bytes (VmRSS,
// VmHWM), or 0 when it cannot be read (not Linux).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
		return kb << 10
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+); it reports
// whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// usage is one phase's CPU and memory as measured around it.
type usage struct {
	Wall        time.Duration
	CPU         time.Duration // user+system over Wall
	SteadyCores float64       // median of the per-second CPU rates
	RSSBefore   int64         // VmRSS before the phase
	PeakRSS     int64         // VmHWM after it (reset before), or the largest VmRSS sampled
	PeakExact   bool          // PeakRSS is VmHWM
}

// meter samples CPU time and RSS every interval while a phase runs. Its
// goroutine is owned by meter: stop waits for it.
type meter struct {
	start    time.Time
	cpu0     time.Duration
	rss0     int64
	hwmReset bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu     sync.Mutex
	rates  []float64
	maxRSS int64
}

// startMeter starts measuring; stop ends it.
func startMeter(ctx context.Context, every time.Duration) *meter {
	m := &meter{rss0: procStatus("VmRSS"), hwmReset: resetPeakRSS()}
	m.maxRSS = m.rss0
	ctx, m.cancel = context.WithCancel(ctx)
	m.start, m.cpu0 = time.Now(), cpuTime()
	m.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		lastT, lastC := m.start, m.cpu0
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				c, rss := cpuTime(), procStatus("VmRSS")
				m.mu.Lock()
				m.rates = append(m.rates, (c-lastC).Seconds()/now.Sub(lastT).Seconds())
				m.maxRSS = max(m.maxRSS, rss)
				m.mu.Unlock()
				lastT, lastC = now, c
			}
		}
	})
	return m
}

// stop ends the measurement and returns it.
func (m *meter) stop() usage {
	u := usage{Wall: time.Since(m.start), CPU: cpuTime() - m.cpu0, RSSBefore: m.rss0}
	m.cancel()
	m.wg.Wait()
	u.SteadyCores = stats.Percentile(slices.Sorted(slices.Values(m.rates)), 50) // 0 when none
	u.PeakRSS = max(m.maxRSS, procStatus("VmRSS"))
	if m.hwmReset {
		if hwm := procStatus("VmHWM"); hwm > 0 {
			u.PeakRSS, u.PeakExact = hwm, true
		}
	}
	return u
}
