// chat-streams: each user holds several streams at once, as a chat UI
// does when it generates a reply, a title and suggestions in parallel, or
// as an agent fans out tool calls. A VU opens STREAMS streams with
// client.generateAsync, waits for all of them (Promise.all), then thinks
// for THINK before its next turn. So the server sees VUS × STREAMS
// concurrent streams from VUS users, and each user's turn lasts as long
// as its slowest stream.
//
//   llmbench run scenarios/chat-streams.js                               (2 users × 4 streams for 1 minute)
//   llmbench run -e VUS=8 -e STREAMS=4 -e DURATION=5m scenarios/chat-streams.js
//   llmbench run -e TARGET=http://127.0.0.1:8080 -e PROTOCOL=openai-chat -e MODEL=my-model scenarios/chat-streams.js
//
// Knobs (-e KEY=VALUE):
//   VUS=2              users
//   STREAMS=4          streams each user holds at once
//   DURATION=1m        how long the users go on (the test shortens to seconds)
//   THINK=1s           pause between a user's turns
//   MAX_TOKENS=32      tokens to generate per stream
//   MAX_ERROR_RATE=0.01  threshold on llm_failed (failed requests / requests)
//   SLO_TTFT, SLO_TPOT, SLO_E2E  the SLOs of goodput (lib/env.js)
//   TARGET, PROTOCOL, MODEL      the server (lib/target.js)
//
// Each request is tagged stream=0..STREAMS-1, and the turn's duration
// (all its streams done) is the trend llm_turn. The streams are read on
// goroutines of their own: the timings of one stream do not wait for the
// script or for the other streams.
//
// In the analysis: llm_turn against llm_e2e (a turn is as slow as its
// slowest stream, so its p95 is the p95 of the max of STREAMS streams),
// and TTFT by stream: on a server that batches, the streams of a turn
// arrive together and share a prefill step; on one that does not, the
// later streams queue behind the first.
import { sleep } from 'k6';
import { Trend } from 'k6/metrics';
import { client, request } from './lib/target.js';
import { pick } from './lib/prompts.js';
import { verify } from './lib/verify.js';
import { num, int, duration, fmt, slo } from './lib/env.js';

const STREAMS = int('STREAMS', 4, 1);
const MAX_TOKENS = int('MAX_TOKENS', 32, 1);
const THINK = duration('THINK', '1s') / 1000;

export const options = {
  scenarios: {
    chat_streams: {
      executor: 'constant-vus',
      vus: int('VUS', 2, 1),
      duration: fmt(duration('DURATION', '1m')),
    },
  },
  slo: slo(),
  thresholds: {
    llm_failed: [`rate<=${num('MAX_ERROR_RATE', 0.01)}`],
  },
};

const turn = new Trend('llm_turn', true);
const c = client();

export default async function () {
  const start = Date.now();
  const streams = [];
  for (let i = 0; i < STREAMS; i++) {
    const params = request(pick(__VU * 131 + __ITER * STREAMS + i), { max_tokens: MAX_TOKENS, temperature: 0.7, do_sample: true });
    streams.push(c.generateAsync(params, { tags: { stream: String(i) } }));
  }
  const results = await Promise.all(streams);
  turn.add(Date.now() - start);
  results.forEach((res, i) => verify(res, { stream: String(i) }));
  sleep(THINK);
}
