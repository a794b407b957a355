// A seeded random number generator for the scenarios, written in JS so
// that a run's draws are the same on every machine and every engine: the
// same SEED, VU and iteration give the same prompt and the same lengths.
//
//   const r = rng(SEED, __VU, __ITER);
//   r.next()                      uniform in [0, 1)
//   r.normal()                    standard normal (Box-Muller)
//   r.lognormal(median, sigma)    exp(ln(median) + sigma·normal)
//   r.int(n)                      0 .. n-1
//   r.weighted([w0, w1, ...])     an index, with probability w_i / Σw

// mix folds the seed parts into one 32-bit state (splitmix-style), so that
// nearby seeds give unrelated streams.
function mix(parts) {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

// rng returns a generator seeded by its arguments (numbers). It is
// mulberry32: 32 bits of state, a period of 2^32, and fast.
export function rng(...seed) {
  let a = mix(seed);
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    let u = next();
    while (u === 0) u = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  return {
    next,
    normal,
    lognormal: (median, sigma) => Math.exp(Math.log(median) + sigma * normal()),
    int: (n) => Math.floor(next() * n),
    weighted: (ws) => {
      const total = ws.reduce((s, w) => s + w, 0);
      let x = next() * total;
      for (let i = 0; i < ws.length; i++) {
        x -= ws[i];
        if (x < 0) return i;
      }
      return ws.length - 1;
    },
  };
}

// clip bounds x to [lo, hi] and rounds it to a whole number.
export function clip(x, lo, hi) {
  return Math.round(Math.min(hi, Math.max(lo, x)));
}
