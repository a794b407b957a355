// Shared by the scenarios: where to send the load, and a client for it.
//
//   --env TARGET=http://127.0.0.1:8000   the server's base URL (default refserver's)
//   --env PROTOCOL=generate              generate (refserver's /generate/stream),
//                                        openai-completions or openai-chat
//   --env MODEL=gpt2                     the model name OpenAI-compatible servers want
//   --env API_KEY=...                    sent as Authorization: Bearer <key> (vLLM's
//                                        --api-key, llama-server's --api-key, OpenAI)
//   --env SERVER_KIND=vllm               what the server is, for run.json and the report
//                                        (llama.cpp, vllm, tgi, openai, ...); by default
//                                        llmbench tells from its headers and /v1/models
import llm from 'k6/x/llm';

export const TARGET = __ENV.TARGET || 'http://127.0.0.1:8000';
export const PROTOCOL = __ENV.PROTOCOL || 'generate';
export const MODEL = __ENV.MODEL || 'gpt2';

export function client(opts) {
  const base = { baseURL: TARGET, protocol: PROTOCOL, model: MODEL, timeout: '120s' };
  if (__ENV.API_KEY) base.headers = { Authorization: `Bearer ${__ENV.API_KEY}` };
  if (__ENV.SERVER_KIND) base.serverKind = __ENV.SERVER_KIND;
  return new llm.Client(Object.assign(base, opts || {}));
}

// request builds the parameters for the protocol in use: a prompt, or the
// same text as one user message for chat.
export function request(prompt, params) {
  const p = Object.assign({}, params || {});
  if (PROTOCOL === 'openai-chat') {
    p.messages = [{ role: 'user', content: prompt }];
  } else {
    p.prompt = prompt;
  }
  return p;
}
