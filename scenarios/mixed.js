// mixed: a realistic mix of requests instead of one kind. Short chat
// questions, classification with a few output tokens, code with long
// answers, summaries and retrieval-augmented questions over long
// contexts, all arriving together (an open loop, Poisson arrivals). Each
// request's input and output lengths are drawn from distributions around
// its prompt's hints, with a seeded random generator (lib/random.js), and
// each is tagged with its class, so every class gets its own sub-metrics.
// Long prefills and long decodes share the batch here: this is where a
// server's scheduling shows (a chat answer stuck behind a 500-token
// summary prefill).
//
//   llmbench run scenarios/mixed.js                                      (2 requests/s for 2 minutes, against refserver)
//   llmbench run -e RATE=4 -e MIX=chat:6,code:2,summarize:1,rag:1 scenarios/mixed.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat -e MODEL=my-model -e CONTEXT=4096 scenarios/mixed.js
//
// The prompts are data/prompts.jsonl (or PROMPTS=path, relative to this
// script), one JSON object a line, read once with open() into a
// SharedArray that every VU reads:
//   class           the request's class (its tag), e.g. "chat"
//   prompt          the text
//   input_tokens    the prompt's length in GPT-2 tokens (a hint, for the context budget)
//   context_tokens  the median length of filler context put before the prompt (0: none)
//   output_tokens   the median answer length: max_tokens is drawn around it
//
// Lengths. The context of a request is lognormal with median
// context_tokens and INPUT_SIGMA; max_tokens is lognormal with median
// output_tokens and OUTPUT_SIGMA, clipped to [MIN_OUTPUT, MAX_OUTPUT]; the
// whole prompt is kept within MAX_INPUT. The draws of a request are a
// function of SEED, its VU and its iteration: the same seed gives the
// same draws, though which VU takes which arrival depends on timing, so
// two runs match in distribution, not request for request. The server
// decides the real output length: a model that ends early (EOS) answers
// shorter, unless IGNORE_EOS=1 (refserver and vLLM honor ignore_eos;
// other servers may refuse the field).
//
// Knobs (-e KEY=VALUE):
//   RATE=2 DURATION=2m SEED=1   arrivals per second, for how long (the test uses DURATION=3s), the seed
//                               of the Poisson arrivals and of the lengths
//   MIX=chat:4,code:2,...       class weights (default: the file's own proportions, line by line)
//   CONTEXT=1024                the model's context in tokens (128 for the test's tiny model)
//   MIN_OUTPUT=16 MAX_OUTPUT=256  the clip of max_tokens
//   MAX_INPUT                   the longest prompt (default CONTEXT − MAX_OUTPUT)
//   INPUT_SIGMA=0.5 OUTPUT_SIGMA=0.6  the spread of the lognormal draws
//   IGNORE_EOS=0                send ignore_eos: true, so answers run to max_tokens
//   MAX_VUS                     the client's concurrency cap (default 20×RATE, at least 4)
//   MAX_ERROR_RATE=0.01         threshold on llm_failed
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs (lib/env.js)
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// In the analysis: the summary's llm_ttft{class:...} and llm_tpot{class:...}:
// short classes whose TTFT suffers from long ones' prefill point at
// chunked prefill (refserver's --step-tokens) or a separate pool; in
// `llmbench analyze`, the prefill fit over the many input lengths, and
// decode_shared growing with the batch.
import { SharedArray } from 'k6/data';
import { client, request, PROTOCOL } from './lib/target.js';
import { words, WORD_COUNT } from './lib/filler.js';
import { rng, clip } from './lib/random.js';
import { verify } from './lib/verify.js';
import { str, num, int, bool, duration, fmt, slo, rate } from './lib/env.js';

const PROMPTS_FILE = str('PROMPTS', './data/prompts.jsonl');
const RATE = num('RATE', 2);
const SEED = int('SEED', 1);
const CONTEXT = int('CONTEXT', 1024, 2);
const MIN_OUTPUT = int('MIN_OUTPUT', 16, 1);
const MAX_OUTPUT = int('MAX_OUTPUT', 256, MIN_OUTPUT);
const MAX_INPUT = int('MAX_INPUT', CONTEXT - MAX_OUTPUT, 1);
const INPUT_SIGMA = num('INPUT_SIGMA', 0.5);
const OUTPUT_SIGMA = num('OUTPUT_SIGMA', 0.6);
const IGNORE_EOS = bool('IGNORE_EOS', false);
const MAX_VUS = int('MAX_VUS', Math.max(4, Math.ceil(20 * RATE)), 1);

