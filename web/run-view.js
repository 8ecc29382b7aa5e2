// The page at #/runs/<run_id>: a run's counts, plots, STF files, pilots, result hosts, slices and messages.

import { api } from './api.js';
import { h } from './dom.js';
import { between, DASH, figure, fixed, known, ms, spread, status, time } from './format.js';
import { barChart, stepChart } from './plots.js';
import { card, table } from './table.js';

const MESSAGES_SHOWN = 50;

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

/** The run page, and whether it may still change (then the page polls). */
export async function runView(runId) {
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
