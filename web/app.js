// The monitor dashboard: plain DOM and inline SVG over the read-only JSON API, no build step.
// Routes: #/ (executions and runs), #/runs/<run_id> (a run: counts, plots, STF files, pilots, slices, messages).

const POLL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
/** What the page shows for a figure that has no value yet (rather than 0, NaN or an empty cell). */
const DASH = '–';
const MESSAGES_SHOWN = 50;
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

/** Epoch ms of an API timestamp (canonical ISO, microseconds cut to what Date reads), NaN when absent. */
const ms = (iso) => (typeof iso === 'string' ? Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z')) : Number.NaN);
const known = (v) =>
  v !== undefined && v !== null && v !== '' && !(typeof v === 'number' && !Number.isFinite(v));
/** A figure as text, or the dash before it has a value. */
const figure = (v) => (known(v) ? String(v) : DASH);
const fixed = (x, digits = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : DASH);
const status = (v) => (known(v) ? h('span', { class: `status-${v}` }, v) : DASH);
/** Percentiles as "p50 / p95 ms", or a dash before any slice is done (no delay, rather than 0 ms). */
const spread = (p) => (p.count === 0 ? DASH : `${fixed(p.p50, 0)} / ${fixed(p.p95, 0)} ms`);
/** Milliseconds from one API timestamp to another, or the dash when either is missing. */
const between = (from, to) => fixed(ms(to) - ms(from), 0);

/** The page's one time style: UTC to the second, with the zone named ("2026-12-03 19:38:10 UTC"). */
function when(t) {
  const at = typeof t === 'number' ? t : ms(t);
  if (!Number.isFinite(at)) return DASH;
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
/** A time cell: the formatted time, the API's own timestamp kept in `datetime`. */
const time = (iso) => (Number.isFinite(ms(iso)) ? h('time', { datetime: iso }, when(iso)) : DASH);

function table(rows, columns, empty = 'none yet') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  const cell = (c, r) => {
    const v = c.cell ? c.cell(r) : r[c.key];
    return v instanceof Node ? v : figure(v);
  };
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
          columns.map((c) => h('td', {}, cell(c, r))),
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
    h('div', { class: 'value', 'data-testid': testid }, value instanceof Node ? value : figure(value)),
  );
}

/**
 * Round ticks from 0 past `max`: a step of 1, 2 or 5 × 10^k, the smallest that needs at most five
 * intervals, so 4–6 ticks. Counts (`integer`) step by whole numbers and reach at least 4.
 */
function ticks(max, { integer = false } = {}) {
  const top = Math.max(integer ? 4 : 0, known(max) && max > 0 ? max : 1);
  const power = 10 ** Math.floor(Math.log10(top / 5));
  const step =
    [1, 2, 5, 10].map((m) => m * power).find((st) => Math.ceil(top / st - 1e-9) <= 5) ?? 10 * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const n = Math.ceil(top / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toFixed(decimals)));
}

const PLOT = { width: 480, height: 260, pad: { l: 58, r: 16, t: 14, b: 46 } };

/** Both axes of a plot: lines, ticks with round labels, grid lines and a label with its unit on each. */
function axes({ xMax, yMax, xLabel, yLabel, xInteger = false, yInteger = true }) {
  const { width, height, pad } = PLOT;
  const xs = ticks(xMax, { integer: xInteger });
  const ys = ticks(yMax, { integer: yInteger });
  const xTop = xs.at(-1);
  const yTop = ys.at(-1);
  const x = (v) => pad.l + (v / xTop) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / yTop) * (height - pad.t - pad.b);
  const bottom = y(0);
  // Drawn first, so the data lie over it.
  const grid = s(
    'g',
    { class: 'grid' },
    ys.slice(1).map((v) => s('line', { x1: pad.l, y1: y(v), x2: width - pad.r, y2: y(v) })),
  );
  const elements = [
    s('line', { class: 'axis', x1: pad.l, y1: bottom, x2: width - pad.r, y2: bottom }),
    s('line', { class: 'axis', x1: pad.l, y1: bottom, x2: pad.l, y2: pad.t }),
    s(
      'g',
      { class: 'ticks', 'data-axis': 'x' },
      xs.map((v) =>
        s(
          'g',
          {},
          s('line', { class: 'axis', x1: x(v), y1: bottom, x2: x(v), y2: bottom + 4 }),
          s('text', { class: 'tick', x: x(v), y: bottom + 15, 'text-anchor': 'middle' }, String(v)),
        ),
      ),
    ),
    s(
      'g',
      { class: 'ticks', 'data-axis': 'y' },
      ys.map((v) =>
        s(
          'g',
          {},
          s('line', { class: 'axis', x1: pad.l - 4, y1: y(v), x2: pad.l, y2: y(v) }),
          s('text', { class: 'tick', x: pad.l - 7, y: y(v) + 3.5, 'text-anchor': 'end' }, String(v)),
        ),
      ),
    ),
    s(
      'text',
      {
        class: 'axis-label',
        'data-axis': 'x',
        x: (pad.l + width - pad.r) / 2,
        y: height - 8,
        'text-anchor': 'middle',
      },
      xLabel,
    ),
    s(
      'text',
      {
        class: 'axis-label',
        'data-axis': 'y',
        transform: `translate(14 ${(pad.t + bottom) / 2}) rotate(-90)`,
        'text-anchor': 'middle',
      },
      yLabel,
    ),
  ];
  return { x, y, grid, elements };
}

