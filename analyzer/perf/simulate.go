package perf

import (
	"math/rand/v2"
	"slices"
	"time"
)

// simConfig is what simulate needs: the size of the run and the engine's
// batch cap.
type simConfig struct {
	requests int    // e.g. 10000
	users    int    // closed-loop users, e.g. 8
	maxBatch int    // sequences per engine step, e.g. 8
	seed     uint64 // the random stream's seed
}

// The simulated costs, in the range refserver's GPT-2 124M shows on two
// CPU cores (docs/BENCHMARKS.md), scaled down so that 10,000 requests take
// a few minutes of simulated time.
const (
	stepBase      = 3 * time.Millisecond   // an engine step's fixed cost
	stepPerSeq    = 600 * time.Microsecond // and per sequence in the batch
	stepPerPrompt = 150 * time.Microsecond // and per prompt token prefilled in it
	minPrompt     = 16                     // prompt tokens, uniform in [minPrompt, maxPrompt]
	maxPrompt     = 128                    //
	minOutput     = 16                     // output tokens, uniform in [minOutput, maxOutput]
	maxOutput     = 48                     //
	userStagger   = 500 * time.Microsecond // between the users' first requests
	tokenWriteLag = 30 * time.Microsecond  // a token's step end → its event written
	finalEvent    = 100 * time.Microsecond // the last token → the server span's end, at least
	wakeLatency   = 10 * time.Microsecond  // an idle engine's wake-up, at least
	stepGap       = 60 * time.Microsecond  // between engine steps, at least (sampling, scheduling)
	detokPerToken = 4 * time.Microsecond   // decode_output's time per token, at least
	writePerToken = 10 * time.Microsecond  // stream_write's time per token, at least
	firstConnect  = 300 * time.Microsecond // a user's first request also connects
	oneWay        = 40 * time.Microsecond  // loopback latency one way, at least
	thinkTime     = 50 * time.Microsecond  // the script's own time between iterations, at least
	handlerTime   = 20 * time.Microsecond  // the server span's start → tokenizing, at least
	tokenizeBase  = 10 * time.Microsecond  // tokenize_input's fixed cost, at least
	tokenizePer   = 2 * time.Microsecond   // and per prompt token
	submitLatency = 5 * time.Microsecond   // tokenized → submitted to the engine, at least
	stepJitterPct = 5                      // ± this percentage on each step
)

// simRequest is one request as the client and the server recorded it.
// Times are offsets from the run's start.
type simRequest struct {
	vu             int   // 1-based
	iter           int64 // the user's iteration, 0-based
	prompt, output int   // tokens

	// The client's times.
	started, sent, closed time.Duration
	tokens                []time.Duration // each token's arrival at the client
	connecting            time.Duration   // of the user's first request only

	// The server's times.
	received     time.Duration // the server span's start
	tokStart     time.Duration // tokenize_input
	tokEnd       time.Duration
	submitted    time.Duration // queue_wait's start
	scheduled    time.Duration // queue_wait's end; model_generate and prefill start
	firstToken   time.Duration // prefill's end; decode's start
	finished     time.Duration // decode's and model_generate's end
	serverEnd    time.Duration // the server span's end
	detok, write time.Duration // decode_output's and stream_write's summed time

	decodeSteps int // steps after the first token
	batchSum    int // the batch sizes of those steps, summed
}

// meanBatch is the decode's mean batch size, as refserver reports it.
func (r *simRequest) meanBatch() float64 {
	if r.decodeSteps == 0 {
		return 0
	}
	return float64(r.batchSum) / float64(r.decodeSteps)
}

// simStep is one engine step: a forward pass over the batch.
type simStep struct {
	start, dur    time.Duration
	members       []int32 // indexes into workload.reqs
	prefillTokens int     // prompt tokens of the sequences admitted in this step
	decodeSeqs    int     // sequences decoding a token
}

// workload is a simulated run: every request and every engine step.
type workload struct {
	reqs  []simRequest // in the order they were issued
	steps []simStep    // in time order
	end   time.Duration
}

