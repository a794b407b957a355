package reportgen

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// What a report keeps of a run's requests is bounded, whatever the size
// of requests.jsonl: it reads the file once, line by line, and keeps
// counts, a uniform sample of each distribution, a bounded number of time
// buckets, and the few requests that the waterfall names.
const (
	// maxValues bounds each distribution's sample (TTFT, TPOT, e2e, ITL
	// gaps): 8 bytes a value, so at most 1.6 MiB each. A quantile from a
	// uniform sample of 200,000 is within about 0.2 percentile points of
	// the whole run's.
	maxValues = 200_000
	// maxIntervals bounds the time series' buckets: past it the bucket
	// width doubles and neighbouring buckets merge.
	maxIntervals = 2000
	// maxIntervalValues bounds each bucket's TTFT and TPOT samples.
	maxIntervalValues = 1000
	// maxDistinct bounds the distinct error texts and tags counted; the
	// rest are counted together.
	maxDistinct = 10_000
)

// requestStats is what a report needs of a run's requests, gathered in
// one pass over requests.jsonl.
type requestStats struct {
	N, OK                int // requests read (plausible ones), successful ones
	ttft, tpot, e2e, itl reservoir
	// The server's own timings of the successful requests that reported
	// them (TTFT, TPOT, and TTFT over the server's TTFT), and their
	// sources; requests retried after a closed connection; first events
	// of several tokens.
	sttft, stpot, over reservoir
	sources            tally
	retried, multi     int
	errs, tags         tally
	ivs                intervalSet
	// shown holds the tags and error text of the requests the waterfall
	// shows, by sequence number.
	shown map[int64]shownRequest
	first time.Time // the earliest Started
}

type shownRequest struct {
	Tags  map[string]string
	Error string
}

// newRequestStats starts the gathering. start and width place the time
// buckets; show names the requests whose tags and error to keep. Sampling
// is seeded, so that a report of the same folder is the same page.
func newRequestStats(start time.Time, width time.Duration, show []int64) *requestStats {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &requestStats{
		ttft: reservoir{max: maxValues, rng: rng}, tpot: reservoir{max: maxValues, rng: rng},
		e2e: reservoir{max: maxValues, rng: rng}, itl: reservoir{max: maxValues, rng: rng},
		sttft: reservoir{max: maxValues, rng: rng}, stpot: reservoir{max: maxValues, rng: rng}, over: reservoir{max: maxValues, rng: rng},
		sources: tally{counts: map[string]int{}},
		errs:    tally{counts: map[string]int{}}, tags: tally{counts: map[string]int{}},
		ivs:   intervalSet{start: start, width: width, rng: rng},
		shown: map[int64]shownRequest{},
	}
	for _, seq := range show {
		s.shown[seq] = shownRequest{}
	}
	return s
}

// add counts one request.
func (s *requestStats) add(r *runfmt.Request) {
	s.N++
	if s.first.IsZero() || (!r.Started.IsZero() && r.Started.Before(s.first)) {
		s.first = r.Started
	}
	if _, ok := s.shown[r.Seq]; ok {
		s.shown[r.Seq] = shownRequest{Tags: r.Tags, Error: r.Error}
	}
	for k, v := range r.Tags {
		s.tags.add(k + "=" + v)
	}
	s.ivs.add(r)
	if r.Retries > 0 {
		s.retried++
	}
	if !r.OK {
		status := ""
		if r.Status > 0 {
			status = fmt.Sprintf(" (HTTP %d)", r.Status)
		}
		s.errs.add(fmt.Sprintf("%s%s: %s", cmp.Or(r.ErrorClass, "error"), status, r.Error))
		return
	}
	s.OK++
	if r.TTFTMS != nil {
		s.ttft.add(*r.TTFTMS)
	}
	if r.TPOTMS != nil {
		s.tpot.add(*r.TPOTMS)
	}
	if r.E2EMS != nil {
		s.e2e.add(*r.E2EMS)
	}
	for _, g := range r.GapsMS {
		s.itl.add(g)
	}
	if r.MultiTokenFirstEvent {
		s.multi++
	}
	if r.ServerTimingSource != "" {
		s.sources.add(r.ServerTimingSource)
	}
	if r.ServerTTFTMS != nil {
		s.sttft.add(*r.ServerTTFTMS)
	}
	if r.ServerTPOTMS != nil {
		s.stpot.add(*r.ServerTPOTMS)
	}
	if r.TTFTOverServerMS != nil {
		s.over.add(*r.TTFTOverServerMS)
	}
}

// reservoir is a uniform sample of at most max values of a stream
// (Vitter's algorithm R), and how many the stream had.
type reservoir struct {
	vals []float64
	seen int
	max  int
	rng  *rand.Rand
}

