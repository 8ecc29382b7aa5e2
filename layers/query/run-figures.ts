import { queryAll } from '#tables/pages.ts';
import type { Item } from './bounds.ts';
import { docOf, type MonitorContext, nowMs } from './context.ts';
import { MAX_DIGEST_READ } from './messages.ts';
import { heartbeatInterval, NO_ADJUSTER_PILOTS, pilotState, resultsByPilot } from './pilots.ts';
import { type RunStatus, runRow } from './run-row.ts';
import { type ResultHost, readSliceResults, resultHosts, sliceCounts } from './slices.ts';
import { stfStatus } from './stf-files.ts';

/** The most STFs and pilots one answer reads. */
const MAX_STFS_READ = 50_000;
const MAX_PILOTS_READ = 1_000;

/** What the figures are computed from: the run item and its STFs, slice results, pilots and messages. */
export interface FigureRecords {
  readonly run: Item;
  readonly stfs: readonly Item[];
  readonly slices: readonly Item[];
  readonly pilots: readonly Item[];
  readonly messages: readonly Item[];
  /** A read stopped at its cap. */
  readonly truncated?: boolean;
}

/** One pilot of ours: its state (lost when silent) and the results the slices table holds from it. */
export interface PilotFigure {
  readonly pilot_id: string;
  readonly state: string;
  readonly slices_done: number;
  readonly slices_failed: number;
}

/**
 * The figures every face shows of one run, computed here only: the summary, `testbed status`, `testbed
 * tasks`, the API, the dashboard and the MCP tools read them from this one place.
 */
export interface RunFigures {
  readonly status: RunStatus;
  /** The run's start to its end (completed, cancelled, else ended), from the records. */
  readonly duration_seconds?: number;
  /**
   * expected: what end_run announced when known, else the count the DAQ simulator planned (run_imminent's
   * `planned_stf_count`), else those registered; never fewer than registered.
   */
  readonly stfs: {
    registered: number;
    sliced: number;
    done: number;
    announced?: number;
    planned?: number;
    expected: number;
  };
  /** expected: each registered STF's slice_count, slices_per_stf for the STFs still to come. */
  readonly slices: { expected: number; done: number; failed: number };
  /** The message log: every record the handlers wrote (refused ones too, counted apart as well). */
  readonly messages: { total: number; by_type: Record<string, number>; refused: number; senders: string[] };
  /** The pilots the worker adjuster started; `note` says when there are none. */
  readonly pilots: {
    total: number;
    by_state: Record<string, number>;
    note?: string;
    items: PilotFigure[];
  };
  /** Whoever reported the results (ours and foreign transformers alike), per host and pilot. */
  readonly result_hosts: ResultHost[];
  /** Nothing will change any more: the run is completed, cancelled or terminated and no pilot of ours lives. */
  readonly settled: boolean;
  /** Why the run did not complete (empty when it did). */
  readonly incomplete_reasons: string[];
  /** A read stopped at its cap: the counts cover the first records only. */
  readonly truncated: boolean;
}

/** Run states after which nothing new is started. */
const FINAL: readonly RunStatus[] = ['completed', 'cancelled', 'terminated'];
export const isFinished = (status: RunStatus): boolean => FINAL.includes(status);
/** Pilot states that may still change. */
const LIVE_PILOT = ['requested', 'running'];

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

export function runFigures(r: FigureRecords, now: number): RunFigures {
  const run = r.run;
  const row = runRow(run);
  const config = (run.config ?? {}) as Record<string, unknown>;
  const stfs = stfFigures(r.stfs, row.stf_files, row.total_stf_files, num(config.planned_stf_count));
  const slices = {
    expected: expectedSlices(r.stfs, stfs.expected, num(config.slices_per_stf)),
    ...sliceCounts(r.slices),
  };
  const interval = heartbeatInterval(run);
  const results = resultsByPilot(r.slices);
  const items = r.pilots.map((p): PilotFigure => {
    const id = String(p.pilot_id);
    const its = results.get(id) ?? { done: 0, failed: 0 };
    return {
      pilot_id: id,
      state: pilotState(p, interval, now).state,
      slices_done: its.done,
      slices_failed: its.failed,
    };
  });
  const byState: Record<string, number> = {};
  for (const p of items) byState[p.state] = (byState[p.state] ?? 0) + 1;
  const settled = isFinished(row.status) && !items.some((p) => LIVE_PILOT.includes(p.state));
  return {
    status: row.status,
    ...(row.duration_seconds !== undefined && { duration_seconds: row.duration_seconds }),
    stfs,
    slices,
    messages: messageFigures(r.messages),
    pilots: {
      total: items.length,
      by_state: byState,
      ...(items.length === 0 && { note: NO_ADJUSTER_PILOTS }),
      items,
    },
    result_hosts: resultHosts(r.slices),
    settled,
    incomplete_reasons:
      row.status === 'completed' ? [] : incompleteReasons(run, r, stfs, slices, config, items.length),
    truncated: r.truncated === true,
  };
}

