// baseline: the original report's load test. It load-tested a FastAPI +
// PyTorch GPT-2 service with Locust: 5 users spawned at 1 per second,
// for 2 minutes, each sending a varied prompt with max_tokens between 20
// and 50, temperature 0.7, sampling on, one request after another. That
// report measured TTFT p95 7.7 s, TPOT 0.3 s and 0.12 req/s at 5 users.
//
//   llmbench run scenarios/baseline.js
//   llmbench run -e HOLD=25s scenarios/baseline.js            (shortened, as make demo does)
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-completions scenarios/baseline.js
//
// Locust waits between a user's requests only when told to; the report's
// users did not, so neither do these VUs. Goodput counts the requests that
// met the SLOs below (the report's own GPU projection: TTFT ≤ 0.5 s,
// TPOT ≤ 30 ms).
import { check } from 'k6';
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';

// HOLD is how long the 5 VUs run after the 5 s ramp: 2 minutes in all.
const HOLD = __ENV.HOLD || '115s';

export const options = {
  scenarios: {
    baseline: {
      executor: 'ramping-vus',
      startVUs: 0,
      // 1 VU per second up to 5, then hold for the rest of the test.
      stages: [
        { duration: '5s', target: 5 },
        { duration: HOLD, target: 5 },
      ],
      gracefulRampDown: '30s',
    },
  },
  slo: { ttft: 500, tpot: 30 },
  thresholds: {
    'llm_errors': ['count<1'],
  },
};

const c = client();

export default function () {
  // max_tokens from 20 to 50, spread over the iterations.
  const maxTokens = 20 + ((__VU * 7 + __ITER * 13) % 31);
  const res = c.generate(request(pick(__VU * 31 + __ITER), { max_tokens: maxTokens, temperature: 0.7, do_sample: true }), {
    tags: { max_tokens: String(maxTokens - (maxTokens % 10)) },
  });
  check(res, { 'ok': (r) => r.ok });
}