const plotFrame = (testid, ...children) =>
  s(
    'svg',
    {
      width: PLOT.width,
      height: PLOT.height,
      viewBox: `0 0 ${PLOT.width} ${PLOT.height}`,
      'data-testid': testid,
    },
    ...children,
  );

/** A note in the middle of a plot that has no data yet. */
const noData = (text) =>
  s(
    'text',
    { class: 'no-data', x: (PLOT.pad.l + PLOT.width) / 2, y: PLOT.height / 2, 'text-anchor': 'middle' },
    text,
  );

/** A cumulative count through points {x, y}, from the origin: steps, as the count rises only at a result. */
function stepChart(points, { xLabel, yLabel, testid }) {
  const { x, y, grid, elements } = axes({
    xMax: Math.max(0, ...points.map((p) => p.x)),
    yMax: Math.max(0, ...points.map((p) => p.y)),
    xLabel,
    yLabel,
  });
  const path = points
    .map((p, i) =>
      i === 0 ? `M${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}` : `H${x(p.x).toFixed(1)} V${y(p.y).toFixed(1)}`,
    )
    .join(' ');
  return plotFrame(
    testid,
    grid,
    elements,
    points.length > 1 ? s('path', { class: 'series', d: path }) : noData('no slice done yet'),
  );
}

/** Bars of a histogram [{from_ms, to_ms, count}] on a linear delay axis. */
function barChart(bins, { xLabel, yLabel, testid }) {
  const { x, y, grid, elements } = axes({
    xMax: bins.at(-1)?.to_ms ?? 0,
    yMax: Math.max(0, ...bins.map((b) => b.count)),
    xLabel,
    yLabel,
  });
  return plotFrame(
    testid,
    grid,
    bins.map((b) =>
      s(
        'rect',
        {
          class: 'bar',
          x: x(b.from_ms) + 0.5,
          y: y(b.count),
          width: Math.max(1, x(b.to_ms) - x(b.from_ms) - 1),
          height: y(0) - y(b.count),
        },
        s('title', {}, `${b.from_ms}–${b.to_ms} ms: ${b.count} slices`),
      ),
    ),
    elements,
    bins.length > 0 ? [] : noData('no slice done yet'),
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
        { key: 'start_time', label: 'started', cell: (r) => time(r.start_time) },
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
        { key: 'start_time', label: 'started', cell: (r) => time(r.start_time) },
      ],
      'No runs yet',
    ),
  ];
}

/** The fields that matter in a message, as the API gives them from its content: file, slice, state, delay, error. */
const messageColumns = [
  { key: 'created_at', label: 'time', cell: (m) => time(m.created_at) },
  { key: 'msg_type', label: 'type' },
  { key: 'sender' },
  { key: 'file' },
  { key: 'slice', cell: (m) => m.slice_id },
  { key: 'state', cell: (m) => status(m.refused !== undefined ? 'refused' : m.state) },
  { key: 'delay', label: 'delay (ms)', cell: (m) => fixed(m.delay_ms, 0) },
  { key: 'error' },
];

