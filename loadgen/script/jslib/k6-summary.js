// llmbench's built-in equivalent of jslib's k6-summary
// (https://grafana.com/docs/k6/latest/results-output/end-of-test/custom-summary/),
// written from its documentation. It answers for
// https://jslib.k6.io/k6-summary/<version>/index.js when that module is
// neither cached nor reachable (or with --offline).
import summary from 'k6/x/summary';

// textSummary renders handleSummary's data as the end-of-test summary
// does. options: indent (the left margin, ' ' by default, then four
// spaces), enableColors (ANSI colours, off by default).
export function textSummary(data, options) {
  const o = options || {};
  return summary.text(JSON.stringify(data), o.indent === undefined ? ' ' : String(o.indent), !!o.enableColors);
}

function xml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

// jUnit renders the thresholds as a JUnit XML test suite, one test case
// per threshold, failed when the threshold failed. options: name (the
// suite's, "k6 thresholds" by default) and classname ("Unnamed folder").
export function jUnit(data, options) {
  const o = options || {};
  const name = o.name || 'k6 thresholds';
  const classname = o.classname || 'Unnamed folder';
  const cases = [];
  let failures = 0;
  for (const metric of Object.keys(data.metrics || {}).sort()) {
    const ths = data.metrics[metric].thresholds || {};
    for (const expr of Object.keys(ths)) {
      const testName = xml(`${metric} - ${expr}`);
      if (ths[expr].ok) {
        cases.push(`<testcase name="${testName}" classname="${xml(classname)}" />`);
      } else {
        failures++;
        cases.push(`<testcase name="${testName}" classname="${xml(classname)}"><failure message="${xml(`${metric} threshold failed: ${expr}`)}" /></testcase>`);
      }
    }
  }
  return (
    `<?xml version="1.0"?>\n<testsuites tests="${cases.length}" failures="${failures}">\n` +
    `<testsuite name="${xml(name)}" tests="${cases.length}" failures="${failures}">` +
    cases.join('\n') +
    '\n</testsuite>\n</testsuites>'
  );
}
