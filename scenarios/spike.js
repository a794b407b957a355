// spike: a sudden burst of traffic, and whether the server recovers.
// Requests arrive at a base rate, jump at once to several times that
// rate, hold there, drop back, and go on at the base rate. Every request
// is tagged with its phase (warm, spike, recover), so each phase's
// latency and errors are separate sub-metrics.
//
//   llmbench run scenarios/spike.js                                      (1/s for 30 s, 8/s for 30 s, 1/s for 60 s)
//   llmbench run -e BASE=2 -e SPIKE=20 -e HOLD=1m scenarios/spike.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat -e MODEL=my-model scenarios/spike.js
//
// Knobs (-e KEY=VALUE):
//   BASE=1           requests per second before and after the spike (whole numbers)
//   SPIKE=8          requests per second during the spike
//   WARM=30s         time at BASE before the spike
//   RISE=0s          how long the jump to SPIKE takes (0s: at once)
//   HOLD=30s         time at SPIKE
//   RECOVER=60s      time at BASE after the spike: long enough to drain the queue the spike built
//                    (the test uses WARM=1s HOLD=1s RECOVER=2s)
//   MAX_TOKENS=32    tokens to generate per request
//   MAX_VUS          the client's concurrency cap (default 20×SPIKE); arrivals beyond it are
//                    dropped (dropped_iterations), see open-loop.js
//   MAX_ERROR_RATE=0.05  threshold on llm_failed over the whole run; errors during the spike
//                        (429 when the server's queue is full) count
//   TTFT_P95=5000    threshold on the p95 time to first token before and after the spike (ms):
//                    the server must serve the base rate well, and again once it recovered
//   SPIKE_TTFT_P95=30000  the same during the spike: slower, but answering
//   SEED=1           the Poisson arrival seed
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs (lib/env.js)
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// In the analysis: the summary's llm_ttft{phase:spike} and
// llm_ttft{phase:recover} against llm_ttft{phase:warm}: how far latency
// rose, and whether it came back (a recover p95 still above warm means
// the queue the spike built had not drained); llm_failed{phase:spike}
// for refused requests (429) and dropped_iterations for arrivals the
// client could not even send. `llmbench analyze` shows the server_queue
// part growing in the p95 band, and the llm_requests_waiting series
// (with Prometheus) rising and falling with the spike.
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';
import { verify } from './lib/verify.js';
import { num, int, duration, fmt, slo } from './lib/env.js';

const BASE = int('BASE', 1, 1);
const SPIKE = int('SPIKE', 8, 1);
const WARM = duration('WARM', '30s');
const RISE = duration('RISE', '0s');
const HOLD = duration('HOLD', '30s');
const RECOVER = duration('RECOVER', '60s');
const MAX_TOKENS = int('MAX_TOKENS', 32, 1);
const MAX_VUS = int('MAX_VUS', 20 * SPIKE, 1);
const TTFT_P95 = num('TTFT_P95', 5000);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE,
      timeUnit: '1s',
      stages: [
        { duration: fmt(WARM), target: BASE },
        { duration: fmt(RISE), target: SPIKE },
        { duration: fmt(HOLD), target: SPIKE },
        { duration: '0s', target: BASE },
        { duration: fmt(RECOVER), target: BASE },
      ],
      preAllocatedVUs: Math.min(MAX_VUS, 2 * SPIKE),
      maxVUs: MAX_VUS,
      arrival: 'poisson',
      seed: int('SEED', 1),
    },
  },
  slo: slo(),
  thresholds: {
    llm_failed: [`rate<=${num('MAX_ERROR_RATE', 0.05)}`],
    // Every phase must have sent requests, or the run did not test what
    // it says. The TTFT bounds also put each phase in the summary.
    'llm_requests{phase:warm}': ['count>0'],
    'llm_requests{phase:spike}': ['count>0'],
    'llm_requests{phase:recover}': ['count>0'],
    'llm_ttft{phase:warm}': [`p(95)<${TTFT_P95}`],
    'llm_ttft{phase:spike}': [`p(95)<${num('SPIKE_TTFT_P95', 30000)}`],
    'llm_ttft{phase:recover}': [`p(95)<${TTFT_P95}`],
  },
};

// setup marks the start, so that each iteration knows its phase.
export function setup() {
  return { start: Date.now() };
}

// phase is the part of the test that an iteration began in, by the time
// since the start.
function phase(start) {
  const t = Date.now() - start;
  if (t < WARM) return 'warm';
  if (t < WARM + RISE + HOLD) return 'spike';
  return 'recover';
}

const c = client();

export default function (data) {
  const tags = { phase: phase(data.start) };
  const res = c.generate(request(pick(__VU * 31 + __ITER), { max_tokens: MAX_TOKENS, temperature: 0.7, do_sample: true }), { tags: tags });
  verify(res, tags);
}
