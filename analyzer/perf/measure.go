package perf

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procFile is /proc/self/NAME for pid 0, else /proc/PID/NAME.
func procFile(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// procStatus returns a field of a process's /proc status in bytes (VmRSS,
// VmHWM); pid 0 is this process. It returns 0 when the field cannot be
// read (not Linux, no such process).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(procFile(pid, "status"))
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
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

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ), 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// procCPU returns the user+system CPU time another process has used, from
// /proc/PID/stat; 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(procFile(pid, "stat"))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing one. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(string(f[11]), 10, 64)
	s, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(u+s) * time.Second / clockTicks
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets this process's VmHWM to its current RSS (Linux 4.0
// and later); it reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// rssSampler records the largest VmRSS of a process, read every
// interval, from start to stop. Its goroutine is owned by the sampler:
// stop waits for it.
type rssSampler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	max    int64 // written by the goroutine; read after wg.Wait
}

// sampleRSS starts sampling pid's VmRSS every interval.
func sampleRSS(ctx context.Context, pid int, every time.Duration) *rssSampler {
	s := &rssSampler{max: procStatus(pid, "VmRSS")}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.max = max(s.max, procStatus(pid, "VmRSS"))
			}
		}
	})
	return s
}

// stop ends the sampling and returns the largest VmRSS seen, including
// one last reading.
func (s *rssSampler) stop(pid int) int64 {
	s.cancel()
	s.wg.Wait()
	return max(s.max, procStatus(pid, "VmRSS"))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
