// prompt-sweep: how prefill time grows with the prompt. One user sends
// prompts of 16, 64, 128, 256 and 512 tokens, several of each, asking for
// a single output token, so that the time to first token is the server's
// prefill (plus queueing and network, which one user keeps near zero).
// `llmbench analyze` fits prefill_ms = intercept + slope · input_tokens
// over the traced requests: the slope is the prefill cost per input token
// (ms), the intercept the fixed cost of a request.
//
//   llmbench run --otlp-endpoint 127.0.0.1:4317 --jaeger 127.0.0.1:16685 scenarios/prompt-sweep.js
//   llmbench run -e LENGTHS=32,128,512,1024 -e REPEAT=10 scenarios/prompt-sweep.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-completions -e MODEL=my-model scenarios/prompt-sweep.js
//   llmbench analyze runs/<id>          (the "prefill" fit line: ms per input token)
//
// Knobs (-e KEY=VALUE):
//   LENGTHS=16,64,128,256,512   the prompt lengths, in GPT-2 tokens; each plus MAX_TOKENS must
//                               fit the model's context (1024 for GPT-2; 128 for the test's tiny
//                               model, so the test uses LENGTHS=8,16,32,64,96)
//   REPEAT=5                    requests per length; the lengths are interleaved (16, 64, ...,
//                               512, 16, 64, ...), so that drift spreads over all of them
//   MAX_TOKENS=1                tokens to generate (1: the request is all prefill)
//   SEED=1                      rotates the prompt words
//   TTFT_MAX=10000              threshold: no request's time to first token over this (ms)
//   TARGET, PROTOCOL, MODEL     the server (lib/target.js)
//
// The prompts are exact in GPT-2 tokens (lib/filler.js) and each starts
// differently, so a server with a prefix cache (vLLM's
// --enable-prefix-caching) cannot serve one from another. Servers with
// other tokenizers count them differently: requests.jsonl records the
// server's count (input_tokens), and the fit uses it. With
// PROTOCOL=openai-chat the chat template adds a few tokens to each.
//
// In the analysis: the prefill fit needs traces (the prefill span), so
// run with --otlp-endpoint and --jaeger, and refserver with the same
// --otlp-endpoint. Without them, llm_ttft tagged by input_len in the
// summary (and ttft_ms against input_tokens in requests.jsonl) tells the
// same story from the client's side. A slope that grows with the length
// means attention (quadratic) is starting to dominate; a large intercept
// against a small slope means fixed per-request costs dominate short
// prompts.
import { client, request } from './lib/target.js';
import { words, WORD_COUNT } from './lib/filler.js';
import { verify } from './lib/verify.js';
import { num, int, ints } from './lib/env.js';

const LENGTHS = ints('LENGTHS', '16,64,128,256,512');
const REPEAT = int('REPEAT', 5, 1);
const MAX_TOKENS = int('MAX_TOKENS', 1, 1);
const SEED = int('SEED', 1);
const TTFT_MAX = num('TTFT_MAX', 10000);

export const options = {
  scenarios: {
    prompt_sweep: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: LENGTHS.length * REPEAT,
      maxDuration: '30m',
    },
  },
  thresholds: thresholds(),
};

// thresholds: every length must work (a prompt too long for the model's
// context is an error worth stopping on, not a data point), and be
// measured REPEAT times; its time to first token must stay under
// TTFT_MAX. Listing each length also puts llm_ttft{input_len:N} in the
// end-of-test summary.
function thresholds() {
  const t = { llm_failed: ['rate==0'] };
  for (const n of LENGTHS) {
    t[`llm_requests{input_len:${n}}`] = [`count>=${REPEAT}`];
    t[`llm_ttft{input_len:${n}}`] = [`max<${TTFT_MAX}`];
  }
  return t;
}

const c = client();

export default function () {
  const n = LENGTHS[__ITER % LENGTHS.length];
  const tags = { input_len: String(n) };
  const prompt = words(n, (SEED * 7 + __ITER * 13) % WORD_COUNT);
  const res = c.generate(request(prompt, { max_tokens: MAX_TOKENS, temperature: 0 }), { tags: tags });
  verify(res, tags);
}
