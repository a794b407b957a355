package nightly

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// synthConfig describes one synthetic night: a closed-loop run of VUs
// sending one request after another, each with a lognormal TTFT and
// TPOT around the night's medians.
type synthConfig struct {
	VUs        int
	Duration   time.Duration
	TTFTMS     float64   // the night's median TTFT
	TPOTMS     float64   // the night's median TPOT
	ThinkMS    float64   // a VU's pause between requests
	ErrorRate  float64   // the chance that a request fails
	TTFTSigma  float64   // per-request spread (lognormal sigma)
	TPOTSigma  float64   // per-request spread
	NightSigma float64   // night-to-night jitter of the medians (lognormal sigma)
	Start      time.Time // the run's start
}

// normal is the realistic noise of a refserver-like run: TTFT spread 35 %,
// TPOT 15 %, 3 % drift of both medians from night to night, 0.2 % errors.
var normal = synthConfig{
	VUs: 5, Duration: 30 * time.Second, TTFTMS: 200, TPOTMS: 20,
	ErrorRate: 0.002, TTFTSigma: 0.35, TPOTSigma: 0.15, NightSigma: 0.03,
	Start: time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC),
}

// synthNight draws one night's requests.
func synthNight(rng *rand.Rand, c synthConfig) []*runfmt.Request {
	jitter := func() float64 { return math.Exp(c.NightSigma * rng.NormFloat64()) }
	ttftMed, tpotMed := c.TTFTMS*jitter(), c.TPOTMS*jitter()
	var reqs []*runfmt.Request
	for vu := 1; vu <= c.VUs; vu++ {
		t := c.Start.Add(time.Duration(vu-1) * time.Second) // ramping up, 1 VU a second
		for it := int64(0); ; it++ {
			r := &runfmt.Request{VU: vu, Iter: it, Started: t, Sent: t, OK: true, Status: 200}
			if rng.Float64() < c.ErrorRate {
				r.OK, r.Status, r.Error, r.ErrorClass = false, 500, "synthetic failure", runfmt.ErrorHTTP
				r.CloseMS = 5
			} else {
				tokens := 20 + rng.IntN(31)
				ttft := ttftMed * math.Exp(c.TTFTSigma*rng.NormFloat64())
				tpot := tpotMed * math.Exp(c.TPOTSigma*rng.NormFloat64())
				e2e := ttft + tpot*float64(tokens-1)
				r.TTFTMS, r.TPOTMS, r.E2EMS = &ttft, &tpot, &e2e
				r.OutputTokens, r.CloseMS = tokens, e2e+0.5
			}
			t = t.Add(time.Duration((r.CloseMS + c.ThinkMS) * float64(time.Millisecond)))
			if t.Sub(c.Start) > c.Duration {
				break
			}
			reqs = append(reqs, r)
		}
	}
	return reqs
}

// simNight is a night of a simulated history, as the detector saw it.
type simNight struct {
	reqs       []*runfmt.Request
	values     map[string]float64
	verdicts   []Verdict
	regression bool
	why        string
}

// simulate runs the detector over nights in order, as Run does over the
// run folders: each night is judged against the values of all the nights
// before it and against the per-request values of the last night that was
// not a regression.
func simulate(d Detector, nights [][]*runfmt.Request) []simNight {
	d = d.withDefaults()
	out := make([]simNight, len(nights))
	lastGood := -1
	for i, reqs := range nights {
		n := simNight{reqs: reqs, values: map[string]float64{}}
		for _, name := range d.Metrics {
			m, _ := lookupMetric(name)
			n.values[name] = m.valueOfSample(m.sample(reqs))
			o := Observation{Metric: name, Tonight: n.values[name], Sample: m.sample(reqs)}
			for _, p := range out[:i] {
				o.History = append(o.History, p.values[name])
			}
			if lastGood >= 0 {
				o.LastGood = m.sample(nights[lastGood])
				o.LastGoodNight = "night " + strconv.Itoa(lastGood)
			}
			n.verdicts = append(n.verdicts, d.Detect(o))
		}
		n.regression, n.why = Judge(n.verdicts)
		if !n.regression {
			lastGood = i
		}
		out[i] = n
	}
	return out
}
