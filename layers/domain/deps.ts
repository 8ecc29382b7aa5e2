import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { encodeMessage, type Message } from '#contract/messages.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import type { HandlerDeps } from '#messaging/handler-deps.ts';
import { park } from '#messaging/park.ts';
import type { SliceQueue } from '#routes/destinations.ts';
import { handlerQueue, routeFor } from '#routes/route-table.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';

/** What the data handling, processing and transceiver functions need: the broker, the tables, a clock. */
export interface DomainDeps extends HandlerDeps {
  readonly db: DynamoDBClient;
  readonly tableNames: Readonly<Record<TableName, string>>;
  /** The current time as a canonical timestamp. @default nowTimestamp */
  readonly now?: () => string;
}

export const now = (deps: DomainDeps): string => (deps.now ?? nowTimestamp)();

/** Validates, encodes and publishes; resolves once the broker has stored the message. */
export async function send(deps: DomainDeps, destination: string, msg: Message): Promise<void> {
  const { body, headers } = encodeMessage(msg);
  await deps.broker.publish(destination, body, headers);
}

/**
 * Parks a message the contract accepted but the domain cannot use (a refusal, not a failure: retrying
 * would not help) in its handler's dead-letter queue, with the reason, as mqHandler parks refused bodies.
 */
export async function refuse(deps: DomainDeps, msg: Message, reason: string): Promise<void> {
  const route = routeFor(msg.msg_type);
  await park(deps.broker, deps.log, {
    queue: route ? handlerQueue(route) : `swf.handler.${msg.msg_type}`,
    body: JSON.stringify(msg),
    headers: encodeMessage(msg).headers,
    reason,
    handler: msg.msg_type,
  });
}

/** Awaits every promise (none is left running) and then rethrows the first failure. */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export type Phase = 'imminent' | 'running' | 'paused' | 'ended' | 'completed';

/** The run config copied from run_imminent (the prompt_processing values the DAQ simulator sends). */
export interface RunConfig {
  slices_per_stf?: number;
  tfs_per_stf?: number;
  target_worker_count?: number;
  num_cores_per_worker?: number;
  num_ram_per_core?: number;
  slice_processing_time?: number;
  heartbeat_interval?: number;
  transformer_idle_timeout?: number;
  /** What the slices hold: "stf" (synthetic STFs), "fake" or "mock" (nothing to read), or another type. */
  file_type?: string;
  /** The payload command line run per slice; absent: the built-in analysis (or the pilot image's own). */
  payload_command?: string;
  /** Seconds a payload command may run. */
  payload_timeout?: number;
  /** The STFs the DAQ simulator plans for the run (expected counts); upstream's DAQ sends none. */
  planned_stf_count?: number;
  /** Where the run's slices are queued; upstream's DAQ sends none: the shared queue. */
  slice_queue?: SliceQueue;
}

/** A runs item, as read back. */
export interface RunRecord {
  run_id: string;
  namespace?: string;
  execution_id?: string;
  workflow?: string;
  phase?: Phase;
  daq_state?: string;
  daq_substate?: string;
  /** created_at of the DAQ message whose state is recorded: an older one arriving late changes nothing. */
  daq_state_at?: string;
  dataset?: string;
  dataset_state?: 'open' | 'closed';
  task_id?: number;
  /** closed: completed or stopped (run_stop); cancelled: stopped by `testbed cancel` or Ctrl-C. */
  task_state?: 'created' | 'closed' | 'cancelled';
  config?: RunConfig;
  ended?: boolean;
  total_stf_files?: number;
  registered_stfs?: Set<number>;
  completed_stfs?: Set<number>;
  /** Numbers STFs whose producer sent no sequence (legacy stf_gen). */
  stf_seq_counter?: number;
  completion?: 'completing' | 'completed';
  created_at?: string;
  started_at?: string;
  ended_at?: string;
  completed_at?: string;
  /** When a cancel (a run_stop naming who cancelled) stopped the run; a cancelled run never completes. */
  cancelled_at?: string;
  cancel_reason?: string;
}

/** An stfs item, as read back. */
export interface StfRecord {
  run_id: string;
  filename: string;
  sequence?: number;
  size?: number;
  checksum?: string;
  start?: string;
  end?: string;
  state?: string;
  substate?: string;
  tf_count?: number;
  url?: string;
  registered_at?: string;
  slice_count?: number;
  /** When the STF was first sliced: its slices' created_at follow from it (see slice-requests.ts). */
  slices_requested_at?: string;
  done_slices?: Set<number>;
  completed?: boolean;
}

export async function readRunItem(
  deps: DomainDeps,
  runId: string,
  consistent = false,
): Promise<RunRecord | undefined> {
  const { Item } = await documents(deps.db).send(
    new GetCommand({ TableName: deps.tableNames.runs, Key: { run_id: runId }, ConsistentRead: consistent }),
  );
  return Item as RunRecord | undefined;
}
