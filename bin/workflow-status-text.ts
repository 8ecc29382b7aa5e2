import type { Monitor } from '#query/monitor.ts';
import type { RunSummary } from '#query/run-summary.ts';
import { hhmmss } from './format.ts';

/** `testbed status EXECUTION` in words, with its run's slices, pilots and result hosts. */
export async function printWorkflowStatus(
  s: Awaited<ReturnType<Monitor['execution']>>,
  run: RunSummary,
): Promise<void> {
  const { resultHostLines } = await import('#query/slices.ts');
  const byState = Object.entries(run.pilots.by_state).map(([state, n]) => `${n} ${state}`);
  const lines = [
    `Execution ${s.execution_id}: ${s.status} (phase ${s.phase ?? '?'})`,
    `├── Run: ${s.run_id}${s.task_id === undefined ? '' : ` (task ${s.task_id})`}, namespace ${s.namespace ?? '?'}`,
    `├── STF files: ${s.stf_count}${s.total_stf_files === undefined ? '' : ` of ${s.total_stf_files} announced`}`,
    `├── Slices: ${run.slices.done} done, ${run.slices.failed} failed, of ${run.slices.expected}`,
    `├── Pilots: ${run.pilots.total === 0 ? `none (${run.pilots.note})` : `${run.pilots.total} (${byState.join(', ')})`}`,
    ...resultHostLines(run.result_hosts),
    `├── Messages recorded: ${s.messages}`,
    `├── Events: ${s.events.map((e) => `${e.type} ${hhmmss(e.time)}`).join(', ') || '-'}`,
    `├── Errors: ${s.errors.length === 0 ? 'none' : s.errors.length}`,
    ...s.errors.map((e) => `│   ├── [${e.source}] ${hhmmss(e.time)} ${e.error}`),
    `└── Duration: ${s.duration_seconds === undefined ? '-' : `${s.duration_seconds.toFixed(1)} s`}`,
  ];
  console.log(lines.join('\n'));
}
