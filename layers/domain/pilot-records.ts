import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { HandlerDeps } from '#messaging/handler-deps.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { queryAll } from '#tables/pages.ts';

/** What reading and writing pilots items needs: the tables, and the handlers' broker and logger. */
export interface PilotTableDeps extends HandlerDeps {
  readonly db: DynamoDBClient;
  readonly tableNames: Readonly<Record<TableName, string>>;
}

export type PilotState = 'requested' | 'running' | 'ended' | 'lost';

/** A pilots item as stored. */
export interface PilotRecord {
  readonly run_id: string;
  readonly pilot_id: string;
  readonly task_id?: number;
  readonly slot?: number;
  readonly state?: PilotState;
  readonly hostname?: string;
  readonly pid?: number;
  readonly requested_at?: string;
  readonly started_at?: string;
  readonly last_heartbeat_at?: string;
  readonly ended_at?: string;
  readonly slices_done?: number;
  readonly attempts?: number;
  /**
   * When the worker adjuster or the watchdog gave this attempt up as lost. Kept when a late transformer_end
   * turns the pilot 'ended', so the watchdog still knows the slot wants a new attempt; a new attempt clears it.
   */
  readonly lost_at?: string;
  /** Why it ended, when its launcher told (an exit seen before, or instead of, its transformer_end). */
  readonly end_reason?: string;
  /** Attempts that refilled the slot after a normal end (not a failure): they do not count toward the limit. */
  readonly refills?: number;
}

/** A pilot silent for this many heartbeat intervals is lost, whether or not its process still runs. */
export const LOST_AFTER_INTERVALS = 3;

export const isLiveState = (s: PilotState | undefined): boolean => s === 'requested' || s === 'running';

/** The attempts a slot has spent on failures: all of them but the refills after a normal end. */
export const spentAttempts = (p: Pick<PilotRecord, 'attempts' | 'refills'> | undefined): number =>
  (p?.attempts ?? 0) - (p?.refills ?? 0);

export async function queryPilots(
  deps: Pick<PilotTableDeps, 'db' | 'tableNames'>,
  runId: string,
): Promise<PilotRecord[]> {
  const { items } = await queryAll<PilotRecord>(documents(deps.db), {
    TableName: deps.tableNames.pilots,
    KeyConditionExpression: 'run_id = :run',
    ExpressionAttributeValues: { ':run': runId },
    ConsistentRead: true,
  });
  return items;
}
