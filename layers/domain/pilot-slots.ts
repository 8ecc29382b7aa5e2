import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { nowTimestamp } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import { conditionalWrite } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { updateOf } from '#tables/update.ts';
import type { PilotLauncher, PilotSpec } from './pilot-launcher-port.ts';
import { type PilotRecord, type PilotTableDeps, spentAttempts } from './pilot-records.ts';

/** Attempts per pilot slot at most, as PanDA's maxAttempt: a pilot that keeps dying is not restarted forever. */
export const MAX_PILOT_ATTEMPTS = 3;

/** `<run_id>-p<slot:02d>` */
export const pilotIdFor = (runId: string, slot: number): string =>
  `${runId}-p${String(slot).padStart(2, '0')}`;

/** What claiming a slot and starting its pilot needs: the tables and a launcher, no broker. */
export interface PilotSlotDeps extends Pick<PilotTableDeps, 'db' | 'tableNames' | 'log'> {
  readonly launcher: PilotLauncher;
}

export interface SlotStart {
  readonly runId: string;
  readonly slot: number;
  /** The slot's pilots item as read: its `attempts` is what the claim expects to find. */
  readonly record: PilotRecord | undefined;
  readonly requestedAt: string;
  readonly taskId: number | undefined;
  readonly namespace: string;
  /** transformerEnv's settings; PILOT_ATTEMPT is added here. */
  readonly env: Record<string, string>;
  readonly resources?: PilotSpec['resources'];
  readonly log: Logger;
  /** The slot's last pilot ended normally (idled out, say) and its run still wants it: spends no attempt. */
  readonly refill?: boolean;
}

/**
 * (Re)starts a slot's pilot as attempt `attempts + 1`, after claiming the slot with a conditional write on
 * `attempts`: of adjusters and watchdogs racing for one slot only one starts a pilot. A slot that has had
 * MAX_PILOT_ATTEMPTS attempts is not started again. Returns whether a pilot was started.
 */
export async function startInSlot(deps: PilotSlotDeps, s: SlotStart): Promise<boolean> {
  const doc = documents(deps.db);
  const pilotId = pilotIdFor(s.runId, s.slot);
  const seen = s.record?.attempts;
  if (!s.refill && spentAttempts(s.record) >= MAX_PILOT_ATTEMPTS) {
    s.log.warn('pilot slot has had all its attempts: not started again', {
      pilot_id: pilotId,
      attempts: seen,
    });
    return false;
  }
  const attempt = (seen ?? 0) + 1;
  const claimed = await conditionalWrite(
    doc.send(
      new UpdateCommand({
        TableName: deps.tableNames.pilots,
        Key: { run_id: s.runId, pilot_id: pilotId },
        ...updateOf({
          set: {
            state: 'requested',
            slot: s.slot,
            requested_at: s.requestedAt,
            attempts: attempt,
            task_id: s.taskId,
          },
          add: { refills: s.refill ? 1 : undefined },
          // A fresh attempt: what the previous one reported no longer describes the pilot.
          remove: [
            'started_at',
            'ended_at',
            'last_heartbeat_at',
            'hostname',
            'pid',
            'slices_done',
            'lost_at',
            'end_reason',
          ],
          condition: seen === undefined ? 'attribute_not_exists(attempts)' : 'attempts = :seen',
          values: seen === undefined ? {} : { ':seen': seen },
        }),
      }),
    ),
  );
  if (!claimed) {
    s.log.info('another adjuster or watchdog claimed the slot first', { pilot_id: pilotId });
    return false;
  }
  const { pid } = await deps.launcher.start({
    runId: s.runId,
    pilotId,
    ...(s.taskId !== undefined && { taskId: s.taskId }),
    namespace: s.namespace,
    env: { ...s.env, PILOT_ATTEMPT: String(attempt) },
    ...(s.resources && { resources: s.resources }),
  });
  s.log.info('pilot started', { pilot_id: pilotId, attempt, pid });
  return true;
}

/**
 * Marks a live (requested or running) pilot 'lost' (and when: `lost_at`), if its record is still the attempt
 * that was read: a transformer_end recorded meanwhile, or a newer attempt, wins. A late transformer_end of
 * this attempt still turns it into 'ended'. Returns whether it was marked.
 */
export function markLost(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  at: string = nowTimestamp(),
): Promise<boolean> {
  return settleLive(deps, record, { state: 'lost', lost_at: at });
}

/**
 * Marks a live pilot 'ended' because its launcher saw it exit normally (its transformer_end not recorded,
 * or not yet: the broker or the handlers may be away), if its record is still the attempt that was read. Its
 * slot keeps its attempts: nothing failed. A transformer_end handled later still fills in its slice count.
 */
export function markEnded(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  reason: string,
  at: string = nowTimestamp(),
): Promise<boolean> {
  return settleLive(deps, record, { state: 'ended', ended_at: at, end_reason: reason });
}

/** Writes `fields` to a pilot still live and still at the attempt read; returns whether it was written. */
function settleLive(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  fields: Readonly<Record<string, string>>,
): Promise<boolean> {
  return conditionalWrite(
    documents(deps.db).send(
      new UpdateCommand({
        TableName: deps.tableNames.pilots,
        Key: { run_id: record.run_id, pilot_id: record.pilot_id },
        ...updateOf({
          set: fields,
          condition:
            '#state IN (:requested, :running) AND ' +
            (record.attempts === undefined ? 'attribute_not_exists(attempts)' : 'attempts = :seen'),
          values: {
            ':requested': 'requested',
            ':running': 'running',
            ...(record.attempts !== undefined && { ':seen': record.attempts }),
          },
        }),
      }),
    ),
  );
}
