import { defined } from '#contract/fields.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { LOST_AFTER_INTERVALS, type PilotRecord } from '#domain/pilot-records.ts';
import { pilotDefaults } from '#domain/pilot-settings.ts';
import { type Item, type Page, queryPage } from './bounds.ts';
import { docOf, type MonitorContext, nowMs } from './context.ts';
import { readRunItem } from './runs.ts';
import { readSliceResults, type SliceCounts, sliceCounts } from './slices.ts';

/**
 * What the faces say of a run without pilots of ours: its results may come from a transformer the worker
 * adjuster did not start (upstream's), which records no pilot; its hosts are the run's result hosts.
 */
export const NO_ADJUSTER_PILOTS = 'no pilots started by the worker adjuster';

/** A pilots item as the faces list it: the record's fields, its state as seen now and its results. */
export interface PilotRow
  extends Pick<
    PilotRecord,
    | 'pilot_id'
    | 'run_id'
    | 'task_id'
    | 'slot'
    | 'hostname'
    | 'pid'
    | 'requested_at'
    | 'started_at'
    | 'last_heartbeat_at'
    | 'ended_at'
    | 'attempts'
  > {
  /** The recorded state, or 'lost' for a running pilot silent for three heartbeat intervals. */
  readonly state: string;
  readonly recorded_state?: string;
  /** Seconds since the last sign of life (heartbeat, else start), for a running pilot. */
  readonly silent_s?: number;
  /** Its results in the slices table (not the pilot's own running count, which lags behind). */
  readonly slices_done: number;
  readonly slices_failed: number;
}

/** The run's heartbeat interval (run_imminent's config), in seconds. */
export function heartbeatInterval(run: Item | undefined): number {
  const config = (run?.config ?? {}) as Record<string, unknown>;
  const v = config.heartbeat_interval;
  return typeof v === 'number' && v > 0 ? v : pilotDefaults.heartbeat_interval;
}

/** A pilot's state as the faces give it: the recorded one, or 'lost' for a running pilot long silent. */
export function pilotState(
  p: Item,
  intervalS: number,
  nowMsValue: number,
): { state: string; recorded_state?: string; silent_s?: number } {
  const r = p as Partial<PilotRecord>;
  const recorded = typeof r.state === 'string' ? r.state : 'unknown';
  const lastSign = r.last_heartbeat_at ?? r.started_at;
  const silent =
    recorded === 'running' && lastSign ? nowMsValue / 1000 - toEpochMicros(lastSign) / 1e6 : undefined;
  const lost = silent !== undefined && silent > LOST_AFTER_INTERVALS * intervalS;
  return {
    state: lost ? 'lost' : recorded,
    ...(lost && { recorded_state: recorded }),
    ...(silent !== undefined && { silent_s: Math.round(silent * 10) / 10 }),
  };
}

/** A pilot as `testbed tasks` lists it, with its results counted in the slices table. */
export function pilotRow(p: Item, intervalS: number, nowMsValue: number, results: SliceCounts): PilotRow {
  const row = {
    pilot_id: String(p.pilot_id),
    run_id: String(p.run_id),
    task_id: p.task_id,
    slot: p.slot,
    ...pilotState(p, intervalS, nowMsValue),
    hostname: p.hostname,
    pid: p.pid,
    requested_at: p.requested_at,
    started_at: p.started_at,
    last_heartbeat_at: p.last_heartbeat_at,
    ended_at: p.ended_at,
    slices_done: results.done,
    slices_failed: results.failed,
    attempts: p.attempts,
  };
  return defined(row) as unknown as PilotRow;
}

export interface PilotListParams {
  readonly runId: string;
  readonly state?: string;
  readonly limit: number;
  readonly next?: string;
}

/** A run's results per pilot (done, failed), from the slices table. */
export function resultsByPilot(slices: readonly Item[]): Map<string, SliceCounts> {
  const groups = new Map<string, Item[]>();
  for (const s of slices) {
    if (typeof s.pilot_id !== 'string') continue;
    const group = groups.get(s.pilot_id);
    if (group) group.push(s);
    else groups.set(s.pilot_id, [s]);
  }
  return new Map([...groups].map(([id, group]) => [id, sliceCounts(group)]));
}

/**
 * A run's pilots (its PanDA jobs), with lost ones judged against the run's heartbeat interval and their
 * slices counted in the slices table, so that they add up to the run's slices done.
 */
export async function listPilots(c: MonitorContext, p: PilotListParams): Promise<Page<PilotRow>> {
  const run = await readRunItem(c, p.runId);
  const interval = heartbeatInterval(run);
  const now = nowMs(c);
  const [page, slices] = await Promise.all([
    queryPage(
      docOf(c),
      {
        TableName: c.tableNames.pilots,
        KeyConditionExpression: 'run_id = :run',
        ExpressionAttributeValues: { ':run': p.runId },
        ConsistentRead: true,
      },
      {
        limit: p.limit,
        next: p.next,
        keys: ['run_id', 'pilot_id'],
        partition: ['run_id', p.runId],
        // The state is judged here (lost), so it is kept here too, before the page is counted.
        ...(p.state !== undefined && { keep: (item) => pilotState(item, interval, now).state === p.state }),
      },
    ),
    readSliceResults(c, p.runId, ['pilot_id', 'state']),
  ]);
  const counts = resultsByPilot(slices.items);
  return {
    items: page.items.map((item) =>
      pilotRow(item, interval, now, counts.get(String(item.pilot_id)) ?? { done: 0, failed: 0 }),
    ),
    ...(page.next && { next: page.next }),
  };
}
