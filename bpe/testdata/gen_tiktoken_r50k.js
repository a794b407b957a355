// Writes tiktoken_r50k.jsonl: reference encodings of r50k_base made by
// OpenAI's tiktoken (its Rust core, through the npm package's WASM build).
// Each line is {"s": text, "ids": [...]}, with special tokens disallowed.
//
//	npm install tiktoken@1.0.22 && node gen_tiktoken_r50k.js
const { get_encoding } = require("tiktoken");
const fs = require("fs");

const enc = get_encoding("r50k_base");
const alphabet = ["a", "b", "Z", "x", "e", "s", "t", "l", "d", "m", "r", "v",
  " ", " ", " ", "  ", "\t", "\n", "\r\n", "\u000b", "\u000c", "0", "7", "42",
  "!", ".", ",", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL",
  "\"", "-", "(", ")", "é", "ö", "ß", "中", "文", "日本", "Ж", "д", "😀", "👍🏽",
  "🇺🇸", "\u00a0", "\u3000", "\u2028", "\u0085", "\u001c", "\u001f", "\u0301",
  "²", "Ⅻ", "٣", "_", "$", "…", "—", "\u200b", "\ufeff", "\ufffd", "\u0000",
  "ﬁ", "ǅ", "ʰ", "<|endoftext|>"];
let seed = 12345;
function rnd(n) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}
const cases = [
  "Hello world", "The quick brown fox jumps over the lazy dog.", "<|endoftext|>",
  "I'm", "don't", "they'll", "abc123", "a  b", "a\n\nb", "trailing   ",
  "héllo wörld", "😀", "你好世界", "  ", "   leading", "a\t\tb", "x'sy",
  "we've'd", "'''s", "$$$ 100,000.00", " ".repeat(10) + "x", "\n\n\n",
  "def f(x):\n    return x * 2\n", "1234567890123", "Ünïcödé wörds ÆØÅ",
  "ℌ𝔢𝔩𝔩𝔬", "a".repeat(300), "ab".repeat(200), "😀".repeat(80),
];
for (let i = 0; i < 400; i++) {
  let s = "";
  for (let j = 1 + rnd(12); j > 0; j--) s += alphabet[rnd(alphabet.length)];
  cases.push(s);
}
let long = "";
for (let j = 0; j < 600; j++) long += "abcxyqet"[rnd(8)];
cases.push(long);
const lines = cases.map((s) => JSON.stringify({ s, ids: Array.from(enc.encode(s, [], [])) }));
fs.writeFileSync("tiktoken_r50k.jsonl", lines.join("\n") + "\n");