func (r *reservoir) add(v float64) {
	r.seen++
	if len(r.vals) < r.max {
		r.vals = append(r.vals, v)
		return
	}
	if j := r.rng.IntN(r.seen); j < r.max {
		r.vals[j] = v
	}
}

// sorted returns the sample, sorted.
func (r *reservoir) sorted() []float64 {
	out := slices.Clone(r.vals)
	slices.Sort(out)
	return out
}

// sampled says whether the sample holds fewer values than the stream had.
func (r *reservoir) sampled() bool { return r.seen > len(r.vals) }

// merge adds o's stream to r's: the result is a sample of both streams
// together, each side drawn in proportion to how many values it saw.
func (r *reservoir) merge(o *reservoir) {
	total := r.seen + o.seen
	if len(r.vals)+len(o.vals) <= r.max && !r.sampled() && !o.sampled() {
		r.vals = append(r.vals, o.vals...)
		r.seen = total
		return
	}
	n := min(r.max, len(r.vals)+len(o.vals))
	fromR := min(len(r.vals), int(float64(n)*float64(r.seen)/float64(max(total, 1))+0.5))
	fromO := min(len(o.vals), n-fromR)
	r.rng.Shuffle(len(r.vals), func(i, j int) { r.vals[i], r.vals[j] = r.vals[j], r.vals[i] })
	ov := slices.Clone(o.vals)
	r.rng.Shuffle(len(ov), func(i, j int) { ov[i], ov[j] = ov[j], ov[i] })
	r.vals = append(r.vals[:fromR], ov[:fromO]...)
	r.seen = total
}

// tally counts texts, at most maxDistinct of them; texts past that are
// counted in Other.
type tally struct {
	counts map[string]int
	Other  int
}

func (t *tally) add(text string) {
	if _, ok := t.counts[text]; ok || len(t.counts) < maxDistinct {
		t.counts[text]++
		return
	}
	t.Other++
}

// top is the n most frequent texts, then, when texts went uncounted, a
// line that says how many.
func (t *tally) top(n int) []count {
	out := top(t.counts, n)
	if t.Other > 0 {
		out = append(out, count{Text: fmt.Sprintf("(more than %d distinct texts: the rest together)", maxDistinct), N: t.Other})
	}
	return out
}

// intervalSet buckets requests by when they completed (Sent + CloseMS),
// in steps of width from start, the way a k6 metric is counted when its
// sample is emitted. A request before start counts in the first bucket.
// Past maxIntervals buckets the width doubles and pairs of buckets merge,
// so a run of any length keeps at most maxIntervals.
type intervalSet struct {
	start time.Time
	width time.Duration
	out   []intervalAcc
	rng   *rand.Rand
}

type intervalAcc struct {
	completed, errors int
	ttft, tpot        reservoir
}

func (s *intervalSet) add(r *runfmt.Request) {
	if s.width <= 0 {
		return
	}
	done := r.Sent.Add(time.Duration(r.CloseMS * float64(time.Millisecond)))
	i := max(int64(done.Sub(s.start)/s.width), 0)
	for i >= maxIntervals {
		s.widen()
		i /= 2
	}
	for int64(len(s.out)) <= i {
		s.out = append(s.out, intervalAcc{
			ttft: reservoir{max: maxIntervalValues, rng: s.rng},
			tpot: reservoir{max: maxIntervalValues, rng: s.rng},
		})
	}
	b := &s.out[i]
	b.completed++
	if !r.OK {
		b.errors++
		return
	}
	if r.TTFTMS != nil {
		b.ttft.add(*r.TTFTMS)
	}
	if r.TPOTMS != nil {
		b.tpot.add(*r.TPOTMS)
	}
}

// widen doubles the width, merging buckets 2k and 2k+1 into k.
func (s *intervalSet) widen() {
	s.width *= 2
	merged := s.out[:0]
	for k := 0; k < len(s.out); k += 2 {
		b := s.out[k]
		if k+1 < len(s.out) {
			o := &s.out[k+1]
			b.completed += o.completed
			b.errors += o.errors
			b.ttft.merge(&o.ttft)
			b.tpot.merge(&o.tpot)
		}
		merged = append(merged, b)
	}
	s.out = merged
}

// intervals returns the buckets from start to the last completion, empty
// ones included, with their samples sorted.
func (s *intervalSet) intervals() []interval {
	out := make([]interval, len(s.out))
	for i, b := range s.out {
		out[i] = interval{
			Start:     (time.Duration(i) * s.width).Seconds(),
			Completed: b.completed, Errors: b.errors,
			TTFT: b.ttft.sorted(), TPOT: b.tpot.sorted(),
		}
	}
	return out
}
