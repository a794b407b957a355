// concurrency-sweep: how much load the server takes before it saturates.
// The load rises in steps, 1 → 2 → 4 → 8 → 16 → 32 users, each sending one
// request after another (a closed loop, as baseline.js), each step a
// scenario of its own named after its level (vus_1, vus_2, ... vus_32) and
// started when the previous one ends. `llmbench analyze` finds those names
// (three or more scenarios with the load level in their names) and builds
// the saturation table: throughput, achieved concurrency and p95 latency
// per level, the knee where throughput stops rising while latency climbs,
// and the capacity at the SLOs.
//
//   llmbench run scenarios/concurrency-sweep.js                          (6 steps of 30 s, against refserver)
//   llmbench run -e STEP=1m -e LEVELS=1,2,4,8,16,32,64 scenarios/concurrency-sweep.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-completions -e MODEL=my-model scenarios/concurrency-sweep.js
//   llmbench analyze runs/<id>          (the SATURATION table, and the knee)
//
// Knobs (-e KEY=VALUE):
//   LEVELS=1,2,4,8,16,32   the VUs of each step
//   STEP=30s               how long each step runs (the test uses STEP=1s)
//   GAP=5s                 a pause between steps, so that the last requests of one step end
//                          before the next starts (0s in the test); requests still running
//                          then finish (gracefulStop 60s), overlapping the next step a little
//   MAX_TOKENS=32          tokens to generate per request
//   MAX_ERROR_RATE=0.01    threshold on llm_failed
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs (lib/env.js); capacity at SLO uses ttft and e2e
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// In the analysis: the saturation table's knee (the last level before
// throughput gains less than 5 % while p95 latency grows more than 10 %),
// and at the levels past it, which part grew: server_queue when requests
// wait for a batch slot (raise the max batch size, if memory allows),
// decode_shared when the batch is full and every step is slower (the
// device is the limit). With refserver, compare its --max-batch (8 by
// default) with the knee.
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';
import { verify } from './lib/verify.js';
import { num, int, ints, duration, fmt, slo } from './lib/env.js';

const LEVELS = ints('LEVELS', '1,2,4,8,16,32');
const STEP = duration('STEP', '30s');
const GAP = duration('GAP', '5s');
const MAX_TOKENS = int('MAX_TOKENS', 32, 1);

const scenarios = {};
LEVELS.forEach((vus, i) => {
  scenarios[`vus_${vus}`] = {
    executor: 'constant-vus',
    vus: vus,
    duration: fmt(STEP),
    startTime: fmt(i * (STEP + GAP)),
    gracefulStop: '60s',
    tags: { level: String(vus) },
  };
});

export const options = {
  scenarios: scenarios,
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
