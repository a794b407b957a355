package executor

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxSegmentDenominator bounds the common denominator of a segment
// sequence, so that the striping arithmetic stays in int64.
const maxSegmentDenominator = 1 << 40

// Segment is the part of a test that this process runs, k6's
// --execution-segment, within the sequence of segments that the processes
// of one test split it into (--execution-segment-sequence).
//
// Work is split by striping. Every countable thing of a scenario — its VUs
// (vus, preAllocatedVUs, maxVUs, stage targets) and the global sequence of
// its arrival-rate iterations — is numbered 0, 1, 2, ... and each number is
// given to one segment of the sequence by a largest-deficit rule: number n
// goes to the segment whose share of the first n+1 things is furthest
// ahead of what it has got (ties go to the earlier segment). Every process
// computes the same assignment from the sequence alone, the parts add up
// exactly to the whole, and each segment's count of the first n things is
// less than n×length+1. The assignment repeats with the sequence's common
// denominator as its period.
//
// A segment whose share of a scenario's VUs is 0 runs none of it: an
// arrival-rate scenario with preAllocatedVUs and maxVUs below the number
// of segments drops the arrivals of the segments left without a VU, and a
// shared-iterations segment gets the iterations of its own VUs only
// (iteration k belongs to VU k mod vus), so the totals still add up.
//
// All processes of one test must use the same sequence. Without one, the
// sequence is taken to be 0, from, to, 1 (as k6 does), so processes given
// only "0:1/3", "1/3:2/3" and "2/3:1" compute different stripes and their
// parts need not add up: pass the sequence.
//
// The zero Segment is the whole test. A Segment is immutable and safe for
// concurrent use.
type Segment struct {
	from, to *big.Rat // nil in the zero value: 0 and 1
	sequence string   // as given, for the record; "" when none
	weights  []int64  // each segment's length × denom; nil in the zero value
	denom    int64
	index    int // this segment's position in weights
}

// ParseSegment parses k6's --execution-segment and
// --execution-segment-sequence values. A segment is "from:to" or just "to"
// (meaning "0:to"); a sequence is a comma-separated list that starts at 0,
// ends at 1 and increases. Values are fractions ("1/3"), decimals ("0.5") or
// percentages ("50%"), and are kept as exact rationals. An empty segment
// means the whole test. A segment given with a sequence must be two
// neighbouring values of it.
func ParseSegment(segment, sequence string) (Segment, error) {
	s := Segment{sequence: strings.TrimSpace(sequence)}
	var points []*big.Rat
	if s.sequence != "" {
		for f := range strings.SplitSeq(s.sequence, ",") {
			r, err := parseFraction(f)
			if err != nil {
				return Segment{}, fmt.Errorf("parse segment sequence %q: %w", sequence, err)
			}
			if n := len(points); n > 0 && r.Cmp(points[n-1]) <= 0 {
				return Segment{}, fmt.Errorf("parse segment sequence %q: values must increase", sequence)
			}
			points = append(points, r)
		}
		if points[0].Sign() != 0 || points[len(points)-1].Cmp(big.NewRat(1, 1)) != 0 {
			return Segment{}, fmt.Errorf("parse segment sequence %q: must start at 0 and end at 1", sequence)
		}
	}
	segment = strings.TrimSpace(segment)
	if segment == "" {
		return s, nil
	}
	from, to := new(big.Rat), (*big.Rat)(nil)
	a, b, found := strings.Cut(segment, ":")
	var err error
	if found {
		if from, err = parseFraction(a); err == nil {
			to, err = parseFraction(b)
		}
	} else {
		to, err = parseFraction(a)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("parse segment %q: %w", segment, err)
	}
	if from.Cmp(to) >= 0 {
		return Segment{}, fmt.Errorf("parse segment %q: start must be less than end", segment)
	}
	s.from, s.to = from, to
	if points == nil {
		points = []*big.Rat{new(big.Rat)}
		for _, p := range []*big.Rat{from, to, big.NewRat(1, 1)} {
			if p.Cmp(points[len(points)-1]) > 0 {
				points = append(points, p)
			}
		}
	}
	s.index = -1
	for i := 0; i+1 < len(points); i++ {
		if points[i].Cmp(from) == 0 && points[i+1].Cmp(to) == 0 {
			s.index = i
		}
	}
	if s.index < 0 {
		return Segment{}, fmt.Errorf("parse segment %q: not a segment of sequence %q", segment, sequence)
	}
	s.weights, s.denom, err = stripeWeights(points)
	if err != nil {
		return Segment{}, fmt.Errorf("parse segment %q: %w", segment, err)
	}
	return s, nil
}