async function runView(runId) {
  const base = `/api/runs/${encodeURIComponent(runId)}`;
  const [run, delays, stfs, pilots, slices, messages] = await Promise.all([
    api(base),
    api(`${base}/delays`),
    api(`${base}/stf-files?limit=1000`),
    api(`${base}/pilots?limit=1000`),
    api(`${base}/slices?limit=100`),
    api(`${base}/messages?limit=${MESSAGES_SHOWN}`),
  ]);
  // The clock of the plot starts at the run's start (start_run), or at the first result before it is known.
  const first = ms(delays.done_over_time[0]?.at);
  const start = ms(run.start_time);
  const t0 = Number.isFinite(start) ? Math.min(start, first || start) : first;
  const series = [
    { x: 0, y: 0 },
    ...delays.done_over_time.map((p) => ({ x: (ms(p.at) - t0) / 1000, y: p.done })),
  ];
  // Poll until nothing will change any more (pilots stop after the run completes); without `settled`
  // from the API, until the run is over.
  const live =
    run.settled === undefined ? run.status === 'running' || run.status === 'pending' : !run.settled;
  const reasons = !live && Array.isArray(run.incomplete_reasons) ? run.incomplete_reasons : [];
  // Expected counts come from the run's configuration through the API; `announced` (end_run) is the
  // fallback for an API that does not report the STFs expected. No run plans 0: that is nothing known yet.
  const planned = (n) => (n > 0 ? n : undefined);
  const stfsExpected = planned(run.stfs.expected ?? run.stfs.announced);
  const pilotStates = Object.entries(run.pilots.by_state)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const content = [
    h(
      'h1',
      {},
      `Run ${run.run_id} `,
      status(run.status),
      h('span', { class: 'muted' }, ` ${run.execution_id ?? ''}`),
    ),
    reasons.length > 0
      ? h(
          'p',
          { class: 'error', 'data-testid': 'incomplete-reasons' },
          `Not completed: ${reasons.join('; ')}`,
        )
      : [],
    h(
      'div',
      { class: 'cards' },
      card('status', run.status, 'run-status'),
      card('phase', run.phase, 'run-phase'),
      card('started', time(run.start_time), 'run-started'),
      card(
        'duration',
        known(run.duration_seconds) ? `${fixed(run.duration_seconds)} s` : DASH,
        'run-duration',
      ),
      card('STF files registered', run.stfs.registered, 'stf-files-count'),
      card('STF files expected', stfsExpected, 'stf-files-expected'),
      card('slices done', run.slices.done, 'slices-done'),
      card('slices expected', planned(run.slices.expected), 'slices-expected'),
      card('slices failed', run.slices.failed, 'slices-failed'),
      card('pilots', pilotStates || 'none', 'pilots'),
      card('result hosts', run.result_hosts.length, 'result-hosts-count'),
      card('delay p50 / p95', spread(run.delay_ms), 'delay'),
    ),
    h('h2', {}, 'Plots'),
    h(
      'div',
      { class: 'plots' },
      h(
        'div',
        { class: 'plot' },
        stepChart(series, {
          xLabel: 'time since run start (s)',
          yLabel: 'slices done',
          testid: 'done-plot',
        }),
      ),
      h(
        'div',
        { class: 'plot' },
        barChart(delays.histogram, {
          xLabel: 'delay, processed − requested (ms)',
          yLabel: 'slices',
          testid: 'delay-histogram',
        }),
      ),
    ),
    h('h2', {}, `STF files (${stfs.items.length})`),
    table(stfs.items, [
      { key: 'filename', label: 'file' },
      { key: 'sequence' },
      { key: 'status', cell: (r) => status(r.status) },
      { key: 'state' },
      { key: 'size', label: 'size (bytes)' },
      { key: 'checksum' },
      { key: 'slices', cell: (r) => `${figure(r.slices_done)} / ${figure(r.slice_count)}` },
    ]),
    h('h2', {}, `Pilots (${pilots.items.length})`),
    table(
      pilots.items,
      [
        { key: 'pilot_id', label: 'pilot' },
        { key: 'state', cell: (r) => status(r.state) },
        { key: 'hostname', label: 'host' },
        { key: 'pid' },
        { key: 'started_at', label: 'started', cell: (r) => time(r.started_at) },
        { key: 'last_heartbeat_at', label: 'last heartbeat', cell: (r) => time(r.last_heartbeat_at) },
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
    h(
      'div',
      { 'data-testid': 'slices' },
      table(slices.items, [
        { key: 'filename', label: 'file' },
        { key: 'slice_id', label: 'slice' },
        { key: 'tfs', label: 'TFs', cell: (r) => (known(r.start) ? `${r.start}–${figure(r.end)}` : DASH) },
        { key: 'status', label: 'state', cell: (r) => status(r.status) },
        { key: 'pilot_id', label: 'pilot' },
        { key: 'hostname', label: 'host' },
        { key: 'processed_at', label: 'processed', cell: (r) => time(r.processed_at) },
        { key: 'delay', label: 'delay (ms)', cell: (r) => between(r.requested_at, r.processed_at) },
        { key: 'error' },
      ]),
    ),
    h('h2', {}, `Messages (latest ${messages.items.length})`),
    h('div', { 'data-testid': 'messages' }, table(messages.items, messageColumns)),
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
    updated.replaceChildren(
      'updated ',
      h('time', { datetime: new Date().toISOString() }, when(Date.now())),
      live ? '' : ' (run over: not polling)',
    );
  } catch (error) {
    if (mine !== generation) return;
    view.replaceChildren(h('p', { class: 'error' }, String(error.message ?? error)));
  }
  // While the run goes (and on the lists), poll every second; a finished run's page stays as it is.
  if (live && mine === generation) timer = setTimeout(render, POLL_MS);
}

window.addEventListener('hashchange', render);
render();
