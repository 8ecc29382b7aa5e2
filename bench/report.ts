// The benchmark's report, rendered from its typed results: the table it prints, the part of bench/README.md
// between the markers, bench/delays.svg and, under `--profile`, bench/profile.md.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Figure } from './lib/figures.ts';
import type { Machine } from './lib/machine.ts';
import { logLogPlot } from './lib/plot.ts';
import type { ProfileSection } from './lib/profile.ts';
import type { BenchResults } from './results.ts';
import type { DelayRow } from './stages/delays.ts';

const rounded = (v: number) =>
  Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
const minute = () => new Date().toISOString().slice(0, 16).replace('T', ' ');

export const figureTable = (figures: readonly Figure[]): string =>
  [
    '| # | figure | median | unit | runs | target | met |',
    '|---|---|---:|---|---|---|---|',
    ...figures.map(
      (f) =>
        `| ${f.id} | ${f.figure} | ${rounded(f.median)} | ${f.unit} | ${f.runs.map(rounded).join(' / ')} | ${f.target ?? ''} | ${f.met === undefined ? '' : f.met ? 'yes' : '**no**'} |`,
    ),
  ].join('\n');

export const machineLine = (host: Machine): string =>
  `${host.cpu}, ${host.cores} cores, ${host.memoryGb} GB, Node ${host.node}, ActiveMQ ${host.activemq} (${host.java}); load average at the end ${host.loadAverage}`;

/** The bundle sizes, CPU per slice and delays below the table. */
function detailTables(r: BenchResults): string[] {
  const columns = Object.keys(r.cpuPerSlice_pipeline_us);
  const cpuRows: [string, Readonly<Record<string, number>>][] = [
    ['1 transformer, bare broker', r.cpuPerSlice_1transformers_us],
    ['4 transformers, bare broker', r.cpuPerSlice_4transformers_us],
    ['pipeline', r.cpuPerSlice_pipeline_us],
    ['pipeline beside another run (each on its own slice queue)', r.cpuPerSlice_besideAnotherRun_us],
    ['pipeline beside another run (shared slice queue)', r.cpuPerSlice_besideAnotherRunShared_us],
    ...Object.entries(r.cpuPerSlice_concurrentRuns_us),
  ];
  const percentiles = (p: DelayRow['queueWaitMs']) => [p.p50, p.p95, p.p99].map(rounded).join(' / ');
  return [
    '| Lambda bundle (esbuild, minified) | KB |',
    '|---|---:|',
    ...r.bundles.map((b) => `| ${b.name} | ${Math.round(b.bytes / 1024).toLocaleString('en-US')} |`),
    '',
    `| CPU per slice, µs (medians) | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...cpuRows.map(([label, row]) => `| ${label} | ${columns.map((c) => row[c] ?? '').join(' | ')} |`),
    '',
    '| runs at once | slice queue | aggregate slices/s | ÷ one alone | broker CPU µs/slice | worst run delay p99 (ms) |',
    '|---:|---|---:|---:|---:|---:|',
    ...[
      ...r.concurrent_runs.map((c) => ['own', c] as const),
      ...r.concurrent_runs_shared.map((c) => ['shared', c] as const),
    ].map(
      ([queue, c]) =>
        `| ${c.runs} | ${queue} | ${rounded(c.aggregate_slices_per_s)} | ${c.ratio_to_alone} | ${c.broker_cpu_us_per_slice} | ${rounded(c.worst_run_delay_p99_ms)} |`,
    ),
    '',
    '| offered load (slices/s) | queue wait p50 / p95 / p99 (ms) | recording p50 / p95 / p99 (ms) |',
    '|---:|---|---|',
    ...r.delays.map((d) => `| ${d.load} | ${percentiles(d.queueWaitMs)} | ${percentiles(d.recordingMs)} |`),
  ];
}

/** Rewrites the part of the README between the markers with this run's figures; the rest is prose. */
export function updateReadme(readme: string, r: BenchResults): void {
  const [begin, end] = ['<!-- results:begin -->', '<!-- results:end -->'];
  const text = readFileSync(readme, 'utf8');
  if (!text.includes(begin) || !text.includes(end)) return;
  const generated = [
    begin,
    `Measured ${minute()} UTC in ${r.durationS} s on: ${machineLine(r.machine)}.`,
    '',
    figureTable(r.figures),
    '',
    ...detailTables(r),
    end,
  ].join('\n');
  writeFileSync(
    readme,
    text.slice(0, text.indexOf(begin)) + generated + text.slice(text.indexOf(end) + end.length),
  );
}

/** Queue wait and recording percentiles against offered load, on log-log axes, with their targets. */
export function delaysPlot(delays: readonly DelayRow[]): string {
  const series = (name: string, color: string, y: (d: DelayRow) => number, dashed = false) => ({
    name,
    color,
    ...(dashed && { dashed }),
    points: delays.map((d) => ({ x: d.load, y: y(d) })),
  });
  return logLogPlot({
    title: 'Slice delays against offered load (4 transformers, medians of 3 runs)',
    xLabel: 'offered load (slices/s)',
    yLabel: 'delay (ms)',
    series: [
      series('queue wait p50', '#1f77b4', (d) => d.queueWaitMs.p50),
      series('queue wait p99', '#1f77b4', (d) => d.queueWaitMs.p99, true),
      series('recording p50', '#d62728', (d) => d.recordingMs.p50),
      series('recording p99', '#d62728', (d) => d.recordingMs.p99, true),
    ],
    targets: [
      { y: 2, label: 'queue wait p50 target' },
      { y: 20, label: 'queue wait p99 target' },
      { y: 100, label: 'recording p99 target' },
    ],
  });
}

/** bench/profile.md: where each kind of process spends its busy time. */
export function profileReport(sections: readonly ProfileSection[], host: Machine): string {
  const share = (rows: readonly (readonly [string, number])[]) =>
    rows.map(([k, v]) => `| ${k.replaceAll('|', '\\|')} | ${(v * 100).toFixed(1)} % |`);
  return [
    '# CPU profiles of the prompt path',
    '',
    `\`npm run bench -- --profile\`, ${minute()} UTC, on: ${machineLine(host)}. Busy time excludes idle; a profiled process runs slower than in the figures of README.md.`,
    '',
    ...sections.flatMap(({ name, summary: p }) => [
      [
        `## ${name}: ${Math.round(p.busyMs).toLocaleString('en-US')} ms busy`,
        '',
        '| where | share of busy time |',
        '|---|---:|',
        ...share(p.areas),
        '',
        '| function (self time) | share of busy time |',
        '|---|---:|',
        ...share(p.functions),
      ].join('\n'),
      '',
    ]),
  ].join('\n');
}
