import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { MonitorContext } from '#query/context.ts';
import { emptyLogSource, type LogSource } from '#query/logs.ts';
import { tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import type { TestDynamo } from '../../support/dynamo.ts';

export const RUN = '100500';
export const EXECUTION = 'prompt_processing-alice-0007';
export const TASK = 1000042;
/** A run served only by upstream's transformer: results with hosts, no pilots of ours. */
export const FOREIGN_RUN = '100501';
export const FOREIGN_EXECUTION = 'prompt_processing-carol-0001';
/** The host our seeded pilots report from. */
export const OUR_HOST = 'testbed-host';

/** The clock the monitor is given: 60 s after the run's start. */
export const NOW_MS = Date.parse('2025-03-01T10:01:00.000Z');

const at = (s: number) =>
  new Date(Date.parse('2025-03-01T10:00:00.000Z') + s * 1000).toISOString().replace('Z', '000Z');

export function context(dynamo: TestDynamo, logs: LogSource = emptyLogSource): MonitorContext {
  return { db: dynamo.client, tableNames: tableNames(dynamo.env), logs, now: () => NOW_MS };
}

/** Where records are seeded: a test's own dynalite, or a local stack's (its client and environment). */
type Tables = Pick<TestDynamo, 'client' | 'env'>;

async function put(dynamo: Tables, table: TableName, items: Record<string, unknown>[]): Promise<void> {
  const name = tableNames(dynamo.env)[table];
  for (let i = 0; i < items.length; i += 25)
    await documents(dynamo.client).send(
      new BatchWriteCommand({
        RequestItems: { [name]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
}

/**
 * A run as the handlers record it: 3 STFs of 4 slices (the third still processing, one slice failed),
 * two pilots (one live, one silent for 40 s with a 5 s heartbeat: lost), and its messages.
 */
export async function seedRun(dynamo: TestDynamo): Promise<void> {
  await put(dynamo, 'runs', [
    {
      run_id: RUN,
      execution_id: EXECUTION,
      namespace: 'alice',
      workflow: 'prompt_processing',
      phase: 'ended',
      task_id: TASK,
      task_state: 'created',
      dataset: `swf.${RUN}.run`,
      dataset_state: 'closed',
      config: { heartbeat_interval: 5, slices_per_stf: 4 },
      ended: true,
      total_stf_files: 3,
      registered_stfs: new Set([1, 2, 3]),
      created_at: at(0),
      started_at: at(1),
      ended_at: at(20),
    },
    { run_id: '100499', namespace: 'bob', phase: 'completed', completion: 'completed', created_at: at(-100) },
  ]);
  await put(dynamo, 'lookups', [
    { lookup: `execution:${EXECUTION}`, run_id: RUN, namespace: 'alice' },
    { lookup: `task:${TASK}`, run_id: RUN },
  ]);
  const stf = (seq: number, done: number[], completed: boolean) => ({
    run_id: RUN,
    filename: `swf.${RUN}.00000${seq}.stf`,
    sequence: seq,
    size: 1000,
    checksum: 'ad:00000001',
    state: 'physics',
    tf_count: 8,
    registered_at: at(seq * 5),
    slice_count: 4,
    ...(done.length > 0 && { done_slices: new Set(done) }),
    ...(completed && { completed: true }),
  });
  await put(dynamo, 'stfs', [stf(1, [0, 1, 2, 3], true), stf(2, [0, 1, 2, 3], true), stf(3, [0], false)]);
  const slices: Record<string, unknown>[] = [];
  for (const seq of [1, 2, 3])
    for (const id of seq === 3 ? [0] : [0, 1, 2, 3]) {
      const requested = seq * 5 + 1;
      const failed = seq === 2 && id === 3;
      slices.push({
        run_id: RUN,
        slice_key: `swf.${RUN}.00000${seq}.stf#000${id}`,
        filename: `swf.${RUN}.00000${seq}.stf`,
        slice_id: id,
        state: failed ? 'failed' : 'done',
        requested_at: at(requested),
        processing_start_at: at(requested + 0.1 * (id + 1)),
        processed_at: at(requested + 0.2 * (id + 1)),
        pilot_id: `${RUN}-p0${1 + (id % 2)}`,
        hostname: OUR_HOST,
        ...(failed && { error: 'checksum mismatch' }),
      });
    }
  await put(dynamo, 'slices', slices);
  await put(dynamo, 'pilots', [
    {
      run_id: RUN,
      pilot_id: `${RUN}-p01`,
      task_id: TASK,
      slot: 1,
      state: 'running',
      started_at: at(2),
      last_heartbeat_at: at(57),
      slices_done: 6,
    },
    {
      run_id: RUN,
      pilot_id: `${RUN}-p02`,
      task_id: TASK,
      slot: 2,
      state: 'running',
      started_at: at(2),
      last_heartbeat_at: at(20),
      slices_done: 3,
    },
  ]);
  const message = (s: number, type: string, sender: string, extra: Record<string, unknown> = {}) => ({
    run_id: RUN,
    msg_key: `${at(s)}#${type}#${s}`,
    msg_type: type,
    sender,
    namespace: 'alice',
    execution_id: EXECUTION,
    created_at: at(s),
    content: JSON.stringify({ n: s }),
    ...extra,
  });
  await put(dynamo, 'messages', [
    message(0, 'run_imminent', 'daq_simulator-alice'),
    message(1, 'start_run', 'daq_simulator-alice'),
    ...[5, 10, 15].map((s) => message(s, 'stf_gen', 'daq_simulator-alice')),
    ...[6, 11, 16].map((s) => message(s, 'stf_ready', 'data-handler')),
    message(17, 'slice_result', `${RUN}-p01`, { refused: 'slice_result.filename: required' }),
    message(20, 'end_run', 'daq_simulator-alice'),
  ]);
}

/**
 * A later run whose results came from upstream's Python transformer, which the worker adjuster did not
 * start: no pilots, results that name a host and no pilot (eic-node-1: 4 done; eic-node-2: 1 done,
 * 1 failed), and one slice_result the handlers refused, which is no result.
 */
export async function seedForeignRun(dynamo: Tables): Promise<void> {
  await put(dynamo, 'runs', [
    {
      run_id: FOREIGN_RUN,
      execution_id: FOREIGN_EXECUTION,
      namespace: 'carol',
      workflow: 'prompt_processing',
      phase: 'completed',
      completion: 'completed',
      task_id: TASK + 1,
      config: { heartbeat_interval: 5, slices_per_stf: 3 },
      total_stf_files: 2,
      registered_stfs: new Set([1, 2]),
      created_at: at(30),
      started_at: at(31),
      ended_at: at(40),
      completed_at: at(41),
    },
  ]);
  await put(dynamo, 'lookups', [{ lookup: `execution:${FOREIGN_EXECUTION}`, run_id: FOREIGN_RUN }]);
  const filename = (seq: number) => `swf.${FOREIGN_RUN}.00000${seq}.stf`;
  await put(
    dynamo,
    'stfs',
    [1, 2].map((seq) => ({
      run_id: FOREIGN_RUN,
      filename: filename(seq),
      sequence: seq,
      slice_count: 3,
      done_slices: new Set([0, 1, 2]),
      completed: true,
      registered_at: at(30 + seq),
    })),
  );
  const hostOf = (seq: number, id: number) => (seq === 1 || id === 0 ? 'eic-node-1' : 'eic-node-2');
  await put(
    dynamo,
    'slices',
    [1, 2].flatMap((seq) =>
      [0, 1, 2].map((id) => ({
        run_id: FOREIGN_RUN,
        slice_key: `${filename(seq)}#000${id}`,
        filename: filename(seq),
        slice_id: id,
        state: seq === 2 && id === 2 ? 'failed' : 'done',
        requested_at: at(31 + seq),
        processing_start_at: at(31.5 + seq),
        processed_at: at(32 + seq),
        hostname: hostOf(seq, id),
      })),
    ),
  );
  await put(dynamo, 'messages', [
    {
      run_id: FOREIGN_RUN,
      msg_key: `${at(35)}#slice_result#1`,
      msg_type: 'slice_result',
      sender: 'transformer-eic-node-2',
      namespace: 'carol',
      created_at: at(35),
      content: JSON.stringify({ hostname: 'eic-node-2' }),
      refused: 'slice_result.slice_id: required',
    },
  ]);
}
