// smoke: is the target up and streaming? One VU, five short requests,
// every response checked. Run it first against any new target.
//
//   llmbench run scenarios/smoke.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat scenarios/smoke.js
//
// Thresholds: no errors, and every check passes.
import { check } from 'k6';
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';

export const options = {
  scenarios: {
    smoke: { executor: 'shared-iterations', vus: 1, iterations: 5, maxDuration: '2m' },
  },
  thresholds: {
    llm_errors: ['count==0'],
    checks: ['rate==1'],
  },
};

const c = client();

export default function () {
  const res = c.generate(request(pick(__ITER), { max_tokens: 16, temperature: 0.7, do_sample: true }));
  check(res, {
    'status is 200': (r) => r.status === 200,
    'streamed text': (r) => r.ok && r.text.length > 0,
    'has a trace id': (r) => r.trace_id.length === 32,
    'ttft measured': (r) => r.ttft > 0,
  });
}
