// Varied prompts, as the original report's load test used: short
// questions, instructions and open-ended starts of different lengths.
export const PROMPTS = [
  'The future of artificial intelligence is',
  'Once upon a time, in a small village by the sea,',
  'Explain how a transformer language model generates text, step by step.',
  'Write a short poem about the ocean at night.',
  'The three most important things to know about distributed systems are',
  'In 1969, the first humans landed on the Moon. The mission',
  'A good way to reduce the latency of a web service is',
  'Translate to French: The weather is nice today and we are going to the park.',
  'List five tips for writing clear technical documentation:',
  'The recipe for a simple tomato soup starts with',
  'Describe the water cycle to a ten-year-old.',
  'The stock market reacted to the news by',
  'Here is a summary of the meeting notes from Tuesday:',
  'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
  'My favourite book is about a detective who',
  'The key differences between CPUs and GPUs for machine learning are',
];

export function pick(i) {
  return PROMPTS[i % PROMPTS.length];
}
