import { NO_ADJUSTER_PILOTS } from '#query/pilots.ts';
import type { RunReport } from '#query/run-report.ts';
import { resultHostLines } from '#query/slices.ts';

/** What the CLI saw of a run on the broker: message counts by type and their senders. */
export interface WatchedMessages {
  readonly counts: ReadonlyMap<string, number>;
  readonly senders: ReadonlySet<string>;
}

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** Percentiles in words; a dash when no slice is done (no delay to speak of, rather than 0 ms). */
const spread = (p: RunReport['delayMs']) =>
  p.count === 0 ? '–' : `p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms, p99 ${f(p.p99)} ms`;

export function summary(r: RunReport, watch: WatchedMessages, durationS: number, completed: boolean): string {
  const types = [...watch.counts].sort(([a], [b]) => a.localeCompare(b));
  const pilots = r.pilots.map((p) => `${p.id} (${p.state}, ${p.slices} slices)`);
  const lines = [
    `Run ${r.runId} Summary: ${completed ? 'completed' : 'NOT COMPLETED'}`,
    `├── Execution: ${r.executionId ?? '?'} (namespace ${r.namespace ?? '?'})`,
    `├── Duration: ${durationS.toFixed(1)} s`,
    `├── STF files: ${r.stfFiles}${r.totalStfFiles === undefined ? '' : ` of ${r.totalStfFiles} announced by end_run`}`,
    `├── Dataset: ${r.dataset ?? '?'} (${r.datasetState ?? '?'})`,
    `├── Task: ${r.taskId ?? '?'} (${r.taskState ?? '?'})`,
    '├── Messages:',
    ...types.map(([t, n], i) => `│   ${i === types.length - 1 ? '└──' : '├──'} ${t}: ${n}`),
    `├── Agents: ${[...watch.senders].sort().join(', ') || '-'}`,
    `├── Pilots: ${pilots.join(', ') || `none (${NO_ADJUSTER_PILOTS})`}`,
    ...resultHostLines(r.resultHosts),
    `├── Slices: ${r.slicesDone} done, ${r.slicesFailed} failed, of ${r.slicesExpected}`,
    `├── Delay (processed_at − requested_at): ${spread(r.delayMs)}`,
    `├── Queue wait (processing_start_at − requested_at): ${spread(r.queueWaitMs)}`,
    `└── First result after the first slice: ${r.firstResultMs === undefined ? '–' : `${f(r.firstResultMs)} ms`}`,
  ];
  return lines.join('\n');
}
