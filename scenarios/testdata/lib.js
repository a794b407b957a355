// Checks of the scenarios' shared JS, run by TestLibraries: the seeded
// generator and its distributions, the knob parsers and the filler. No
// server is needed; every check must pass.
import { check } from 'k6';
import { rng, clip } from '../lib/random.js';
import { ms, fmt, rate, ints } from '../lib/env.js';
import { words, WORD_COUNT } from '../lib/filler.js';

export const options = {
  scenarios: { lib: { executor: 'shared-iterations', vus: 1, iterations: 1 } },
};

function draws(r, n, f) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(f(r));
  return out;
}

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function throws(f) {
  try {
    f();
  } catch (e) {
    return true;
  }
  return false;
}

export default function () {
  const N = 20001;
  const a = draws(rng(1, 2, 3), 100, (r) => r.next());
  const b = draws(rng(1, 2, 3), 100, (r) => r.next());
  const c = draws(rng(1, 2, 4), 100, (r) => r.next());
  const u = draws(rng(7), N, (r) => r.next());
  const mean = u.reduce((s, x) => s + x, 0) / N;
  const ln = draws(rng(8), N, (r) => r.lognormal(64, 0.6));
  const nm = draws(rng(9), N, (r) => r.normal());
  const nmean = nm.reduce((s, x) => s + x, 0) / N;
  const nsd = Math.sqrt(nm.reduce((s, x) => s + (x - nmean) * (x - nmean), 0) / N);
  const w = draws(rng(10), N, (r) => r.weighted([1, 3]));
  const share = w.filter((i) => i === 1).length / N;
  const ints10 = draws(rng(11), N, (r) => r.int(10));
  const clipped = draws(rng(12), 1000, (r) => clip(r.lognormal(64, 2), 16, 256));

  check(null, {
    'rng: the same seed gives the same stream': () => a.join() === b.join(),
    'rng: another seed gives another stream': () => a.join() !== c.join(),
    'rng: uniform in [0, 1)': () => u.every((x) => x >= 0 && x < 1),
    'rng: uniform mean 0.5 ± 0.01': () => Math.abs(mean - 0.5) < 0.01,
    'rng: normal mean 0 ± 0.03, sd 1 ± 0.03': () => Math.abs(nmean) < 0.03 && Math.abs(nsd - 1) < 0.03,
    'rng: lognormal median 64 ± 3 %': () => Math.abs(median(ln) / 64 - 1) < 0.03,
    'rng: weighted [1, 3] picks the second 75 % ± 2 %': () => Math.abs(share - 0.75) < 0.02,
    'rng: int(10) covers 0..9 and nothing else': () => new Set(ints10).size === 10 && ints10.every((i) => i >= 0 && i < 10),
    'clip: whole numbers within bounds, both bounds reached': () =>
      clipped.every((x) => x >= 16 && x <= 256 && x === Math.round(x)) && clipped.indexOf(16) >= 0 && clipped.indexOf(256) >= 0,
    'env.ms: 1m30s, 500ms, 2h, 1500': () => ms('1m30s') === 90000 && ms('500ms') === 500 && ms('2h') === 7200000 && ms('1500') === 1500 && ms('1.5s') === 1500,
    'env.ms: refuses 10 minutes, 5x, empty': () => throws(() => ms('10 minutes')) && throws(() => ms('5x')) && throws(() => ms('')),
    'env.fmt: seconds when whole, else ms': () => fmt(90000) === '90s' && fmt(1500) === '1500ms' && fmt(0) === '0s',
    'env.rate: whole per second, else per minute': () => {
      const r2 = rate(2, 'R');
      const r05 = rate(0.5, 'R');
      return r2.rate === 2 && r2.timeUnit === '1s' && r05.rate === 30 && r05.timeUnit === '1m' && throws(() => rate(0, 'R'));
    },
    'env.ints: a list, default when unset': () => ints('LIB_TEST_UNSET', '1,2, 4').join() === '1,2,4',
    'filler: n words, rotated by the offset': () => {
      const s = words(10, 3);
      return s.match(/ [a-z]+/g).length === 10 && s !== words(10, 4) && words(WORD_COUNT + 5, 0).match(/ [a-z]+/g).length === WORD_COUNT + 5;
    },
  });
}
