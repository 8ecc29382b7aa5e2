import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { type Message, type MsgType, makeMessage } from '#contract/messages.ts';
import type { DomainDeps } from '#domain/deps.ts';
import {
  recordTransformerEnd,
  recordTransformerHeartbeat,
  recordTransformerStart,
} from '#domain/pilot-lifecycle.ts';
import { endRuns, openRuns, pauseRuns, resumeRuns, startRuns } from '#domain/runs.ts';
import { recordSliceResults, sliceKey } from '#domain/slices.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import { createLogger } from '#log/logger.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { tableNames } from '#runtime/env.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

// biome-ignore lint/suspicious/noExplicitAny: one dispatch table over every handled type
const domain: Partial<Record<MsgType, (msgs: any[], deps: DomainDeps) => Promise<unknown>>> = {
  run_imminent: openRuns,
  start_run: startRuns,
  pause_run: pauseRuns,
  resume_run: resumeRuns,
  stf_gen: registerStfs,
  stf_ready: sliceStfs,
  slice_result: recordSliceResults,
  end_run: endRuns,
  transformer_start: recordTransformerStart,
  transformer_heartbeat: recordTransformerHeartbeat,
  transformer_end: recordTransformerEnd,
};

const STFS = 2;
const SLICES = 2;
const t = (s: number) => `2026-07-20T14:00:${String(s).padStart(2, '0')}.000000Z`;

/** Every message a small run's handlers take, as the DAQ simulator, the data handler and a transformer send them. */
function runMessages(runId: string): Message[] {
  const ns = { namespace: 'order-test' };
  const m = <T extends MsgType>(type: T, at: number, content: Record<string, unknown>) =>
    makeMessage(type, runId, content as never, { ...ns, createdAt: t(at) }) as Message;
  const stf = (seq: number) => ({
    filename: `swf.${runId}.${String(seq).padStart(6, '0')}.stf`,
    sequence: seq,
    size: 1000,
    checksum: 'ad:0000abcd',
    tf_count: 4,
    slices_per_stf: SLICES,
    state: 'run',
    substate: 'physics',
  });
  const msgs: Message[] = [
    m('run_imminent', 1, {
      execution_id: 'order-0001',
      num_workers: 1,
      slices_per_stf: SLICES,
      tfs_per_stf: 4,
    }),
    m('start_run', 2, { state: 'run', substate: 'physics' }),
    m('pause_run', 5, { state: 'run', substate: 'standby' }),
    m('resume_run', 6, { state: 'run', substate: 'physics' }),
    m('end_run', 20, { total_stf_files: STFS }),
    m('transformer_start', 3, { id: `${runId}-p01`, hostname: 'h' }),
    m('transformer_heartbeat', 8, { id: `${runId}-p01`, hostname: 'h', slices_done: 1 }),
    m('transformer_end', 30, { id: `${runId}-p01`, hostname: 'h', slices_done: STFS * SLICES }),
  ];
  for (let seq = 1; seq <= STFS; seq++) {
    msgs.push(m('stf_gen', 5 + seq, stf(seq)), m('stf_ready', 6 + seq, stf(seq)));
    for (let id = 0; id < SLICES; id++) {
      msgs.push(
        m('slice_result', 10 + seq + id, {
          filename: stf(seq).filename,
          slice_id: id,
          start: id * 2,
          end: id * 2 + 1,
          requested_at: t(7 + seq),
          processing_start_at: t(8 + seq),
          processed_at: t(9 + seq),
          state: 'done',
          id: `${runId}-p01`,
          hostname: 'h',
        }),
      );
    }
  }
  return msgs;
}

/** The records without what legitimately differs between two replays: the run id and the task number. */
function comparable(r: RunRecords, runId: string): unknown {
  const strip = (items: Record<string, unknown>[]) =>
    items
      .map((i) =>
        JSON.parse(
          JSON.stringify(i, (_k, v) => (v instanceof Set ? [...v].sort() : v)).replaceAll(runId, 'RUN'),
        ),
      )
      .map(({ task_id, ...rest }) => rest)
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return {
    run: strip(r.run ? [r.run] : []),
    stfs: strip(r.stfs),
    slices: strip(r.slices),
    pilots: strip(r.pilots),
  };
}

describe('Handlers under reordering and duplication', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  let dynamo: TestDynamo;
  let deps: DomainDeps;
  let nextRun = 500_000;

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('order-')]);
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    deps = {
      broker: port,
      db: dynamo.client,
      tableNames: tableNames(dynamo.env),
      log: createLogger({}, () => {}),
      now: () => t(59),
    };
  });
  afterAll(async () => {
    await port?.close();
    await Promise.all([broker?.stop(), dynamo?.stop()]);
  });

  async function replay(order: Message[]): Promise<{ runId: string; records: RunRecords }> {
    const runId = order[0]?.run_id as string;
    for (const msg of order) await domain[msg.msg_type]?.([msg], deps);
    return { runId, records: await readRun(dynamo.client, deps.tableNames, runId) };
  }

  it('ends with the records of the in-order replay, whatever the order and the duplicates (200 cases)', async () => {
    // Prepare
    const reference = await replay(runMessages(String(nextRun++)));
    const expected = comparable(reference.records, reference.runId);
    expect(reference.records.run).toMatchObject({
      completion: 'completed',
      dataset_state: 'closed',
      task_state: 'closed',
    });
    expect(reference.records.slices.map((s) => s.slice_key)).toContain(
      sliceKey(`swf.${reference.runId}.000001.stf`, 0),
    );
    const count = runMessages('1').length;
    const schedule = fc.tuple(
      fc.array(fc.nat(), { minLength: count, maxLength: count }),
      fc.array(fc.nat({ max: count - 1 }), { maxLength: 10 }),
    );
    // Act
    await fc.assert(
      fc.asyncProperty(schedule, async ([keys, duplicates]) => {
        const msgs = runMessages(String(nextRun++));
        const delivered = [...msgs, ...duplicates.map((i) => msgs[i] as Message)];
        const shuffled = delivered
          .map((m, i) => ({ m, k: keys[i % count] ?? 0, i }))
          .sort((a, b) => a.k - b.k || a.i - b.i);
        const { runId, records } = await replay(shuffled.map((x) => x.m));
        // Assess
        expect(comparable(records, runId)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  }, 300_000);
});