// parseFraction parses one value of a segment or sequence: "1/3", "0.5",
// "50%", "1". It must lie in [0, 1].
func parseFraction(v string) (*big.Rat, error) {
	v = strings.TrimSpace(v)
	r := new(big.Rat)
	num, pct := strings.CutSuffix(v, "%")
	if _, ok := r.SetString(num); !ok || num == "" {
		return nil, fmt.Errorf("bad value %q: want a fraction, a decimal or a percentage", v)
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(1, 1)) > 0 {
		return nil, fmt.Errorf("bad value %q: must be between 0 and 1", v)
	}
	return r, nil
}

// stripeWeights turns sequence points into integer segment lengths over a
// common denominator.
func stripeWeights(points []*big.Rat) ([]int64, int64, error) {
	lcm := big.NewInt(1)
	for _, p := range points {
		d := p.Denom()
		g := new(big.Int).GCD(nil, nil, lcm, d)
		lcm.Mul(lcm, new(big.Int).Quo(d, g))
		if lcm.Cmp(big.NewInt(maxSegmentDenominator)) > 0 {
			return nil, 0, errors.New("common denominator of the sequence is too large")
		}
	}
	denom := lcm.Int64()
	w := make([]int64, len(points)-1)
	for i := range w {
		d := new(big.Rat).Sub(points[i+1], points[i])
		d.Mul(d, new(big.Rat).SetInt64(denom))
		w[i] = d.Num().Int64() // d is an integer: denom is a multiple of every denominator
	}
	return w, denom, nil
}

// String is the segment as "from:to", "0:1" for the whole test.
func (s Segment) String() string {
	if s.from == nil {
		return "0:1"
	}
	return s.from.RatString() + ":" + s.to.RatString()
}

// Sequence is the segment sequence as given to ParseSegment, "" when none
// was.
func (s Segment) Sequence() string { return s.sequence }

// Scale is this segment's share of n things (VUs, iterations): how many of
// the things numbered 0 to n-1 it owns. Scale over every segment of a
// sequence adds up to n.
func (s Segment) Scale(n int64) int64 {
	if s.weights == nil || n <= 0 {
		return max(n, 0)
	}
	q, r := n/s.denom, n%s.denom
	c := q * s.weights[s.index]
	st := s.stripe()
	for range r {
		if st.next() {
			c++
		}
	}
	return c
}

// owned lists the numbers in [0, n) that this segment owns, in order.
func (s Segment) owned(n int64) []int64 {
	out := make([]int64, 0, s.Scale(n))
	st := s.stripe()
	for i := range n {
		if st.next() {
			out = append(out, i)
		}
	}
	return out
}

// stripe starts the assignment of numbers 0, 1, 2, ... to segments.
func (s Segment) stripe() *stripe {
	if s.weights == nil {
		return &stripe{}
	}
	return &stripe{w: s.weights, denom: s.denom, own: s.index, d: make([]int64, len(s.weights))}
}

// stripe walks the largest-deficit assignment. d[k] is segment k's deficit
// times denom: its share of the numbers seen so far minus what it got.
// Deficits stay within (-denom, len(d)×denom), so int64 is enough.
type stripe struct {
	w     []int64 // nil: the whole test, every number is ours
	denom int64
	own   int
	d     []int64
}

// next assigns the next number and reports whether it is this segment's.
func (st *stripe) next() bool {
	if st.w == nil {
		return true
	}
	best := 0
	for k, w := range st.w {
		st.d[k] += w
		if st.d[k] > st.d[best] {
			best = k
		}
	}
	st.d[best] -= st.denom
	return best == st.own
}
