// own-server: measure a server you run, llama.cpp's llama-server, vLLM,
// TGI or any OpenAI-compatible one, at 1, 4 and 8 users in turn, with
// 128-token prompts and 64 output tokens, and check that every request
// succeeds.
//
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat -e MODEL=my-model scenarios/own-server.js
//   llmbench run -e TARGET=http://gpu-box:8000/v1 -e PROTOCOL=openai-completions -e MODEL=meta-llama/Llama-3.1-8B-Instruct \
//                -e API_KEY=$VLLM_API_KEY -e SERVER_KIND=vllm -e STEP=1m scenarios/own-server.js
//
// Knobs (-e KEY=VALUE):
//   TARGET, PROTOCOL, MODEL, API_KEY, SERVER_KIND   the server (lib/target.js); PROTOCOL is
//                      openai-chat (default here) or openai-completions for other servers
//   LEVELS=1,4,8       users, one level after the other
//   STEP=30s           how long each level lasts
//   PROMPT_TOKENS=128  prompt length in GPT-2 tokens (the server's own tokenizer counts its own)
//   MAX_TOKENS=64      tokens to generate; ignore_eos is sent so that each request makes them all
//   MAX_ERROR_RATE=0   threshold on llm_failed
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs of goodput (lib/env.js)
//
// What llmbench reads from each server (docs/LOADGEN.md, "Servers"):
// llama.cpp's timings (prompt_ms, predicted_per_token_ms) and vLLM's
// per-request metrics land in requests.jsonl as server_* next to the
// client's numbers, with ttft_over_server_ms, the part of TTFT the server
// does not count. A kept-alive connection the server closed is retried on
// a fresh one (retries in requests.jsonl), never counted as a server error.
// An event that carries several tokens is flagged (multi_token_first_event)
// and TPOT divides by the tokens after it.
import { words, WORD_COUNT } from './lib/filler.js';
import { client } from './lib/target.js';
import { verify } from './lib/verify.js';
import { num, int, ints, duration, fmt, slo } from './lib/env.js';

const LEVELS = ints('LEVELS', '1,4,8');
const STEP = duration('STEP', '30s');
const MAX_TOKENS = int('MAX_TOKENS', 64, 1);
const PROMPT_TOKENS = int('PROMPT_TOKENS', 128, 1);

const scenarios = {};
LEVELS.forEach((vus, i) => {
  scenarios[`users_${vus}`] = {
    executor: 'constant-vus',
    vus,
    duration: fmt(STEP),
    startTime: fmt(i * STEP),
    gracefulStop: '30s',
  };
});

export const options = {
  scenarios,
  slo: slo(),
  thresholds: {
    llm_failed: [`rate<=${num('MAX_ERROR_RATE', 0)}`],
  },
};

const PROTO = __ENV.PROTOCOL || 'openai-chat';
const c = client({ protocol: PROTO });

export default function () {
  // A different rotation per request, so that a prefix cache does not
  // answer from an earlier one.
  const prompt = words(PROMPT_TOKENS, (__VU * 31 + __ITER * 7) % WORD_COUNT);
  const params = { max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true };
  if (PROTO === 'openai-chat') {
    params.messages = [{ role: 'user', content: prompt }];
  } else {
    params.prompt = prompt;
  }
  verify(c.generate(params));
}
