import { readPartition } from './bounds.ts';
import { docOf, type MonitorContext, nowMs } from './context.ts';
import { type DelayStats, delayStats, type Percentiles } from './delays.ts';
import { heartbeatInterval, NO_ADJUSTER_PILOTS, pilotRow } from './pilots.ts';
import { type RunRow, runRow } from './run-row.ts';
import { readRunItem } from './runs.ts';
import { type ResultHost, readSliceResults, resultHosts } from './slices.ts';
import { stfStatus } from './stf-files.ts';

/** The most STFs and pilots one summary reads. */
const MAX_STFS_READ = 50_000;
const MAX_PILOTS_READ = 1_000;

/** One run: its row, DAQ state, counts of STFs, slices and pilots, and its delay percentiles. */
export interface RunSummary extends RunRow {
  readonly daq_state?: string;
  readonly daq_substate?: string;
  readonly config?: Record<string, unknown>;
  readonly stfs: { registered: number; sliced: number; done: number; announced?: number };
  readonly slices: { expected: number; done: number; failed: number };
  /** The pilots the worker adjuster started; `note` says when there are none. */
  readonly pilots: { total: number; by_state: Record<string, number>; note?: string };
  /** Whoever reported the results (ours and foreign transformers alike), per host and pilot. */
  readonly result_hosts: ResultHost[];
  readonly delay_ms: Percentiles;
  readonly queue_wait_ms: Percentiles;
  readonly first_result_ms?: number;
  /** A read stopped at its cap: the counts cover the first records only. */
  readonly truncated: boolean;
}

export async function runSummary(c: MonitorContext, runId: string): Promise<RunSummary> {
  const run = await readRunItem(c, runId);
  const doc = docOf(c);
  const partition = (table: string, projection: string, names: Record<string, string>, cap: number) =>
    readPartition(
      doc,
      {
        TableName: table,
        KeyConditionExpression: 'run_id = :run',
        ProjectionExpression: projection,
        ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
        ExpressionAttributeValues: { ':run': runId },
      },
      cap,
    );
  const [stfs, slices, pilots] = await Promise.all([
    partition(c.tableNames.stfs, 'filename, slice_count, done_slices, completed', {}, MAX_STFS_READ),
    readSliceResults(c, runId),
    partition(
      c.tableNames.pilots,
      'run_id, pilot_id, #state, started_at, last_heartbeat_at',
      { '#state': 'state' },
      MAX_PILOTS_READ,
    ),
  ]);
  const delays: DelayStats = delayStats(runId, slices.items, slices.truncated);
  const interval = heartbeatInterval(run);
  const now = nowMs(c);
  const byState: Record<string, number> = {};
  for (const p of pilots.items) {
    const state = pilotRow(p, interval, now).state;
    byState[state] = (byState[state] ?? 0) + 1;
  }
  const row = runRow(run);
  return {
    ...row,
    ...(typeof run.daq_state === 'string' && { daq_state: run.daq_state }),
    ...(typeof run.daq_substate === 'string' && { daq_substate: run.daq_substate }),
    ...(run.config !== undefined && { config: run.config as Record<string, unknown> }),
    stfs: {
      registered: stfs.items.length,
      sliced: stfs.items.filter((s) => stfStatus(s) !== 'registered').length,
      done: stfs.items.filter((s) => stfStatus(s) === 'done').length,
      ...(row.total_stf_files !== undefined && { announced: row.total_stf_files }),
    },
    slices: {
      expected: stfs.items.reduce((n, s) => n + (typeof s.slice_count === 'number' ? s.slice_count : 0), 0),
      done: delays.slices_done,
      failed: delays.slices_failed,
    },
    pilots: {
      total: pilots.items.length,
      by_state: byState,
      ...(pilots.items.length === 0 && { note: NO_ADJUSTER_PILOTS }),
    },
    result_hosts: resultHosts(slices.items),
    delay_ms: delays.delay_ms,
    queue_wait_ms: delays.queue_wait_ms,
    ...(delays.first_result_ms !== undefined && { first_result_ms: delays.first_result_ms }),
    truncated: stfs.truncated || slices.truncated || pilots.truncated,
  };
}