// simulate runs cfg.users closed-loop users against a continuous-batching
// engine that admits waiting requests at each step's start, up to
// cfg.maxBatch sequences, and produces one token per sequence per step (the
// step that admits a sequence prefills it and yields its first token).
// It is a pure function of cfg.
func simulate(cfg simConfig) *workload {
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	between := func(lo time.Duration, spread float64) time.Duration {
		return lo + time.Duration(rng.Float64()*spread*float64(lo))
	}
	w := &workload{reqs: make([]simRequest, 0, cfg.requests)} // never reallocated: pointers stay valid
	iters := make([]int64, cfg.users)
	var waiting []int32 // issued, not yet admitted, by submitted time

	issue := func(vu int, at time.Duration) {
		if len(w.reqs) == cfg.requests {
			return
		}
		r := simRequest{vu: vu + 1, iter: iters[vu]}
		iters[vu]++
		r.prompt = minPrompt + rng.IntN(maxPrompt-minPrompt+1)
		r.output = minOutput + rng.IntN(maxOutput-minOutput+1)
		r.started = at
		send := between(30*time.Microsecond, 3)
		if r.iter == 0 {
			r.connecting = between(firstConnect, 1)
			send += r.connecting
		}
		r.sent = r.started + send
		r.received = r.sent + between(oneWay, 2)
		r.tokStart = r.received + between(handlerTime, 2)
		r.tokEnd = r.tokStart + between(tokenizeBase, 2) + time.Duration(r.prompt)*tokenizePer
		r.submitted = r.tokEnd + between(submitLatency, 2)
		w.reqs = append(w.reqs, r)
		i := int32(len(w.reqs) - 1)
		at2, _ := slices.BinarySearchFunc(waiting, r.submitted, func(j int32, t time.Duration) int {
			return cmpDur(w.reqs[j].submitted, t)
		})
		waiting = slices.Insert(waiting, at2, i)
	}
	for u := range cfg.users {
		issue(u, time.Duration(u)*userStagger)
	}

	type seq struct {
		req  int32
		done int // tokens so far
	}
	var running []seq
	var t time.Duration // the engine's clock: when it can start its next step
	for len(running) > 0 || len(waiting) > 0 {
		if len(running) == 0 && w.reqs[waiting[0]].submitted > t {
			t = w.reqs[waiting[0]].submitted + between(wakeLatency, 3)
		}
		st := simStep{start: t}
		for len(waiting) > 0 && len(running) < cfg.maxBatch && w.reqs[waiting[0]].submitted <= t {
			i := waiting[0]
			waiting = waiting[1:]
			w.reqs[i].scheduled = t
			st.prefillTokens += w.reqs[i].prompt
			running = append(running, seq{req: i})
		}
		batch := len(running)
		st.dur = stepBase + time.Duration(batch)*stepPerSeq + time.Duration(st.prefillTokens)*stepPerPrompt
		st.dur += time.Duration(float64(st.dur) * float64(rng.IntN(2*stepJitterPct+1)-stepJitterPct) / 100)
		end := t + st.dur
		st.members = make([]int32, batch)
		kept := running[:0]
		for k, s := range running {
			st.members[k] = s.req
			r := &w.reqs[s.req]
			if s.done == 0 {
				r.firstToken = end
			} else {
				st.decodeSeqs++
				r.decodeSteps++
				r.batchSum += batch
			}
			s.done++
			r.detok += between(detokPerToken, 2)
			r.write += between(writePerToken, 2)
			net := oneWay + time.Duration(r.vu)*time.Microsecond // a user's own latency, steady
			r.tokens = append(r.tokens, end+tokenWriteLag+net+time.Duration(rng.IntN(10))*time.Microsecond)
			if s.done < r.output {
				kept = append(kept, s)
				continue
			}
			r.finished = end
			r.serverEnd = max(r.tokens[len(r.tokens)-1]-net, end+between(finalEvent, 1.5))
			r.closed = r.serverEnd + net
			w.end = max(w.end, r.closed)
			issue(r.vu-1, r.closed+between(thinkTime, 8))
		}
		running = kept
		w.steps = append(w.steps, st)
		t = end + between(stepGap, 1)
	}
	return w
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
