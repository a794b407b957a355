// Text of an exact length in GPT-2 tokens, for the prompt-length sweep
// and the mixed workload's context. Every word below is one GPT-2 token
// with its leading space, and GPT-2 never merges across a space, so
// words(n, offset) is exactly n tokens for refserver and any GPT-2 BPE
// server (other tokenizers count them differently; requests.jsonl records
// what the server counted). The offset rotates the words, so that prompts
// differ from their first token and a server's prefix cache cannot answer
// them from an earlier request.
const WORDS = (
  ' the system will read the data and write a report for each model that runs on the server in this test' +
  ' we measure how long it takes to answer one request when many people send their work at the same time' +
  ' so the queue grows and every step of the batch has more to do than before which is why time per token rises with load'
).match(/ [a-z]+/g);

export function words(n, offset) {
  const start = offset || 0;
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(WORDS[(start + i) % WORDS.length]);
  }
  return out.join('');
}

// WORD_COUNT is the number of distinct positions words() rotates through.
export const WORD_COUNT = WORDS.length;