// MARGIN is room left in MAX_INPUT for what joins the context to the
// prompt and, with PROTOCOL=openai-chat, for the chat template.
const MARGIN = PROTOCOL === 'openai-chat' ? 16 : 4;

const prompts = new SharedArray('prompts', () => {
  const out = [];
  open(PROMPTS_FILE)
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let p;
      try {
        p = JSON.parse(line);
      } catch (e) {
        throw new Error(`${PROMPTS_FILE} line ${i + 1}: ${e.message}`);
      }
      if (typeof p.class !== 'string' || typeof p.prompt !== 'string' || !(p.input_tokens > 0) || !(p.output_tokens > 0) || !(p.context_tokens >= 0)) {
        throw new Error(`${PROMPTS_FILE} line ${i + 1}: want class, prompt, input_tokens > 0, context_tokens >= 0 and output_tokens > 0`);
      }
      if (p.input_tokens + MARGIN > MAX_INPUT) {
        throw new Error(`${PROMPTS_FILE} line ${i + 1}: the prompt's ${p.input_tokens} tokens do not fit MAX_INPUT=${MAX_INPUT}`);
      }
      out.push(p);
    });
  if (out.length === 0) throw new Error(`${PROMPTS_FILE}: no prompts`);
  return out;
});

// byClass indexes the prompts by class, for MIX.
const byClass = {};
for (let i = 0; i < prompts.length; i++) {
  (byClass[prompts[i].class] = byClass[prompts[i].class] || []).push(i);
}

// mix is MIX parsed: [{name, weight}], or null for the file's proportions.
const mix = (() => {
  const v = str('MIX', '');
  if (v === '') return null;
  return v.split(',').map((part) => {
    const [name, w] = part.split(':');
    const weight = Number(w === undefined ? 1 : w);
    if (!byClass[name]) throw new Error(`-e MIX=${v}: no prompt of class ${name} (classes: ${Object.keys(byClass).join(', ')})`);
    if (!(weight >= 0)) throw new Error(`-e MIX=${v}: ${part}: want class:weight`);
    return { name: name, weight: weight };
  });
})();

export const options = {
  scenarios: {
    mixed: Object.assign(
      {
        executor: 'constant-arrival-rate',
        duration: fmt(duration('DURATION', '2m')),
        preAllocatedVUs: Math.min(MAX_VUS, Math.max(2, Math.ceil(2 * RATE))),
        maxVUs: MAX_VUS,
        arrival: 'poisson',
        seed: SEED,
      },
      rate(RATE, 'RATE'),
    ),
  },
  slo: slo(),
  thresholds: {
    llm_failed: [`rate<=${num('MAX_ERROR_RATE', 0.01)}`],
  },
};

// draw picks a prompt and its lengths for one request.
function draw(r) {
  let i;
  if (mix === null) {
    i = r.int(prompts.length);
  } else {
    const idx = byClass[mix[r.weighted(mix.map((m) => m.weight))].name];
    i = idx[r.int(idx.length)];
  }
  const p = prompts[i];
  let context = 0;
  if (p.context_tokens > 0) {
    context = clip(r.lognormal(p.context_tokens, INPUT_SIGMA), 0, MAX_INPUT - p.input_tokens - MARGIN);
  }
  const maxTokens = clip(r.lognormal(p.output_tokens, OUTPUT_SIGMA), MIN_OUTPUT, MAX_OUTPUT);
  const text = context > 0 ? `${words(context, r.int(WORD_COUNT))}\n\n${p.prompt}` : p.prompt;
  return { cls: p.class, text: text, maxTokens: maxTokens };
}

const c = client();

export default function () {
  const d = draw(rng(SEED, __VU, __ITER));
  const params = { max_tokens: d.maxTokens, temperature: 0.7, do_sample: true };
  if (IGNORE_EOS) params.ignore_eos = true;
  const tags = { class: d.cls };
  const res = c.generate(request(d.text, params), { tags: tags });
  verify(res, tags);
}
