// soak: a long, steady, moderate load, to find what only time shows:
// memory that grows, a KV cache that fragments, latency that creeps up,
// a server that falls over after an hour. Requests arrive at a constant
// rate (an open loop, see open-loop.js) for 30 minutes by default, and
// the thresholds bound the error rate and the p95 latencies over the
// whole run; an error rate gone bad aborts the run early instead of
// wasting the rest of it.
//
//   llmbench run scenarios/soak.js                                       (1 request/s for 30 minutes, against refserver)
//   llmbench run -e DURATION=2h -e RATE=3 scenarios/soak.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-completions -e MODEL=my-model scenarios/soak.js
//
// Trace sampling. Tracing every request of a long run costs Jaeger
// memory and the server some time; sample instead. The load generator
// decides, and refserver follows its decision (the traceparent's sampled
// flag) for the requests' spans; give refserver the same ratio for the
// traces it starts itself (engine.step):
//
//   refserver --otlp-endpoint 127.0.0.1:4317 --trace-sample-ratio 0.1
//   llmbench run --otlp-endpoint 127.0.0.1:4317 --trace-sample-ratio 0.1 \
//       --jaeger 127.0.0.1:16685 --prometheus http://127.0.0.1:9090 scenarios/soak.js
//   llmbench analyze runs/<id>
//
// Every request is still in requests.jsonl, with its trace id. The
// analyzer splits the sampled tenth through their traces and attributes
// the rest from the client's record alone; its coverage line counts those
// as missing traces, which here is the sampling, not a fault.
//
// Knobs (-e KEY=VALUE):
//   DURATION=30m       how long the load runs (the test uses DURATION=3s)
//   RATE=1             requests per second; fractions work (0.5 is 30 per minute)
//   MAX_TOKENS=32      tokens to generate per request
//   MAX_VUS            the client's concurrency cap (default 20×RATE, at least 4)
//   MAX_ERROR_RATE=0.01  threshold on llm_failed; over it for a minute aborts the run
//   TTFT_P95=2000      threshold on llm_ttft p(95), ms
//   E2E_P95=10000      threshold on llm_e2e p(95), ms
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs of goodput (lib/env.js)
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// In the analysis: in the report, latency over time should be flat; a
// slope is the finding. With Prometheus, process memory and
// llm_kv_cache_usage_ratio over the run; dropped_iterations and
// llm_client_queue stay at 0 while the server keeps up.
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';
import { verify } from './lib/verify.js';
import { num, int, duration, fmt, slo, rate } from './lib/env.js';

const RATE = num('RATE', 1);
const MAX_TOKENS = int('MAX_TOKENS', 32, 1);
const MAX_VUS = int('MAX_VUS', Math.max(4, Math.ceil(20 * RATE)), 1);

export const options = {
  scenarios: {
    soak: Object.assign(
      {
        executor: 'constant-arrival-rate',
        duration: fmt(duration('DURATION', '30m')),
        preAllocatedVUs: Math.min(MAX_VUS, Math.max(2, Math.ceil(2 * RATE))),
        maxVUs: MAX_VUS,
      },
      rate(RATE, 'RATE'),
    ),
  },
  slo: slo(),
  thresholds: {
    llm_failed: [{ threshold: `rate<=${num('MAX_ERROR_RATE', 0.01)}`, abortOnFail: true, delayAbortEval: '1m' }],
    llm_ttft: [`p(95)<${num('TTFT_P95', 2000)}`],
    llm_e2e: [`p(95)<${num('E2E_P95', 10000)}`],
  },
};

const c = client();

export default function () {
  const res = c.generate(request(pick(__VU * 31 + __ITER), { max_tokens: MAX_TOKENS, temperature: 0.7, do_sample: true }));
  verify(res);
}
