// llmbench's built-in equivalent of jslib's k6-utils
// (https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/), written
// from its documentation. It answers for https://jslib.k6.io/k6-utils/<version>/index.js
// when that module is neither cached nor reachable (or with --offline).
import { check as k6check } from 'k6';
import { randomBytes } from 'k6/crypto';
import exec from 'k6/execution';

// randomIntBetween returns an integer from min to max, both included.
export function randomIntBetween(min, max) {
  return Math.floor(Math.random() * (max - min + 1) + min);
}

// randomItem returns one element of arr.
export function randomItem(arr) {
  return arr[Math.floor(Math.random() * arr.length)];
}

// randomString returns length characters drawn from charset (a to z by
// default).
export function randomString(length, charset) {
  const chars = charset === undefined ? 'abcdefghijklmnopqrstuvwxyz' : String(charset);
  let out = '';
  for (let i = 0; i < length; i++) {
    out += chars.charAt(Math.floor(Math.random() * chars.length));
  }
  return out;
}

// uuidv4 returns a random (version 4) UUID; secure draws its bytes from a
// cryptographic generator.
export function uuidv4(secure) {
  let b;
  if (secure) {
    b = new Uint8Array(randomBytes(16));
  } else {
    b = new Uint8Array(16);
    for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  }
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = [];
  for (let i = 0; i < 16; i++) hex.push((b[i] + 0x100).toString(16).slice(1));
  return `${hex.slice(0, 4).join('')}-${hex.slice(4, 6).join('')}-${hex.slice(6, 8).join('')}-${hex.slice(8, 10).join('')}-${hex.slice(10).join('')}`;
}

// findBetween returns the text between left and right: the first one, ''
// when there is none; with repeat, every one, as an array.
export function findBetween(content, left, right, repeat) {
  const found = [];
  let from = 0;
  for (;;) {
    const start = content.indexOf(left, from);
    if (start < 0) break;
    const begin = start + left.length;
    const end = content.indexOf(right, begin);
    if (end < 0) break;
    found.push(content.substring(begin, end));
    if (!repeat) break;
    from = end + right.length;
  }
  if (repeat) return found;
  return found.length > 0 ? found[0] : '';
}

// normalDistributionStages returns numberOfStages stages (10 by default)
// lasting durationSeconds in all, whose targets follow a bell curve that
// peaks at maxVus in the middle of the test.
export function normalDistributionStages(maxVus, durationSeconds, numberOfStages) {
  const n = numberOfStages === undefined ? 10 : numberOfStages;
  const sigma = 1 / 6; // the test spans ±3σ
  const stages = [];
  for (let i = 0; i < n; i++) {
    const seconds = Math.floor((durationSeconds * (i + 1)) / n) - Math.floor((durationSeconds * i) / n);
    const x = n === 1 ? 0.5 : i / (n - 1);
    const target = Math.round(maxVus * Math.exp(-((x - 0.5) ** 2) / (2 * sigma * sigma)));
    stages.push({ duration: `${seconds}s`, target: i === n - 1 ? target : Math.max(1, target) });
  }
  return stages;
}

// parseDuration reads a k6 duration ("1m30s", "200ms", "2h") in ms.
function parseDuration(d) {
  if (typeof d === 'number') return d;
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g;
  let m;
  while ((m = re.exec(String(d))) !== null) {
    const v = parseFloat(m[1]);
    ms += { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 }[m[2]] * v;
  }
  return ms;
}

function currentStages() {
  const sc = exec.test.options.scenarios[exec.scenario.name];
  if (!sc || !Array.isArray(sc.stages)) {
    throw new Error(`the scenario ${exec.scenario.name} has no stages: getCurrentStageIndex works with ramping-vus and ramping-arrival-rate`);
  }
  return sc;
}

// getCurrentStageIndex returns the index of the stage the scenario is in
// now (the last one once all have passed).
export function getCurrentStageIndex() {
  const sc = currentStages();
  const elapsed = Date.now() - exec.scenario.startTime;
  let end = 0;
  for (let i = 0; i < sc.stages.length; i++) {
    end += parseDuration(sc.stages[i].duration);
    if (elapsed < end) return i;
  }
  return sc.stages.length - 1;
}

// tagWithCurrentStageIndex tags the VU's samples from now on with
// stage=<index>.
export function tagWithCurrentStageIndex() {
  exec.vu.metrics.tags.stage = getCurrentStageIndex();
}

// tagWithCurrentStageProfile tags the VU's samples from now on with
// stage_profile: ramp-up, steady or ramp-down, by the stage's target
// against the one before it (the scenario's start value for the first).
export function tagWithCurrentStageProfile() {
  const sc = currentStages();
  const i = getCurrentStageIndex();
  const start = sc.startVUs !== undefined ? sc.startVUs : sc.startRate || 0;
  const prev = i === 0 ? start : sc.stages[i - 1].target;
  const cur = sc.stages[i].target;
  exec.vu.metrics.tags.stage_profile = cur > prev ? 'ramp-up' : cur < prev ? 'ramp-down' : 'steady';
}

// check is k6's check() for values and predicates that may be promises:
// it awaits them, then records each check as k6's does, and resolves to
// whether all held.
export async function check(val, sets, tags) {
  const v = await val;
  const results = {};
  for (const name of Object.keys(sets)) {
    const p = sets[name];
    try {
      results[name] = !!(await (typeof p === 'function' ? p(v) : p));
    } catch (e) {
      results[name] = false;
    }
  }
  const preds = {};
  for (const name of Object.keys(results)) preds[name] = () => results[name];
  return k6check(v, preds, tags);
}
