// The live dashboard of `llmbench run --dashboard`: it draws the run's
// intervals (one a second, the lines of timeseries.jsonl) as they arrive
// over server-sent events, and keeps them when the run ends.
(function () {
  'use strict';
  const charts = {};
  const series = {
    rate: [[], []], ttft: [[], [], []], tpot: [[], [], [], []], tokens: [[]], vus: [[], [], []],
  };
  let points = 0;
  let ended = null;
  let requests = 0;
  let errors = 0;

  function chart(id, names, opts) {
    const c = echarts.init(document.getElementById(id), null, { renderer: 'canvas' });
    c.setOption({
      animation: false,
      grid: { left: 56, right: opts && opts.right ? 56 : 20, top: 30, bottom: 30 },
      legend: { top: 0 },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'value', name: 's', min: 0 },
      yAxis: opts && opts.right ? [{ type: 'value', min: 0 }, { type: 'value', min: 0 }] : { type: 'value', min: 0 },
      series: names.map((n, i) => ({
        name: n, type: 'line', showSymbol: false, data: [],
        step: opts && opts.step && opts.step[i] ? 'end' : false,
        yAxisIndex: opts && opts.right && opts.right[i] ? 1 : 0,
      })),
    });
    return c;
  }

  function init() {
    charts.rate = chart('c-rate', ['completed/s', 'errors/s']);
    charts.ttft = chart('c-ttft', ['p50', 'p95', 'p99']);
    charts.tpot = chart('c-tpot', ['TPOT p50', 'TPOT p95', 'ITL p50', 'ITL p95']);
    charts.tokens = chart('c-tokens', ['output tokens/s']);
    charts.vus = chart('c-vus', ['VUs', 'in flight', 'dropped'], { step: [true, true, false] });
    window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
  }

  function q(x, k) { return x ? x[k] : null; }

  function add(iv) {
    const t = Math.round(iv.elapsed_s * 10) / 10;
    const push = (name, vals) => vals.forEach((v, i) => { if (v !== null && v !== undefined) series[name][i].push([t, v]); });
    push('rate', [iv.requests_per_s, iv.requests_per_s > 0 ? iv.errors * iv.requests_per_s / Math.max(iv.requests, 1) : 0]);
    push('ttft', [q(iv.ttft, 'p50'), q(iv.ttft, 'p95'), q(iv.ttft, 'p99')]);
    push('tpot', [q(iv.tpot, 'p50'), q(iv.tpot, 'p95'), q(iv.itl, 'p50'), q(iv.itl, 'p95')]);
    push('tokens', [iv.output_tokens_per_s]);
    push('vus', [iv.vus, iv.in_flight, iv.dropped_iterations]);
    points++;
    requests += iv.requests;
    errors += iv.errors;
    set('f-elapsed', fmtElapsed(iv.elapsed_s));
    set('f-requests', String(requests));
    set('f-errors', String(errors));
    set('f-rps', iv.requests_per_s.toFixed(1));
    set('f-ttft', iv.ttft ? iv.ttft.p95.toFixed(0) : '–');
    set('f-tokens', iv.output_tokens_per_s.toFixed(0));
    set('f-vus', String(iv.vus));
  }

  function draw() {
    for (const [name, c] of Object.entries(charts)) {
      c.setOption({ series: series[name].map((d) => ({ data: d })) });
    }
  }

  function set(id, text) { document.getElementById(id).textContent = text; }

  function fmtElapsed(s) {
    const m = Math.floor(s / 60);
    const sec = Math.floor(s % 60);
    return m + ':' + String(sec).padStart(2, '0');
  }

  function status(text, link) {
    const el = document.getElementById('status');
    el.textContent = text;
    if (link) {
      el.append(' · ');
      const a = document.createElement('a');
      a.href = link;
      a.textContent = 'the report';
      el.append(a);
    }
  }

  function connect() {
    const es = new EventSource('/events');
    es.addEventListener('open', () => { if (!ended) status('running'); });
    es.addEventListener('interval', (ev) => {
      add(JSON.parse(ev.data));
      draw();
    });
    es.addEventListener('end', (ev) => {
      ended = JSON.parse(ev.data);
      es.close();
      document.body.classList.add('ended');
      let text = 'run ' + ended.status + ' · ' + ended.dir;
      if (ended.error) text += ' · ' + ended.error;
      status(text, ended.report);
    });
    es.addEventListener('error', () => {
      if (ended) return;
      es.close();
      // The load generator is gone (it exits with the run): the charts stay.
      status('the load generator is gone: the charts show the run up to its last second');
    });
  }

  // For the browser test: how many intervals are drawn, and the end.
  window.llmbenchDashboard = {
    points: () => points,
    drawn: () => Object.values(charts).map((c) => c.getOption().series.reduce((n, s) => n + s.data.length, 0)),
    ended: () => ended,
  };

  init();
  connect();
})();
