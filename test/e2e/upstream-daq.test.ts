import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { allocateRunNumber } from '#domain/daq-run-start.ts';
import { DEFAULT_SLICES_PER_STF } from '#domain/stfs.ts';
import { browseQueue, type DeadLetter, deadLetterQueues, listDeadLetters } from '#local/dead-letters.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { destinations, splitDestination } from '#routes/destinations.ts';
import { handlerQueue, routes } from '#routes/route-table.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import { testbed } from '../support/cli.ts';
import { eventually, stopTestStack, type TestStack, testStack } from '../support/local-stack.ts';
import { connectUpstreamAgent } from '../support/upstream-agent.ts';
import { expectedSliceKeys, messagesOf } from './reliability-stack.ts';

const STF_COUNT = 4;
const NAMESPACE = 'upstream-daq';
const SENDER = 'daq_simulator-agent-upstream-1';
const EXECUTION = 'prompt_processing-upstream-0001';

/** `datetime.now().isoformat()` as upstream's DAQ simulator writes it: naive, microseconds. */
const pythonNow = (): string => `${new Date().toISOString().slice(0, 23)}000`;

/** The DAQ simulator's messages as upstream's current workflow runner builds them (flat, run_id a string). */
function daqMessages(runId: string): Record<string, unknown>[] {
  const common = { namespace: NAMESPACE, sender: SENDER, execution_id: EXECUTION, run_id: runId };
  const stfGen = (sequence: number) => ({
    msg_type: 'stf_gen',
    ...common,
    filename: stfFileName(runId, sequence),
    sequence,
    timestamp: pythonNow(),
    simulation_tick: 20 + sequence,
    state: 'run',
    substate: 'physics',
  });
  const stfGens = Array.from({ length: STF_COUNT }, (_, i) => stfGen(i + 1));
  return [
    {
      msg_type: 'run_imminent',
      ...common,
      timestamp: pythonNow(),
      simulation_tick: 11.0,
      state: 'beam',
      substate: 'not_ready',
      dataset: `swf.${runId}.run`,
      container: '/tmp',
    },
    {
      msg_type: 'start_run',
      ...common,
      timestamp: pythonNow(),
      simulation_tick: 19.1,
      state: 'run',
      substate: 'physics',
    },
    ...stfGens,
    // At-least-once delivery: the same stf_gen again must change nothing.
    stfGens[1] as Record<string, unknown>,
    {
      msg_type: 'end_run',
      ...common,
      timestamp: pythonNow(),
      simulation_tick: 40.0,
      total_stf_files: STF_COUNT,
    },
  ];
}

