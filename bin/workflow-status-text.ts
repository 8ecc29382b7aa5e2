import type { Monitor } from '#query/monitor.ts';
import type { RunSummary } from '#query/run-summary.ts';
import { cliTime } from './format.ts';

/**
 * `testbed status EXECUTION` in words: the run's figures as the summary gives them (one computation, in
 * the query layer's run-figures.ts), its events and errors, and the delays from its run summary.
 */
export async function printWorkflowStatus(
  s: Awaited<ReturnType<Monitor['execution']>>,
  run: RunSummary,
): Promise<void> {
  const [{ resultHostLines }, { pilotWords, spread, whyLines }] = await Promise.all([
    import('#query/slices.ts'),
    import('#local/summary.ts'),
  ]);
  const types = Object.entries(s.messages_by_type).map(([t, n]) => `${t} ${n}`);
  const byState = Object.entries(s.pilots.by_state).map(([state, n]) => `${n} ${state}`);
  const lines = [
    `Execution ${s.execution_id}: ${s.status} (phase ${s.phase ?? '?'})`,
    ...(s.status === 'completed' ? [] : whyLines(s.incomplete_reasons)),
    `├── Run: ${s.run_id}${s.task_id === undefined ? '' : ` (task ${s.task_id})`}, namespace ${s.namespace ?? '?'}`,
    `├── STF files: ${s.stfs.registered} of ${s.stfs.expected}${s.stfs.announced === undefined ? '' : ' announced'}`,
    `├── Slices: ${s.slices.done} done, ${s.slices.failed} failed, of ${s.slices.expected}`,
    `├── Pilots: ${s.pilots.total === 0 ? pilotWords(s.pilots) : `${s.pilots.total} (${byState.join(', ')})`}`,
    ...(s.pilots.total === 0 ? [] : [`│   └── ${pilotWords(s.pilots)}`]),
    ...resultHostLines(s.result_hosts),
    `├── Messages recorded: ${s.messages}${types.length === 0 ? '' : ` (${types.join(', ')})`}`,
    `├── Delay (processed_at − requested_at): ${spread(run.delay_ms)}`,
    `├── Events: ${s.events.map((e) => `${e.type} ${cliTime(e.time)}`).join(', ') || '-'}`,
    `├── Errors: ${s.errors.length === 0 ? 'none' : s.errors.length}`,
    ...s.errors.map((e) => `│   ├── [${e.source}] ${cliTime(e.time)} ${e.error}`),
    `└── Duration: ${s.duration_seconds === undefined ? '-' : `${s.duration_seconds.toFixed(1)} s`}${s.settled ? '' : ' (not settled yet)'}`,
  ];
  console.log(lines.join('\n'));
}
