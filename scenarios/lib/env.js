// Shared by the scenarios: reading their -e knobs (numbers, lists,
// durations) with defaults, and the SLOs goodput is counted against.
//
//   --env SLO_TTFT=500    time to first token objective, ms (default 500)
//   --env SLO_TPOT=30     time per output token objective, ms (default 30)
//   --env SLO_E2E=10000   whole-request objective, ms (default: none)
//
// The defaults are the original report's own GPU projection, as
// baseline.js uses. A knob given a value that is not what it needs stops
// the run in the init code (exit 107) with a message that names it.

// str is __ENV[name], or def when it is unset or empty.
export function str(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : String(v);
}

// num is __ENV[name] as a number, or def.
export function num(name, def) {
  const v = str(name, '');
  if (v === '') return def;
  const n = Number(v);
  if (!isFinite(n)) throw new Error(`-e ${name}=${v}: not a number`);
  return n;
}

// int is __ENV[name] as a whole number of at least min, or def.
export function int(name, def, min) {
  const n = num(name, def);
  const lo = min === undefined ? 0 : min;
  if (n !== Math.floor(n) || n < lo) throw new Error(`-e ${name}=${n}: want a whole number of at least ${lo}`);
  return n;
}

// bool is __ENV[name] as a flag (1, true, yes, on), or def.
export function bool(name, def) {
  const v = str(name, '');
  if (v === '') return def;
  return ['1', 'true', 'yes', 'on'].indexOf(v.toLowerCase()) >= 0;
}

// ints is __ENV[name] as a comma-separated list of positive whole numbers
// (e.g. LEVELS=1,2,4), or def (a string in the same form).
export function ints(name, def) {
  const v = str(name, def);
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (out.length === 0 || out.some((n) => !isFinite(n) || n !== Math.floor(n) || n < 1)) {
    throw new Error(`-e ${name}=${v}: want a comma-separated list of positive whole numbers`);
  }
  return out;
}

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

// ms parses a k6 duration ('30s', '1m30s', '500ms', '2h', or a number of
// milliseconds) into milliseconds.
export function ms(d) {
  const s = String(d).trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(s)) return Number(s);
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/g;
  let total = 0;
  let used = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    used += m[0].length;
  }
  if (used === 0 || used !== s.length) throw new Error(`${s}: not a duration (e.g. 30s, 1m30s, 500ms)`);
  return total;
}

// duration is __ENV[name] (or def) as milliseconds.
export function duration(name, def) {
  const v = str(name, def);
  try {
    return ms(v);
  } catch (e) {
    throw new Error(`-e ${name}=${v}: not a duration (e.g. 30s, 1m30s, 500ms)`);
  }
}

// fmt renders milliseconds as a duration string for options ('90s',
// '1500ms'), so that run.json reads like the script.
export function fmt(msec) {
  const r = Math.round(msec);
  return r % 1000 === 0 ? `${r / 1000}s` : `${r}ms`;
}

// slo is options.slo from SLO_TTFT, SLO_TPOT and SLO_E2E.
export function slo() {
  const o = { ttft: num('SLO_TTFT', 500), tpot: num('SLO_TPOT', 30) };
  const e2e = num('SLO_E2E', 0);
  if (e2e > 0) o.e2e = e2e;
  return o;
}

// rate turns requests per second (2, 0.5, 2.5) into an arrival-rate
// executor's whole-number rate and its timeUnit: per second when it is a
// whole number, else per minute (0.5/s is 30 per minute).
export function rate(perSecond, name) {
  if (!(perSecond > 0)) throw new Error(`-e ${name}=${perSecond}: want a rate above 0 requests per second`);
  if (perSecond === Math.floor(perSecond)) return { rate: perSecond, timeUnit: '1s' };
  const perMinute = Math.round(perSecond * 60);
  if (perMinute < 1) throw new Error(`-e ${name}=${perSecond}: below one request per minute`);
  return { rate: perMinute, timeUnit: '1m' };
}