// A run started by no DAQ simulator of ours: upstream's messages, published as their agent base publishes
// (the JSON body alone: no msg_type, run_id or namespace header, non-persistent), reach the handlers through
// the headerless route and run the whole workflow on the local stack.
describe('A run driven by upstream’s DAQ messages, sent without headers, on the local stack', () => {
  let s: TestStack;
  let db: DynamoDBClient;
  let broker: BrokerPort;
  let runId: string;
  let records: RunRecords;
  let unusable: string;
  let upstreamOnly: string;
  let parked: DeadLetter[];

  beforeAll(async () => {
    s = await testStack('testbed-upstream-daq-');
    const up = await testbed(['up'], s.env);
    if (up.code !== 0) throw new Error(up.stderr);
    db = dynamoClient(s.stackEnv);
    const names = tableNames(s.stackEnv);
    // Drawn from the stack's own run counter, as the DAQ simulator draws it: no other run has it.
    runId = await allocateRunNumber({ db, tableNames: names });
    // The STF files the slices read, where the pilots look for a run's files when a slice names no url.
    const folder = join(s.stackEnv.STF_STORE as string, runId);
    mkdirSync(folder, { recursive: true });
    for (let sequence = 1; sequence <= STF_COUNT; sequence++) {
      const data = generateStf({ runId, sequence, tfCount: DEFAULT_SLICES_PER_STF, sizeBytes: 64 * 1024 });
      writeFileSync(join(folder, stfFileName(runId, sequence)), data);
    }
    const credentials = readCredentials(s.stackEnv.BROKER_CREDENTIALS_FILE as string);
    broker = await connectBroker({ url: s.stackEnv.BROKER_URL as string, ...credentials, log: () => {} });

    const agent = await connectUpstreamAgent(s.stackEnv.BROKER_URL as string, credentials);
    for (const body of daqMessages(runId)) agent.send(destinations.epic, JSON.stringify(body));
    upstreamOnly = JSON.stringify({
      msg_type: 'tf_file_registered',
      namespace: NAMESPACE,
      sender: 'fastmon-agent-upstream-2',
      run_id: runId,
      tf_filename: `swf.${runId}.000001_tf_001.tf`,
      tf_count: 2,
    });
    agent.send(destinations.epic, upstreamOnly);
    // Deliberately bad: no msg_type anywhere.
    unusable = JSON.stringify({ namespace: NAMESPACE, sender: SENDER, run_id: runId, total_stf_files: 1 });
    agent.send(destinations.epic, unusable);
    await agent.close();

    records = await eventually(
      `run ${runId} completed`,
      async () => {
        const r = await readRun(db, names, runId);
        return r.run?.completion === 'completed' && r;
      },
      150_000,
      500,
    );
    parked = await eventually('the unusable body parked', async () => {
      const found = await listDeadLetters(broker, { handler: 'headerless', runId });
      return found.length > 0 && found;
    });
  }, 240_000);

  afterAll(async () => {
    await broker?.close();
    await stopTestStack(s);
  });

  it('opens the run with the dataset run_imminent names and one workflow task', () => {
    // Assess
    expect(records.run).toMatchObject({
      run_id: runId,
      namespace: NAMESPACE,
      execution_id: EXECUTION,
      dataset: `swf.${runId}.run`,
    });
    expect(typeof records.run?.task_id).toBe('number');
  });

  it('registers every STF it announced once, the repeated stf_gen changing nothing', () => {
    // Prepare
    const sequences = records.stfs.map((stf) => Number(stf.sequence)).sort((a, b) => a - b);

    // Assess
    expect(sequences).toEqual(Array.from({ length: STF_COUNT }, (_, i) => i + 1));
    expect(records.stfs.map((stf) => stf.filename).sort()).toEqual(
      Array.from({ length: STF_COUNT }, (_, i) => stfFileName(runId, i + 1)),
    );
  });

  it('ends the run and completes it: dataset and task closed', () => {
    // Assess
    expect(records.run).toMatchObject({
      ended: true,
      total_stf_files: STF_COUNT,
      phase: 'completed',
      completion: 'completed',
      dataset_state: 'closed',
      task_state: 'closed',
    });
  });

  it('records one result for every slice, each processed from the STF file', () => {
    // Prepare
    const recorded = records.slices.map((slice) => String(slice.slice_key)).sort();

    // Assess
    expect(recorded).toEqual(expectedSliceKeys(records.stfs));
    expect(recorded).toHaveLength(STF_COUNT * DEFAULT_SLICES_PER_STF);
    expect(records.slices.filter((slice) => slice.state !== 'done')).toEqual([]);
  });

  it('hands every DAQ message to the handler of its type and records the upstream-only one', async () => {
    // Act
    const messages = await messagesOf(db, s.stackEnv, runId);
    const byHandler = (handler: string) => messages.filter((m) => m.handler === handler);

    // Assess
    for (const type of ['run_imminent', 'start_run', 'end_run']) {
      expect(
        byHandler(type).map((m) => m.msg_type),
        type,
      ).toEqual([type]);
    }
    expect(byHandler('stf_gen').map((m) => m.sender)).toEqual(Array(STF_COUNT).fill(SENDER));
    expect(byHandler('headerless')).toContainEqual(
      expect.objectContaining({ msg_type: 'tf_file_registered', sender: 'fastmon-agent-upstream-2' }),
    );
    expect(byHandler('headerless').filter((m) => m.refused === undefined)).toHaveLength(1);
  });

  it('parks the unusable body in the headerless dead-letter queue with its reason', () => {
    // Assess
    expect(parked).toEqual([
      expect.objectContaining({
        queue: 'DLQ.swf.handler.headerless',
        body: unusable,
        run_id: runId,
        reason: 'msg_type: required, in the body when no header names it',
      }),
    ]);
  });

  it('leaves nothing in any handler queue, the slice queue or a dead-letter queue but the unusable body', async () => {
    // Prepare
    const queues = [
      ...routes.map(handlerQueue),
      splitDestination(destinations.slices).name,
      ...deadLetterQueues(),
    ];

    // Act
    const left = await eventually(
      'handler queues drained',
      async () => {
        const counts = await Promise.all(
          queues.map(async (q) => [q, (await browseQueue(broker, q)).map((m) => m.body)] as const),
        );
        const nonEmpty = counts.filter(([, bodies]) => bodies.length > 0);
        return nonEmpty.length <= 1 && nonEmpty;
      },
      30_000,
      500,
    );

    // Assess
    expect(left).toEqual([['DLQ.swf.handler.headerless', [unusable]]]);
  });
});
