package attribution

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/llmbench/llmbench/runfmt"
)

// Classes group the parts by what a user would change: the verdict names a
// class, not a part, so that two parts of one cause (prefill and decode are
// both the model's compute) do not split its share, and two causes are
// never added up.
var Classes = []struct {
	Name  string
	Parts []string
}{
	{ClassClient, []string{runfmt.PartClientQueue}},
	{ClassNetwork, []string{runfmt.PartConnectSend, runfmt.PartNetwork}},
	{ClassUnsplit, []string{runfmt.PartUnsplit}},
	{ClassServer, []string{runfmt.PartServerOther, runfmt.PartTokenize, runfmt.PartDetokenize, runfmt.PartStreamWrite}},
	{ClassQueue, []string{runfmt.PartServerQueue}},
	{ClassCompute, []string{runfmt.PartPrefill, runfmt.PartDecode, runfmt.PartDecodeOwn}},
	{ClassBatch, []string{runfmt.PartDecodeShared}},
	{ClassEngine, []string{runfmt.PartBetweenSteps}},
}

// The classes of Classes.
const (
	ClassClient  = "client"  // the load generator started requests late
	ClassNetwork = "network" // connecting, sending, in flight
	ClassUnsplit = "unsplit" // server and network together, not split
	ClassServer  = "server"  // the server's handling outside the model
	ClassQueue   = "queue"   // waiting for a batch slot
	ClassCompute = "compute" // the model's own work for the request
	ClassBatch   = "batch"   // what the batch's other sequences added to the steps
	ClassEngine  = "engine"  // the engine loop between its steps
)

// ClassOf returns the class of a part; "" for an unknown part.
func ClassOf(part string) string {
	for _, c := range Classes {
		if slices.Contains(c.Parts, part) {
			return c.Name
		}
	}
	return ""
}

// Bootstrap settings: resamples of the requests, and the least share of
// them whose largest class must be the run's for the verdict to name it.
const (
	BootstrapResamples = 400
	MinAgreement       = 0.9
)

// Shares is each class's share of the p95 band's mean total, with its 95 %
// bootstrap interval, and how often the run's largest class stayed the
// largest.
type Shares struct {
	Band      runfmt.Band // the run's p95 band
	Class     map[string]float64
	Lo, Hi    map[string]float64
	Top       string  // the largest class; "" when nothing was measured
	Agreement float64 // the share of resamples whose largest class is Top
	Requests  int
}

// BootstrapShares resamples the successful breakdowns of bs (one source)
// with replacement, BootstrapResamples times, and in each takes the p95
// band as Aggregate defines it (the requests from the 90th to the 97.5th
// percentile of the total, or the one nearest the 95th). It returns the
// classes' shares of the run's band, their 2.5th–97.5th percentiles over the
// resamples, and the share of resamples whose largest class is the run's.
// The resampling is seeded by the data, so one run always gives the same
// intervals.
func BootstrapShares(bs []runfmt.Breakdown) Shares {
	var ok []*runfmt.Breakdown
	for i := range bs {
		if bs[i].OK {
			ok = append(ok, &bs[i])
		}
	}
	sh := Shares{Class: map[string]float64{}, Lo: map[string]float64{}, Hi: map[string]float64{}, Requests: len(ok)}
	if len(ok) == 0 {
		return sh
	}
	slices.SortStableFunc(ok, func(x, y *runfmt.Breakdown) int {
		return cmp.Or(cmp.Compare(x.TotalMS, y.TotalMS), cmp.Compare(x.Seq, y.Seq))
	})
	n := len(ok)
	vec := make([][]float64, n) // class ms per request, in Classes order
	totals := make([]float64, n)
	for i, b := range ok {
		vec[i] = classVector(b.Parts)
		totals[i] = b.TotalMS
	}
	a := Aggregate(bs)
	for _, b := range a.Bands {
		if b.Name == "p95" {
			sh.Band = b
		}
	}
	lo, hi := bandPositions(n)
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	point := bandShares(vec, totals, ones, lo, hi)
	sh.Top = topClass(point)
	for i, c := range Classes {
		sh.Class[c.Name] = point[i]
	}
	if sh.Top == "" {
		return sh
	}

	seed := uint64(n)
	for _, t := range totals {
		seed = seed*1099511628211 ^ math.Float64bits(t)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6c6d62656e6368))
	counts := make([]int, n)
	samples := make([][]float64, len(Classes))
	agree := 0
	for range BootstrapResamples {
		clear(counts)
		for range n {
			counts[rng.IntN(n)]++
		}
		s := bandShares(vec, totals, counts, lo, hi)
		if topClass(s) == sh.Top {
			agree++
		}
		for i := range Classes {
			samples[i] = append(samples[i], s[i])
		}
	}
	sh.Agreement = float64(agree) / BootstrapResamples
	for i, c := range Classes {
		slices.Sort(samples[i])
		sh.Lo[c.Name] = percentile(samples[i], 2.5)
		sh.Hi[c.Name] = percentile(samples[i], 97.5)
	}
	return sh
}

// Sorted returns the classes with a share, largest first, as
// runfmt.Shares.
func (sh Shares) Sorted() []runfmt.Share {
	var out []runfmt.Share
	for _, c := range Classes {
		if sh.Class[c.Name] > 0 || sh.Hi[c.Name] > 0 {
			out = append(out, runfmt.Share{Class: c.Name, Parts: c.Parts, Share: sh.Class[c.Name], Lo: sh.Lo[c.Name], Hi: sh.Hi[c.Name]})
		}
	}
	slices.SortStableFunc(out, func(x, y runfmt.Share) int { return cmp.Compare(y.Share, x.Share) })
	return out
}

// bandPositions are the first and last rank (0-based, of n) of the p95
// band, as Aggregate draws it.
func bandPositions(n int) (int, int) {
	if n == 1 {
		return 0, 0
	}
	const eps = 1e-9
	lo := int(math.Ceil(0.90*float64(n-1) - eps))
	hi := int(math.Floor(0.975*float64(n-1) + eps))
	if lo > hi {
		c := int(math.Ceil(0.95*float64(n-1) - 0.5)) // the nearest rank to the 95th percentile, the lower on a tie
		return c, c
	}
	return lo, hi
}

// bandShares is the classes' share of the mean total of the requests at
// ranks lo..hi of a resample: request i (in ascending total order) is
// drawn counts[i] times and fills that many consecutive ranks.
func bandShares(vec [][]float64, totals []float64, counts []int, lo, hi int) []float64 {
	sum := make([]float64, len(Classes))
	total := 0.0
	pos := 0
	for i, c := range counts {
		if c == 0 {
			continue
		}
		from, to := max(pos, lo), min(pos+c-1, hi)
		if from <= to {
			w := float64(to - from + 1)
			for k, v := range vec[i] {
				sum[k] += w * v
			}
			total += w * totals[i]
		}
		pos += c
		if pos > hi {
			break
		}
	}
	if total <= 0 {
		clear(sum)
		return sum
	}
	for k := range sum {
		sum[k] /= total
	}
	return sum
}

// classVector sums the parts into Classes order.
func classVector(parts map[string]float64) []float64 {
	v := make([]float64, len(Classes))
	for i, c := range Classes {
		for _, p := range c.Parts {
			v[i] += parts[p]
		}
	}
	return v
}

// topClass is the class with the largest share; "" when none is positive.
func topClass(shares []float64) string {
	best, top := 0.0, ""
	for i, s := range shares {
		if s > best {
			best, top = s, Classes[i].Name
		}
	}
	return top
}
