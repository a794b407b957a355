package attribution

import (
	"fmt"
	"slices"
	"time"

	"github.com/llmbench/llmbench/analyzer/span"
	"github.com/llmbench/llmbench/runfmt"
)

// Host contention thresholds: the host counts as contended when the
// server's busy engine got less than 1 − ContendedStarved of the cores it
// asked for, while it was busy at least MinBusyShare of the run.
const (
	ContendedStarved = 0.25
	MinBusyShare     = 0.05
)

// HostInfo is what the server said of its host (refserver's /health).
type HostInfo struct {
	Threads      int    // the engine's compute threads
	CoresAllowed string // its affinity, e.g. "0-1"
	NumAllowed   int    // how many cores that is
	GOMAXPROCS   int
}

// Asked is what a busy engine asks for: a core per compute thread, as far
// as the cores it may use and GOMAXPROCS allow; 0 when unknown.
func (h HostInfo) Asked() float64 {
	n := h.Threads
	if h.NumAllowed > 0 {
		n = min(n, h.NumAllowed)
	}
	if h.GOMAXPROCS > 0 {
		n = min(n, h.GOMAXPROCS)
	}
	return float64(max(n, 0))
}

func (h HostInfo) host(source string) *runfmt.Host {
	return &runfmt.Host{Source: source, Threads: h.Threads, CoresAllowed: h.CoresAllowed, NumAllowed: h.NumAllowed,
		GOMAXPROCS: h.GOMAXPROCS, AskedCores: h.Asked(), CPUShare: -1}
}

// HostFromSteps measures what the server's process got while its engine
// was busy, from the engine.step spans that start within [from, to]: the
// process's CPU time during the steps (cpu.process_ms) over their wall
// time, against HostInfo.Asked. StepSlowdown is the median over the
// decode-only steps of their duration over the calibrated cost of their
// batch size (calib, which may be nil). Nil when no step carries its CPU
// time or the threads are unknown.
func HostFromSteps(steps []*span.Span, from, to time.Time, h HostInfo, calib []runfmt.StepCostPoint) *runfmt.Host {
	if h.Asked() <= 0 {
		return nil
	}
	var wall, cpu float64
	var slow []float64
	var cost *Cost
	if len(calib) > 0 {
		cost = NewCost(&runfmt.StepCost{Identified: true, Points: calib})
	}
	for _, st := range steps {
		if st == nil || st.Name != "engine.step" || st.Start.Before(from) || st.Start.After(to) {
			continue
		}
		c, ok := st.Float("cpu.process_ms")
		if !ok || st.Duration <= 0 {
			continue
		}
		wall += ms(st.Duration)
		cpu += c
		if cost == nil {
			continue
		}
		if p, ok := st.Float("batch.prefill_tokens"); ok && p > 0 {
			continue
		}
		if b, ok := st.Float("batch.size"); ok && b >= 1 {
			if want := cost.at(b); want > 0 {
				slow = append(slow, ms(st.Duration)/want)
			}
		}
	}
	if wall <= 0 {
		return nil
	}
	out := h.host("engine.step spans")
	out.GotCores = cpu / wall
	out.Starved = max(1-out.GotCores/out.AskedCores, 0)
	if span := to.Sub(from); span > 0 {
		out.BusyShare = min(wall/ms(span), 1)
	}
	if len(slow) > 0 {
		slices.Sort(slow)
		out.StepSlowdown = percentile(slow, 50)
	}
	return out
}

// HostFromCounters is HostFromSteps from the engine's counters over the
// run's window (Prometheus' llm_engine_busy_seconds_total and
// llm_engine_cpu_seconds_total increases): the ratio is exact whatever
// the scrape times, as one scrape reads both. Nil when the engine was
// never busy or the threads are unknown.
func HostFromCounters(busy, cpu float64, window time.Duration, h HostInfo) *runfmt.Host {
	if busy <= 0 || h.Asked() <= 0 {
		return nil
	}
	out := h.host("prometheus")
	out.GotCores = cpu / busy
	out.Starved = max(1-out.GotCores/out.AskedCores, 0)
	if window > 0 {
		out.BusyShare = min(busy/window.Seconds(), 1)
	}
	return out
}

// Contended reports whether h shows a contended host.
func Contended(h *runfmt.Host) bool {
	return h != nil && h.Starved >= ContendedStarved && h.BusyShare >= MinBusyShare
}

// hostFacts are the host's measurements as sentences.
func hostFacts(h *runfmt.Host) []string {
	if h == nil {
		return nil
	}
	cores := "cores allowed: unknown"
	if h.CoresAllowed != "" {
		cores = "cores allowed: " + h.CoresAllowed
	}
	out := []string{fmt.Sprintf("while its engine was busy (%.0f %% of the run), the server's process got %.2f of the %s it asked for (%d compute %s, %s; from %s)",
		100*h.BusyShare, h.GotCores, plural(h.AskedCores, "core"), h.Threads, pluralWord(h.Threads, "thread"), cores, h.Source)}
	if h.StepSlowdown > 0 {
		out = append(out, fmt.Sprintf("its decode steps took %.2f× their calibrated time (median)", h.StepSlowdown))
	}
	if h.Threads > 0 && h.NumAllowed > 0 && h.Threads > h.NumAllowed {
		out = append(out, fmt.Sprintf("it runs %d compute threads on %d allowed cores", h.Threads, h.NumAllowed))
	}
	return out
}

func plural(n float64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%g %ss", n, word)
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Load thresholds: the load generator fell short when it dropped at least
// MaxDroppedShare of the iterations it was asked for, or when client_queue
// (requests started late) is at least MaxClientQueueShare of the p95 band.
const (
	MaxDroppedShare     = 0.05
	MaxClientQueueShare = 0.10
)

// CheckLoad completes l with client_queue's share of the p95 band of the
// verdict's breakdowns and decides whether the load generator fell short.
func CheckLoad(l *runfmt.Load, clientShare float64) {
	if l == nil {
		return
	}
	if asked := l.Iterations + l.Dropped; asked > 0 {
		l.DroppedShare = float64(l.Dropped) / float64(asked)
	}
	l.ClientQueueShare = clientShare
	l.Short = l.DroppedShare >= MaxDroppedShare || clientShare >= MaxClientQueueShare
}

// loadFacts are the load's measurements as sentences.
func loadFacts(l *runfmt.Load) []string {
	if l == nil {
		return nil
	}
	var out []string
	if l.Dropped > 0 {
		s := fmt.Sprintf("the load generator dropped %d of the %d iterations it was asked for (%.0f %%): no VU was free when they were due",
			l.Dropped, l.Iterations+l.Dropped, 100*l.DroppedShare)
		if l.MaxVUs > 0 {
			s += fmt.Sprintf(" (at most %d VUs)", l.MaxVUs)
		}
		out = append(out, s)
	}
	if l.ClientQueueShare > 0.005 {
		s := fmt.Sprintf("client_queue (requests started after their scheduled time) is %.0f %% of p95 latency", 100*l.ClientQueueShare)
		if l.ClientQueueP95MS > 0 {
			s += fmt.Sprintf("; its p95 is %.1f ms", l.ClientQueueP95MS)
		}
		out = append(out, s)
	}
	if l.DeliveredPerS > 0 && l.Short {
		out = append(out, fmt.Sprintf("the server saw %.2f requests/s", l.DeliveredPerS))
	}
	return out
}
