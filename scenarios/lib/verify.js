// Shared by the scenarios: every LLM result is checked, and its failure
// recorded in llm_failed, a Rate (1 for a failed request), so that
// thresholds can bound the error rate: llm_failed: ['rate<0.01'].
// Tags given (e.g. { class: 'chat' }) go on both, so sub-metrics such as
// 'llm_failed{class:chat}' work too.
import { check } from 'k6';
import { Rate } from 'k6/metrics';

export const failed = new Rate('llm_failed');

export function verify(res, tags) {
  failed.add(!res.ok, tags);
  return check(res, { ok: (r) => r.ok }, tags);
}
