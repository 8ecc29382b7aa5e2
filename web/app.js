// The monitor dashboard: plain DOM and inline SVG over the read-only JSON API, no build step.
// Routes: #/ (executions and runs), #/runs/<run_id> (a run: counts, plots, STF files, pilots, slices).

const POLL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
const view = document.getElementById('view');
const updated = document.getElementById('updated');
let timer;
let generation = 0;

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** An element with attributes (on* are listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat())
    el.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const ms = (iso) => (iso ? Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z')) : Number.NaN);
const clock = (iso) => (iso ? iso.slice(11, 19) : '');
const fixed = (x, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : '');
const status = (v) => h('span', { class: `status-${v}` }, v ?? '');
/** Percentiles as "p50 / p95 ms", or a dash before any slice is done (no delay, rather than 0 ms). */
const spread = (p) => (p.count === 0 ? '–' : `${fixed(p.p50, 0)} / ${fixed(p.p95, 0)} ms`);

function table(rows, columns, empty = 'none yet') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', {}, c.label ?? c.key)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          columns.map((c) => h('td', {}, c.cell ? c.cell(r) : (r[c.key] ?? ''))),
        ),
      ),
    ),
  );
}

function card(label, value, testid) {
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-testid': testid }, value),
  );
}

/** A line through points {x, y} (numbers), axes from 0, two ticks each. */
function lineChart(points, { width = 460, height = 220, xLabel, yLabel, testid }) {
  const pad = { l: 44, r: 12, t: 12, b: 32 };
  const xMax = Math.max(...points.map((p) => p.x), 0) || 1;
  const yMax = Math.max(1, ...points.map((p) => p.y));
  const x = (v) => pad.l + (v / xMax) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / yMax) * (height - pad.t - pad.b);
  const path = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`)
    .join(' ');
  return s(
    'svg',
    { width, height, viewBox: `0 0 ${width} ${height}`, 'data-testid': testid },
    s('line', { class: 'axis', x1: pad.l, y1: y(0), x2: width - pad.r, y2: y(0) }),
    s('line', { class: 'axis', x1: pad.l, y1: y(0), x2: pad.l, y2: pad.t }),
    s('text', { x: pad.l, y: height - 18 }, '0'),
    s('text', { x: width - pad.r, y: height - 18, 'text-anchor': 'end' }, fixed(xMax)),
    s('text', { x: pad.l - 4, y: y(yMax) + 4, 'text-anchor': 'end' }, String(yMax)),
    s('text', { x: (pad.l + width - pad.r) / 2, y: height - 4, 'text-anchor': 'middle' }, xLabel),
    s('text', { x: pad.l + 6, y: pad.t + 8 }, yLabel),
    points.length > 0 ? s('path', { class: 'series', d: path }) : [],
  );
}

/** Bars of a histogram [{from_ms, to_ms, count}]. */
function barChart(bins, { width = 460, height = 220, xLabel, testid }) {
  const pad = { l: 44, r: 12, t: 12, b: 32 };
  const yMax = Math.max(1, ...bins.map((b) => b.count));
  const w = (width - pad.l - pad.r) / Math.max(1, bins.length);
  const y = (v) => height - pad.b - (v / yMax) * (height - pad.t - pad.b);
  const last = bins.at(-1);
  return s(
    'svg',
    { width, height, viewBox: `0 0 ${width} ${height}`, 'data-testid': testid },
    bins.map((b, i) =>
      s(
        'rect',
        {
          class: 'bar',
          x: pad.l + i * w + 1,
          y: y(b.count),
          width: Math.max(1, w - 2),
          height: y(0) - y(b.count),
        },
        s('title', {}, `${b.from_ms}–${b.to_ms} ms: ${b.count}`),
      ),
    ),
    s('line', { class: 'axis', x1: pad.l, y1: y(0), x2: width - pad.r, y2: y(0) }),
    s('text', { x: pad.l, y: height - 18 }, '0'),
    s('text', { x: width - pad.r, y: height - 18, 'text-anchor': 'end' }, last ? `${last.to_ms} ms` : ''),
    s('text', { x: pad.l - 4, y: y(yMax) + 4, 'text-anchor': 'end' }, String(yMax)),
    s('text', { x: (pad.l + width - pad.r) / 2, y: height - 4, 'text-anchor': 'middle' }, xLabel),
  );
}

const runLink = (r) => h('a', { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.run_id);

async function listView() {
  const [executions, runs] = await Promise.all([
    api('/api/executions?limit=1000'),
    api('/api/runs?limit=1000'),
  ]);
  return [
    h('h1', {}, 'Executions'),
    table(
      executions.items,
      [
        { key: 'execution_id', label: 'execution' },
        { key: 'run_id', label: 'run', cell: runLink },
        { key: 'status', cell: (r) => status(r.status) },
        { key: 'phase' },
        { key: 'stf_files', label: 'STF files' },
        { key: 'start_time', label: 'started', cell: (r) => r.start_time ?? '' },
        { key: 'duration_seconds', label: 'duration (s)', cell: (r) => fixed(r.duration_seconds) },
      ],
      'No executions yet: testbed run prompt_processing',
    ),
    h('h2', {}, 'Runs'),
    table(
      runs.items,
      [
        { key: 'run_id', label: 'run', cell: runLink },
        { key: 'status', cell: (r) => status(r.status) },
        { key: 'phase' },
        { key: 'task_id', label: 'task' },
        { key: 'dataset' },
        { key: 'dataset_state', label: 'dataset state' },
        { key: 'stf_files', label: 'STF files' },
        { key: 'total_stf_files', label: 'announced' },
      ],
      'No runs yet',
    ),
  ];
}

async function runView(runId) {
  const base = `/api/runs/${encodeURIComponent(runId)}`;
  const [run, delays, stfs, pilots, slices] = await Promise.all([
    api(base),
    api(`${base}/delays`),
    api(`${base}/stf-files?limit=1000`),
    api(`${base}/pilots?limit=1000`),
    api(`${base}/slices?limit=100`),
  ]);
  const t0 = ms(delays.done_over_time[0]?.at ?? run.start_time);
  const series = [
    { x: 0, y: 0 },
    ...delays.done_over_time.map((p) => ({ x: (ms(p.at) - t0) / 1000, y: p.done })),
  ];
  const live = run.status === 'running' || run.status === 'pending';
  const content = [
    h(
      'h1',
      {},
      `Run ${run.run_id} `,
      status(run.status),
      h('span', { class: 'muted' }, ` ${run.execution_id ?? ''}`),
    ),
    h(
      'div',
      { class: 'cards' },
      card('status', run.status, 'run-status'),
      card('phase', run.phase ?? '-', 'run-phase'),
      card(
        'STF files',
        `${run.stfs.registered}${run.stfs.announced === undefined ? '' : ` / ${run.stfs.announced}`}`,
        'stf-files-count',
      ),
      card('slices done', String(run.slices.done), 'slices-done'),
      card('slices expected', String(run.slices.expected), 'slices-expected'),
      card('slices failed', String(run.slices.failed), 'slices-failed'),
      card(
        'pilots',
        Object.entries(run.pilots.by_state)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'none',
        'pilots',
      ),
      card('result hosts', String(run.result_hosts.length), 'result-hosts-count'),
      card('delay p50 / p95', spread(run.delay_ms), 'delay'),
    ),
    h('h2', {}, 'Plots'),
    h(
      'div',
      { class: 'plots' },
      h(
        'div',
        { class: 'plot' },
        lineChart(series, { xLabel: 's since the first result', yLabel: 'slices done', testid: 'done-plot' }),
      ),
      h(
        'div',
        { class: 'plot' },
        barChart(delays.histogram, {
          xLabel: 'delay (processed_at − requested_at)',
          testid: 'delay-histogram',
        }),
      ),
    ),
    h('h2', {}, `STF files (${stfs.items.length})`),
    table(stfs.items, [
      { key: 'filename' },
      { key: 'sequence' },
      { key: 'status', cell: (r) => status(r.status) },
      { key: 'state' },
      { key: 'size' },
      { key: 'checksum' },
      { key: 'slices', cell: (r) => `${r.slices_done} / ${r.slice_count ?? '?'}` },
    ]),
    h('h2', {}, `Pilots (${pilots.items.length})`),
    table(
      pilots.items,
      [
        { key: 'pilot_id', label: 'pilot' },
        { key: 'state', cell: (r) => status(r.state) },
        { key: 'hostname', label: 'host' },
        { key: 'pid' },
        { key: 'started_at', label: 'started', cell: (r) => clock(r.started_at) },
        { key: 'last_heartbeat_at', label: 'last heartbeat', cell: (r) => clock(r.last_heartbeat_at) },
        { key: 'slices_done', label: 'slices' },
      ],
      run.pilots.note ?? 'none yet',
    ),
    // Whoever reported results, from the slices: also transformers the worker adjuster did not start.
    h('h2', {}, `Result hosts (${run.result_hosts.length})`),
    h(
      'div',
      { 'data-testid': 'result-hosts' },
      table(
        run.result_hosts,
        [
          { key: 'hostname', label: 'host', cell: (r) => r.hostname ?? 'unknown' },
          { key: 'pilot_id', label: 'pilot' },
          { key: 'done' },
          { key: 'failed' },
        ],
        'no results yet',
      ),
    ),
    h('h2', {}, `Slices (first ${slices.items.length} of ${run.slices.done + run.slices.failed} recorded)`),
    table(slices.items, [
      { key: 'filename' },
      { key: 'slice_id', label: 'slice' },
      { key: 'status', cell: (r) => status(r.status) },
      { key: 'pilot_id', label: 'pilot' },
      { key: 'delay', label: 'delay (ms)', cell: (r) => fixed(ms(r.processed_at) - ms(r.requested_at), 0) },
      { key: 'error' },
    ]),
  ];
  return { content, live };
}

async function render() {
  const mine = ++generation;
  clearTimeout(timer);
  const route = location.hash.replace(/^#/, '') || '/';
  const match = /^\/runs\/([^/]+)$/.exec(route);
  let live = true;
  try {
    let content;
    if (match) ({ content, live } = await runView(decodeURIComponent(match[1])));
    else content = await listView();
    if (mine !== generation) return;
    view.replaceChildren(...content);
    updated.textContent = `updated ${new Date().toLocaleTimeString()}${live ? '' : ' (run over: not polling)'}`;
  } catch (error) {
    if (mine !== generation) return;
    view.replaceChildren(h('p', { class: 'error' }, String(error.message ?? error)));
  }
  // While the run goes (and on the lists), poll every second; a finished run's page stays as it is.
  if (live && mine === generation) timer = setTimeout(render, POLL_MS);
}

window.addEventListener('hashchange', render);
render();
