import type { Percentiles } from '#query/percentiles.ts';
import { isFinished } from '#query/run-figures.ts';
import type { RunSummary } from '#query/run-summary.ts';
import { resultHostLines } from '#query/slices.ts';

/** What `testbed run` (local or --target aws) hands back: the summary it printed, and whether the run completed. */
export type RunReport = RunSummary & { readonly completed: boolean };

/** How long the summary waits for a finished run's pilots to end, so that it does not call them running. */
export const SETTLE_TIMEOUT_MS = 15_000;
const SETTLE_POLL_MS = 500;

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** Percentiles in words; a dash when no slice is done (no delay to speak of, rather than 0 ms). */
export const spread = (p: Percentiles) =>
  p.count === 0 ? '–' : `p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms, p99 ${f(p.p99)} ms`;

/** A tree's branches under a line: `│   ├── x` … `│   └── y`. */
const branches = (xs: readonly string[]) =>
  xs.map((x, i) => `│   ${i === xs.length - 1 ? '└──' : '├──'} ${x}`);

/** The pilots in words: each with its state and its results, or why there are none. */
export function pilotWords(pilots: RunSummary['pilots']): string {
  if (pilots.total === 0) return `none (${pilots.note})`;
  return pilots.items.map((p) => `${p.pilot_id} (${p.state}, ${p.slices_done} slices)`).join(', ');
}

/** The reasons a run did not complete, as a branch of the CLI's trees (nothing when it completed). */
export function whyLines(reasons: readonly string[]): string[] {
  return reasons.length === 0 ? [] : ['├── Why not completed:', ...branches(reasons)];
}

/** The run's summary, as `testbed run` (local or --target aws) prints it once the run has ended. */
export function summary(s: RunSummary): string {
  const types = Object.entries(s.messages.by_type);
  const stfs = s.stfs;
  const lines = [
    `Run ${s.run_id} Summary: ${s.status === 'completed' ? 'completed' : `NOT COMPLETED (${s.status})`}`,
    ...whyLines(s.incomplete_reasons),
    `├── Execution: ${s.execution_id ?? '?'} (namespace ${s.namespace ?? '?'})`,
    `├── Duration: ${s.duration_seconds === undefined ? '–' : `${s.duration_seconds.toFixed(1)} s`}`,
    `├── STF files: ${stfs.registered} of ${stfs.expected}${stfs.announced === undefined ? '' : ' announced by end_run'}`,
    `├── Dataset: ${s.dataset ?? '?'} (${s.dataset_state ?? '?'})`,
    `├── Task: ${s.task_id ?? '?'} (${s.task_state ?? '?'})`,
    `├── Messages recorded: ${s.messages.total}${s.messages.refused === 0 ? '' : ` (${s.messages.refused} refused)`}`,
    ...branches(types.map(([t, n]) => `${t}: ${n}`)),
    `├── Agents: ${s.messages.senders.join(', ') || '-'}`,
    `├── Pilots: ${pilotWords(s.pilots)}`,
    ...resultHostLines(s.result_hosts),
    `├── Slices: ${s.slices.done} done, ${s.slices.failed} failed, of ${s.slices.expected}`,
    `├── Delay (processed_at − requested_at): ${spread(s.delay_ms)}`,
    `├── Queue wait (processing_start_at − requested_at): ${spread(s.queue_wait_ms)}`,
    `└── First result after the first slice: ${s.first_result_ms === undefined ? '–' : `${f(s.first_result_ms)} ms`}`,
  ];
  return lines.join('\n');
}

/**
 * The run's summary once it has settled (its pilots ended after the run finished, and two reads half a
 * second apart agree), read again for at most `timeoutMs`; a run that does not settle by then is
 * summarised as it is. A run not finished (the drain deadline passed) will not settle: it is summarised at
 * once.
 */
export async function settledSummary(
  read: () => Promise<RunSummary>,
  timeoutMs: number = SETTLE_TIMEOUT_MS,
): Promise<RunReport> {
  const deadline = Date.now() + timeoutMs;
  let before: RunSummary | undefined;
  for (;;) {
    const s = await read();
    // Settled twice in a row with no new message: the pilots' last words (transformer_end) are in.
    const still = s.settled && before?.settled === true && before.messages.total === s.messages.total;
    if (still || !isFinished(s.status) || Date.now() >= deadline)
      return { ...s, completed: s.status === 'completed' };
    before = s;
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
  }
}
