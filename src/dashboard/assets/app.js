/* The tokenlay dashboard page: fetches the report, draws it, and refreshes it while open. */
/* global uPlot */
(function () {
  'use strict';
  const GROUPS = ['user', 'org', 'plan', 'project', 'feature', 'model'];
  const state = { window: '24h', filters: {}, group: 'user', sort: { table: null, key: null, dir: -1 }, report: null, chart: null, loading: false };
  const $ = (id) => document.getElementById(id);

  // Numbers for people, with the exact value in the title.
  function usd(v) {
    if (v === 0) return '$0';
    if (v < 0) return '-' + usd(-v);
    const a = Math.abs(v);
    if (a >= 100) return '$' + v.toLocaleString('en-US', { maximumFractionDigits: 0 });
    if (a >= 1) return '$' + v.toFixed(2);
    if (a >= 0.01) return '$' + v.toFixed(3).replace(/0$/, '');
    return '$' + v.toPrecision(2).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  }
  function exactUsd(v) {
    if (v < 0) return '-' + exactUsd(-v);
    return '$' + v.toFixed(8).replace(/0+$/, '').replace(/\.$/, '') + ' USD';
  }
  function count(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, '') + ' B';
    if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, '') + ' M';
    if (a >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, '') + ' k';
    return v.toLocaleString('en-US');
  }
  function time(ms) {
    return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }
  // An end at midnight UTC is the end of the day before: set until 2027-01-31, shown as that day.
  function endTime(ms) {
    return ms % 86400000 === 0 ? 'end of ' + new Date(ms - 1).toISOString().slice(0, 10) + ' UTC' : time(ms);
  }
  function el(tag, text, title, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (title) e.title = title;
    if (cls) e.className = cls;
    return e;
  }
  const cost = (v) => el('td', usd(v), exactUsd(v), 'num');
  // Where nothing matches, one row says so instead of an empty table.
  function noteRow(body, columns, text) {
    const tr = el('tr');
    const td = el('td', text, null, 'note');
    td.colSpan = columns;
    tr.append(td);
    body.append(tr);
  }
  const WINDOW_NAMES = { '24h': 'the last 24 hours', '7d': 'the last 7 days', '30d': 'the last 30 days', mtd: 'this month' };
  function filterText() {
    return Object.entries(state.filters).map(([k, v]) => k + ' = ' + v).join(', ');
  }
  /** What an empty window or filter result says. */
  function nothingText() {
    const when = WINDOW_NAMES[state.window] || 'this window';
    return Object.keys(state.filters).length ? 'No calls match ' + filterText() + ' in ' + when + '. Clear the filter to see every call.' : 'No calls in ' + when + '.';
  }
  const num = (v, unit) => el('td', count(v), v.toLocaleString('en-US') + (unit ? ' ' + unit : ''), 'num');

  function query() {
    const q = new URLSearchParams({ window: state.window });
    for (const [k, v] of Object.entries(state.filters)) q.set(k, v);
    return q;
  }

  async function load() {
    if (state.loading) return;
    state.loading = true;
    try {
      const res = await fetch('api/report?' + query(), { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (res.status === 401) {
        location.reload();
        return;
      }
      if (!res.ok) throw new Error('the report answered ' + res.status);
      state.report = await res.json();
      render();
      $('status').textContent = 'Updated ' + time(state.report.now);
    } catch (err) {
      $('status').textContent = 'Could not refresh: ' + err.message;
    } finally {
      state.loading = false;
    }
  }

  function render() {
    const r = state.report;
    $('empty').hidden = !r.empty;
    $('content').hidden = r.empty;
    document.body.dataset.loaded = String(Date.now());
    $('total-cost').textContent = usd(r.totals.cost);
    $('total-cost').title = exactUsd(r.totals.cost);
    $('total-tokens').textContent = count(r.totals.tokens);
    $('total-tokens').title = r.totals.tokens.toLocaleString('en-US') + ' tokens';
    $('total-calls').textContent = count(r.totals.calls);
    $('total-blocked').textContent = count(r.totals.blocked);
    const none = r.totals.calls + r.totals.blocked === 0;
    $('no-match').hidden = !none;
    $('no-match').textContent = none ? nothingText() : '';
    renderFilters();
    renderChart(r);
    renderLimits(r.limits);
    renderOverrides(r.overrides || [], r.credits || []);
    renderBreakdown();
    renderMargins(r.margins);
    renderRecent(r.recent);
  }

  function renderFilters() {
    const p = $('active-filters');
    p.textContent = '';
    const entries = Object.entries(state.filters);
    if (entries.length === 0) return;
    p.append('Showing only ');
    entries.forEach(([k, v], i) => {
      if (i) p.append(', ');
      p.append(el('strong', k + ' = ' + v));
    });
  }

  function renderChart(r) {
    const box = $('chart');
    const xs = r.series.map((p) => p.time / 1000);
    const data = [xs, r.series.map((p) => p.cost), r.series.map((p) => p.tokens)];
    const width = Math.max(280, box.clientWidth || 600);
    if (state.chart && state.chart.width === width) {
      state.chart.setData(data);
      return;
    }
    if (state.chart) state.chart.destroy();
    if (typeof uPlot !== 'function') return;
    state.chart = new uPlot(
      {
        width,
        height: 240,
        scales: { x: { time: true }, usd: { auto: true }, tok: { auto: true } },
        series: [
          // Off the chart, the legend shows the whole window's totals; over a bucket, that bucket's.
          { label: 'Time', value: (u, v) => (v == null ? 'whole window' : time(v * 1000)) },
          { label: 'Spend (USD)', scale: 'usd', stroke: '#1d4ed8', width: 2, fill: 'rgba(29,78,216,0.08)', value: (u, v) => usd(v == null ? state.report.totals.cost : v) },
          { label: 'Tokens', scale: 'tok', stroke: '#b45309', width: 2, dash: [6, 4], value: (u, v) => count(v == null ? state.report.totals.tokens : v) },
        ],
        axes: [
          { stroke: '#334155' },
          { scale: 'usd', stroke: '#1d4ed8', values: (u, vs) => vs.map(usd), size: 64 },
          { scale: 'tok', side: 1, stroke: '#b45309', values: (u, vs) => vs.map(count), grid: { show: false }, size: 60 },
        ],
      },
      data,
      box,
    );
    box.setAttribute('aria-label', 'Chart of spend (' + usd(r.totals.cost) + ') and tokens (' + count(r.totals.tokens) + ') from ' + time(r.from) + ' to ' + time(r.to));
  }

  // What a counter at its cap means for the calls it counts: what its rule does to them.
  const LIMIT_STATES = { blocked: 'Blocked', downgraded: 'Downgraded', queued: 'Queued', warned: 'Over, warned', near: 'Near limit' };
  function renderLimits(limits) {
    const body = $('limits').tBodies[0];
    body.textContent = '';
    if (limits.length === 0) {
      const who = Object.keys(state.filters).length ? ' matching ' + filterText() : '';
      noteRow(body, 6, 'No one' + who + ' is above 80 % of a limit.');
      return;
    }
    for (const l of limits) {
      const tr = el('tr', null, null, l.state);
      const used = l.type === 'cost' ? usd(l.used) + ' of ' + usd(l.max) : count(l.used) + ' of ' + count(l.max) + ' ' + l.type;
      tr.append(el('td', l.scope), el('td', l.ruleId), el('td', l.type + ' per ' + l.window), el('td', used + ' (' + Math.floor(l.fraction * 100) + ' %)', String(l.used)));
      const label = (LIMIT_STATES[l.state] || l.state) + (l.downgradeTo ? ' to ' + l.downgradeTo : '');
      tr.append(el('td', label, null, 'badge ' + l.state));
      tr.append(el('td', l.resetsAt === null ? 'never' : time(l.resetsAt)));
      body.append(tr);
    }
  }

  function renderOverrides(overrides, credits) {
    const body = $('overrides').tBodies[0];
    body.textContent = '';
    if (overrides.length === 0) noteRow(body, 5, 'No limit is set at run time.');
    for (const o of overrides) {
      const tr = el('tr', null, null, o.ended ? 'ended' : null);
      const max = o.type === 'cost' ? usd(o.max) : count(o.max) + ' ' + o.type;
      tr.append(el('td', o.who + (o.account ? '' : ' (every account)')), el('td', max + (o.type === 'concurrent' ? '' : ' per ' + o.window)));
      tr.append(el('td', o.until === null ? 'until cleared' : endTime(o.until) + (o.ended ? ' (ended)' : '')), el('td', o.setBy + ', ' + time(o.setAt)), el('td', o.note || ''));
      body.append(tr);
    }
    const cbody = $('credits').tBodies[0];
    cbody.textContent = '';
    if (credits.length === 0) noteRow(cbody, 4, 'No credits granted.');
    for (const c of credits) {
      const tr = el('tr', null, null, c.remaining === 0 ? 'blocked' : null);
      tr.append(el('td', c.who), el('td', usd(c.granted), null, 'num'), el('td', usd(c.used), null, 'num'), el('td', usd(c.remaining), null, 'num'));
      cbody.append(tr);
    }
  }

  // Sortable tables: a header button sorts by its column; the sort is kept across refreshes.
  function sortRows(table, rows, columns) {
    const s = state.sort;
    if (s.table !== table || !s.key) return rows;
    const col = columns.find((c) => c.key === s.key);
    return rows.slice().sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      return (typeof x === 'string' ? x.localeCompare(y) : x - y) * s.dir;
    });
  }
  function header(tableEl, columns) {
    const thead = tableEl.tHead;
    thead.textContent = '';
    const tr = el('tr');
    for (const c of columns) {
      const th = el('th', null, null, c.num ? 'num' : null);
      th.scope = 'col';
      const active = state.sort.table === tableEl.id && state.sort.key === c.key;
      th.setAttribute('aria-sort', active ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      const b = el('button', c.label + (active ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : ''), 'Sort by ' + c.label, 'sort');
      b.type = 'button';
      b.addEventListener('click', () => {
        if (state.sort.table === tableEl.id && state.sort.key === c.key) state.sort.dir = -state.sort.dir;
        else state.sort = { table: tableEl.id, key: c.key, dir: typeof c.value({ key: '', user: '', plan: '' }) === 'string' ? 1 : -1 };
        render();
      });
      th.append(b);
      tr.append(th);
    }
    thead.append(tr);
  }

  function renderBreakdown() {
    const r = state.report;
    const table = $('breakdown');
    const g = state.group;
    const columns = [
      { key: 'key', label: g, value: (x) => x.key },
      { key: 'calls', label: 'Calls', value: (x) => x.calls, num: true },
      { key: 'blocked', label: 'Refused', value: (x) => x.blocked, num: true },
      { key: 'tokens', label: 'Tokens', value: (x) => x.tokens, num: true },
      { key: 'cost', label: 'Cost', value: (x) => x.cost, num: true },
    ];
    header(table, columns);
    const body = table.tBodies[0];
    body.textContent = '';
    const b = r.breakdowns[g];
    if (b.groups.length === 0) noteRow(body, columns.length, nothingText());
    for (const row of sortRows('breakdown', b.groups, columns)) {
      const tr = el('tr');
      const th = el('th');
      th.scope = 'row';
      const f = el('button', row.key, 'Show only ' + g + ' = ' + row.key, 'link');
      f.type = 'button';
      f.addEventListener('click', () => setFilter(g, row.key));
      th.append(f);
      tr.append(th, num(row.calls, 'calls'), num(row.blocked, 'refused'), num(row.tokens, 'tokens'), cost(row.cost));
      body.append(tr);
    }
    const foot = table.tFoot;
    foot.textContent = '';
    const tr = el('tr');
    const th = el('th', 'Total');
    th.scope = 'row';
    tr.append(th, num(b.total.calls, 'calls'), num(b.total.blocked, 'refused'), num(b.total.tokens, 'tokens'), cost(b.total.cost));
    foot.append(tr);
    for (const t of document.querySelectorAll('.tab')) t.setAttribute('aria-pressed', String(t.dataset.group === g));
  }

  function marginCells(tr, m) {
    const margin = cost(m.margin);
    if (m.margin < 0) margin.className = 'num loss';
    tr.append(cost(m.revenue), cost(m.cost), margin);
  }

  function renderMargins(m) {
    $('margins-section').hidden = !m;
    if (!m) return;
    const plans = $('margins-plans');
    header(plans, [
      { key: 'plan', label: 'Plan', value: (x) => x.plan },
      { key: 'users', label: 'Users', value: (x) => x.users, num: true },
      { key: 'revenue', label: 'Revenue', value: (x) => x.revenue, num: true },
      { key: 'cost', label: 'LLM cost', value: (x) => x.cost, num: true },
      { key: 'margin', label: 'Margin', value: (x) => x.margin, num: true },
    ]);
    plans.tBodies[0].textContent = '';
    // Summed by the server in whole 1e-10 USD units: adding here would add float noise.
    const total = m.total;
    for (const p of m.plans) {
      const tr = el('tr');
      const th = el('th', p.plan, usd(p.price) + ' a ' + p.period);
      th.scope = 'row';
      tr.append(th, num(p.users, 'users'));
      marginCells(tr, p);
      plans.tBodies[0].append(tr);
    }
    plans.tFoot.textContent = '';
    const ft = el('tr');
    const fth = el('th', 'Total');
    fth.scope = 'row';
    ft.append(fth, num(total.users, 'users'));
    marginCells(ft, total);
    plans.tFoot.append(ft);

    const userCols = [
      { key: 'user', label: 'User', value: (x) => x.user },
      { key: 'plan', label: 'Plan', value: (x) => x.plan },
      { key: 'revenue', label: 'Revenue', value: (x) => x.revenue, num: true },
      { key: 'cost', label: 'LLM cost', value: (x) => x.cost, num: true },
      { key: 'margin', label: 'Margin', value: (x) => x.margin, num: true },
    ];
    const fill = (table, list) => {
      header(table, userCols);
      const body = table.tBodies[0];
      body.textContent = '';
      for (const u of sortRows(table.id, list, userCols)) {
        const tr = el('tr', null, null, u.margin < 0 ? 'unprofitable' : '');
        const th = el('th', u.user);
        th.scope = 'row';
        tr.append(th, el('td', u.plan));
        marginCells(tr, u);
        body.append(tr);
      }
    };
    $('unprofitable-none').hidden = m.unprofitable.length > 0;
    $('unprofitable').hidden = m.unprofitable.length === 0;
    fill($('unprofitable'), m.unprofitable);
    fill($('margins-users'), m.users);
  }

  function renderRecent(calls) {
    const body = $('recent').tBodies[0];
    body.textContent = '';
    if (calls.length === 0) noteRow(body, 7, nothingText());
    for (const c of calls) {
      const tr = el('tr');
      const order = (k) => (GROUPS.includes(k) ? GROUPS.indexOf(k) : GROUPS.length);
      const fields = Object.entries(c.fields)
        .sort((a, b) => order(a[0]) - order(b[0]) || a[0].localeCompare(b[0]))
        .map(([k, v]) => k + '=' + v)
        .join(' ');
      const action = (c.action || 'allow') + (c.ruleId ? ' (' + c.ruleId + ')' : '') + (c.status >= 400 ? ' · ' + c.status : '');
      tr.append(
        el('td', time(c.time)),
        el('td', fields || '–', null, 'fields'),
        el('td', c.modelRequested || '–'),
        el('td', c.modelUsed || '–'),
        el('td', count(c.inputTokens + c.outputTokens), c.inputTokens + ' in, ' + c.outputTokens + ' out', 'num'),
        cost(c.cost),
        el('td', action, null, 'action'),
      );
      body.append(tr);
    }
  }

  function setFilter(field, value) {
    if (value === '') delete state.filters[field];
    else state.filters[field] = value;
    load();
  }

  document.querySelectorAll('input[name=window]').forEach((r) =>
    r.addEventListener('change', () => {
      state.window = r.value;
      load();
    }),
  );
  $('filter').addEventListener('submit', (e) => {
    e.preventDefault();
    setFilter($('filter-field').value, $('filter-value').value.trim());
  });
  $('filter-clear').addEventListener('click', () => {
    state.filters = {};
    $('filter-value').value = '';
    load();
  });
  document.querySelectorAll('.tab').forEach((t) =>
    t.addEventListener('click', () => {
      state.group = GROUPS.includes(t.dataset.group) ? t.dataset.group : 'user';
      if (state.sort.table === 'breakdown') state.sort = { table: null, key: null, dir: -1 };
      render();
    }),
  );
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.report && renderChart(state.report), 150);
  });
  load();
  const every = Number(document.body.dataset.refreshMs) || 5000;
  setInterval(() => {
    if (!document.hidden) load();
  }, every);
})();