function stfFigures(
  stfs: readonly Item[],
  registeredInRun: number,
  announced: number | undefined,
  planned: number | undefined,
): RunFigures['stfs'] {
  // The run item's set of registered sequences, else the STF records (a foreign DAQ's may have no sequence).
  const registered = Math.max(registeredInRun, stfs.length);
  return {
    registered,
    sliced: stfs.filter((s) => stfStatus(s) !== 'registered').length,
    done: stfs.filter((s) => stfStatus(s) === 'done').length,
    ...(announced !== undefined && { announced }),
    ...(planned !== undefined && { planned }),
    // An STF registered is due whatever was announced.
    expected: Math.max(announced ?? planned ?? registered, registered),
  };
}

/** Each sliced STF's own count; for those not yet sliced, slices_per_stf, else the count most sliced ones have. */
export function expectedSlices(
  stfs: readonly Item[],
  expectedStfs: number,
  slicesPerStf: number | undefined,
): number {
  const known = stfs.map((s) => num(s.slice_count)).filter((n): n is number => n !== undefined);
  const perStf = slicesPerStf ?? mostCommon(known) ?? 0;
  return known.reduce((a, b) => a + b, 0) + Math.max(0, expectedStfs - known.length) * perStf;
}

function mostCommon(xs: readonly number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0];
}

function messageFigures(messages: readonly Item[]): RunFigures['messages'] {
  const byType: Record<string, number> = {};
  const senders = new Set<string>();
  let refused = 0;
  for (const m of messages) {
    const type = String(m.msg_type);
    byType[type] = (byType[type] ?? 0) + 1;
    if (typeof m.refused === 'string') refused++;
    else if (typeof m.sender === 'string') senders.add(m.sender);
  }
  return {
    total: messages.length,
    by_type: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b))),
    refused,
    senders: [...senders].sort(),
  };
}

/** What kept a run from completing, in the order a user would look: a cancel, no pilots, the DAQ, the STFs, the slices. */
export function incompleteReasons(
  run: Item,
  r: Pick<FigureRecords, 'pilots' | 'slices'>,
  stfs: RunFigures['stfs'],
  slices: RunFigures['slices'],
  config: Record<string, unknown>,
  pilots: number,
): string[] {
  const reasons: string[] = [];
  if (typeof run.cancelled_at === 'string')
    reasons.push(`cancelled${typeof run.cancel_reason === 'string' ? `: ${run.cancel_reason}` : ''}`);
  else if (run.task_state === 'closed') reasons.push('stopped by run_stop: the task was closed');
  const ran = r.pilots.some((p) => typeof p.started_at === 'string') || r.slices.length > 0;
  if (!ran) {
    const workers = num(config.target_worker_count);
    reasons.push(
      workers === 0
        ? 'no pilot ran: 0 workers asked for'
        : pilots === 0
          ? 'no pilot ran: none was started'
          : `no pilot ran: ${pilots} requested, none started`,
    );
  }
  if (run.phase !== 'ended' && run.phase !== 'completed')
    reasons.push(`the DAQ did not end the run (phase ${typeof run.phase === 'string' ? run.phase : 'none'})`);
  if (stfs.announced !== undefined && stfs.announced > stfs.registered)
    reasons.push(`${stfs.announced - stfs.registered} STFs announced by end_run but not registered`);
  const missing = slices.expected - slices.done - slices.failed;
  if (missing > 0) reasons.push(`${missing} slices without a result`);
  return reasons;
}

/** Reads a run's records for its figures (bounded reads; `truncated` says a cap was hit). */
export async function readFigureRecords(c: MonitorContext, run: Item): Promise<FigureRecords> {
  const doc = docOf(c);
  const runId = String(run.run_id);
  const partition = (table: string, projection: string, names: Record<string, string>, cap: number) =>
    queryAll(
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
  const [stfs, slices, pilots, messages] = await Promise.all([
    partition(c.tableNames.stfs, 'filename, slice_count, done_slices, completed', {}, MAX_STFS_READ),
    readSliceResults(c, runId),
    partition(
      c.tableNames.pilots,
      'run_id, pilot_id, #state, started_at, last_heartbeat_at',
      { '#state': 'state' },
      MAX_PILOTS_READ,
    ),
    partition(c.tableNames.messages, 'msg_type, sender, refused', {}, MAX_DIGEST_READ),
  ]);
  return {
    run,
    stfs: stfs.items,
    slices: slices.items,
    pilots: pilots.items,
    messages: messages.items,
    truncated: stfs.truncated || slices.truncated || pilots.truncated || messages.truncated,
  };
}

/** A run's figures as its records say now. */
export async function readRunFigures(c: MonitorContext, run: Item): Promise<RunFigures> {
  return runFigures(await readFigureRecords(c, run), nowMs(c));
}
