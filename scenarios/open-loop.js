// open-loop: requests arrive at a fixed mean rate, as a Poisson process,
// whether or not the server keeps up. This is how users load a public
// endpoint: they do not wait for each other. A closed loop (constant-vus,
// as in baseline.js) slows down with the server and hides its queue; an
// open loop does not, so the latency it measures includes the time a
// request waited to be served.
//
//   llmbench run scenarios/open-loop.js                                  (2 requests/s for 1 minute, against refserver)
//   llmbench run -e RATE=5 -e DURATION=5m -e SEED=7 scenarios/open-loop.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat -e MODEL=my-model scenarios/open-loop.js
//
// Knobs (-e KEY=VALUE):
//   RATE=2             mean arrivals per second; fractions work (0.5 is 30 per minute)
//   DURATION=1m        how long arrivals go on (the test shortens to seconds with DURATION=3s)
//   SEED=1             the arrival times are a function of the seed: the same SEED gives
//                      the same schedule, so two targets (cpu-vs-gpu.sh) get the same load
//   ARRIVAL=poisson    or uniform: evenly spaced starts, as k6's constant-arrival-rate does
//   MAX_TOKENS=32      tokens to generate per request
//   PRE_VUS, MAX_VUS   VUs allocated before the start (default 2×RATE, at least 2) and at
//                      most (default 20×RATE, at least PRE_VUS): the client's own concurrency cap
//   MAX_ERROR_RATE=0.01  threshold on llm_failed (failed requests / requests)
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs of goodput (lib/env.js)
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// The client queue and dropped iterations. Each arrival needs a free VU
// to send its request. When every VU is busy (the server is slow, so
// requests pile up), the executor starts another, up to MAX_VUS; the
// iteration keeps its scheduled time, and the wait shows in
// llm_client_queue (scheduled → request written). That wait is
// coordinated omission made visible: latency measured from the scheduled
// time is what a user would have seen. When MAX_VUS are all busy, an
// arrival is dropped and counted in dropped_iterations: the server was
// offered less than RATE. A run with dropped iterations measured an
// overloaded server; raise MAX_VUS to see how deep its queue gets, or
// lower RATE to find what it sustains.
//
// In the analysis: llm_client_queue and dropped_iterations in the summary
// (both 0 when the server kept up), goodput against RATE, and in
// `llmbench analyze` the client_queue and server_queue parts of the p95
// band: a growing server_queue at a fixed rate means the rate is above
// the server's capacity.
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';
import { verify } from './lib/verify.js';
import { str, num, int, duration, fmt, slo, rate } from './lib/env.js';

const RATE = num('RATE', 2);
const ARRIVAL = str('ARRIVAL', 'poisson');
const PRE_VUS = int('PRE_VUS', Math.max(2, Math.ceil(2 * RATE)), 1);
const MAX_VUS = int('MAX_VUS', Math.max(PRE_VUS, Math.ceil(20 * RATE)), PRE_VUS);
const MAX_TOKENS = int('MAX_TOKENS', 32, 1);

const scenario = Object.assign(
  {
    executor: 'constant-arrival-rate',
    duration: fmt(duration('DURATION', '1m')),
    preAllocatedVUs: PRE_VUS,
    maxVUs: MAX_VUS,
    arrival: ARRIVAL,
  },
  rate(RATE, 'RATE'),
);
if (ARRIVAL === 'poisson') scenario.seed = int('SEED', 1);

export const options = {
  scenarios: { open_loop: scenario },
  slo: slo(),
  thresholds: {
    llm_failed: [`rate<=${num('MAX_ERROR_RATE', 0.01)}`],
  },
};

const c = client();

export default function () {
  const res = c.generate(request(pick(__VU * 31 + __ITER), { max_tokens: MAX_TOKENS, temperature: 0.7, do_sample: true }));
  verify(res);
}
