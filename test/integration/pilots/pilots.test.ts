import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { type ContentInput, encodeMessage, type Message, makeMessage } from '#contract/messages.ts';
import type { PilotLauncher } from '#domain/pilot-launcher-port.ts';
import {
  recordTransformerEnd,
  recordTransformerHeartbeat,
  recordTransformerStart,
} from '#domain/pilot-lifecycle.ts';
import type { PilotRecord } from '#domain/pilot-records.ts';
import { adjustWorkers, type PilotDeps } from '#domain/worker-adjuster.ts';
import { localPilotLauncher, pilotDaemon } from '#local/pilot-launcher.ts';
import { readPid, stopDaemon } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { destinations } from '#routes/destinations.ts';
import { environment, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { eventually, memoryLogger, ofType } from './support.ts';

const namespace = 'pilots-test';

let broker: TestBroker;
let dynamo: TestDynamo;
let client: BrokerPort;

beforeAll(async () => {
  [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('pilots-')]);
  client = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
});
afterAll(async () => {
  await client?.close();
  await Promise.all([broker?.stop(), dynamo?.stop()]);
});

describe('Worker adjuster', () => {
  let stateDir: string;
  let launcher: PilotLauncher;
  let deps: PilotDeps;
  let nextRun = 920001;

  const adjusterWorker = (runId: string, numWorkers: number, extra: Record<string, unknown> = {}) =>
    makeMessage(
      'adjuster_worker',
      runId,
      {
        num_workers: numWorkers,
        num_cores_per_worker: numWorkers > 0 ? 1 : 0,
        num_ram_per_core: numWorkers > 0 ? 2000 : 0,
        requested_at: new Date().toISOString(),
        task_id: 1000042,
        slice_processing_time: 0,
        heartbeat_interval: 1,
        transformer_idle_timeout: 120,
        ...extra,
      },
      { namespace },
    );

  const pilots = async (runId: string): Promise<PilotRecord[]> =>
    ((
      await documents(dynamo.client).send(
        new QueryCommand({
          TableName: deps.tableNames.pilots,
          KeyConditionExpression: 'run_id = :r',
          ExpressionAttributeValues: { ':r': runId },
          ConsistentRead: true,
        }),
      )
    ).Items ?? []) as PilotRecord[];

  const pilotLog = (pilotId: string) => readFileSync(pilotDaemon(stateDir, pilotId).logFile, 'utf8');

  beforeAll(async () => {
    stateDir = testDir('testbed-pilots-');
    const env = {
      ...process.env,
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
      STF_STORE: join(stateDir, 'stf'),
    };
    launcher = localPilotLauncher({ stateDir, env });
    deps = {
      broker: client,
      db: dynamo.client,
      tableNames: tableNames(dynamo.env),
      log: memoryLogger(),
      launcher,
    };
  });
  afterAll(async () => {
    const pidDir = join(stateDir, 'run', 'pilots');
    const pidFiles = existsSync(pidDir) ? readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
    await Promise.all(
      pidFiles.map((f) => stopDaemon({ name: f, pidFile: join(pidDir, f), logFile: '' }, 2_000)),
    );
    // The handler test built the process-wide environment: its broker connection goes too.
    if (process.env.BROKER_URL === broker.url) await (await environment()).broker.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts num_workers pilots, recorded as requested, that announce themselves', async () => {
    // Prepare
    const runId = String(nextRun++);
    const seen = await capture(client, destinations.results, `run_id = '${runId}'`);
    const request = adjusterWorker(runId, 2);
    // Act
    const [outcome] = await adjustWorkers([request], deps);
    // Assess
    expect(outcome?.started.sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    const records = (await pilots(runId)).sort((a, b) => a.pilot_id.localeCompare(b.pilot_id));
    expect(records).toMatchObject([
      {
        pilot_id: `${runId}-p01`,
        slot: 1,
        state: 'requested',
        task_id: 1000042,
        attempts: 1,
        requested_at: request.content.requested_at,
      },
      { pilot_id: `${runId}-p02`, slot: 2, state: 'requested', task_id: 1000042, attempts: 1 },
    ]);
    await seen.until(2);
    const starts = ofType(seen.messages, 'transformer_start');
    expect(starts.map((m) => m.content.id).sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    expect(starts.map((m) => m.content.attempt)).toEqual([1, 1]);
    expect(starts.every((m) => m.namespace === namespace && m.content.task_id === 1000042)).toBe(true);
    expect(await launcher.isAlive(runId, `${runId}-p01`)).toBe(true);
    await seen.stop();
  });

  it('starts nothing for a duplicate adjuster_worker, and restarts only a pilot that died', async () => {
    // Prepare
    const runId = String(nextRun++);
    const request = adjusterWorker(runId, 2);
    await adjustWorkers([request], deps);
    const firstPids = [1, 2].map((s) => readPid(pilotDaemon(stateDir, `${runId}-p0${s}`)));
    // Act
    const [duplicate] = await adjustWorkers([request], deps);
    process.kill(firstPids[1] as number, 'SIGKILL');
    await eventually('p02 gone', async () => !(await launcher.isAlive(runId, `${runId}-p02`)));
    const [again] = await adjustWorkers([request], deps);
    // Assess
    expect(duplicate).toMatchObject({ started: [], stopped: [] });
    expect(duplicate?.kept.sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    expect(again).toMatchObject({ started: [`${runId}-p02`], kept: [`${runId}-p01`] });
    const records = (await pilots(runId)).sort((a, b) => a.pilot_id.localeCompare(b.pilot_id));
    expect(records.map((r) => r.attempts)).toEqual([1, 2]);
    expect(readPid(pilotDaemon(stateDir, `${runId}-p01`))).toBe(firstPids[0]);
  });

  it('stops the run pilots gracefully on num_workers 0: they send transformer_end and exit 0', async () => {
    // Prepare
    const runId = String(nextRun++);
    const seen = await capture(client, destinations.results, `run_id = '${runId}'`);
    await adjustWorkers([adjusterWorker(runId, 2)], deps);
    await seen.until(2);
    // Act
    const [outcome] = await adjustWorkers([adjusterWorker(runId, 0)], deps);
    // Assess
    expect(outcome?.stopped.sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    await seen.until(4);
    const ends = ofType(seen.messages, 'transformer_end');
    expect(ends.map((m) => m.content.reason)).toEqual(['sigterm', 'sigterm']);
    for (const slot of [1, 2]) {
      const pilotId = `${runId}-p0${slot}`;
      await eventually(`${pilotId} exited`, async () => !(await launcher.isAlive(runId, pilotId)));
      await eventually(`${pilotId} logged its exit`, () =>
        pilotLog(pilotId).includes('"message":"pilot exits"'),
      );
      expect(pilotLog(pilotId)).toContain('"code":0');
    }
    await seen.stop();
  });

  it('scales a run down to fewer pilots and marks a pilot that vanished as lost', async () => {
    // Prepare
    const runId = String(nextRun++);
    await adjustWorkers([adjusterWorker(runId, 2)], deps);
    const p02 = readPid(pilotDaemon(stateDir, `${runId}-p02`)) as number;
    process.kill(p02, 'SIGKILL');
    await eventually('p02 gone', async () => !(await launcher.isAlive(runId, `${runId}-p02`)));
    // Act
    const [outcome] = await adjustWorkers([adjusterWorker(runId, 1)], deps);
    // Assess
    expect(outcome).toMatchObject({
      kept: [`${runId}-p01`],
      started: [],
      stopped: [],
      lost: [`${runId}-p02`],
    });
    const records = (await pilots(runId)).sort((a, b) => a.pilot_id.localeCompare(b.pilot_id));
    expect(records.map((r) => r.state)).toEqual(['requested', 'lost']);
  });

  it('starts no pilot for a run whose task is already closed', async () => {
    // Prepare
    const runId = String(nextRun++);
    await documents(dynamo.client).send(
      new PutCommand({
        TableName: deps.tableNames.runs,
        Item: { run_id: runId, task_id: 1000042, task_state: 'closed' },
      }),
    );
    // Act
    const [outcome] = await adjustWorkers([adjusterWorker(runId, 2)], deps);
    // Assess
    expect(outcome).toMatchObject({ numWorkers: 0, started: [] });
    expect(await pilots(runId)).toEqual([]);
  });

  it('works through its Lambda handler, and says which launcher setting is missing outside the local stack', async () => {
    // Prepare
    const runId = String(nextRun++);
    Object.assign(process.env, {
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
      TESTBED_STATE_DIR: stateDir,
    });
    const { handler } = await import('../../../functions/adjuster-worker/handler.ts');
    const event = (msg: Message) => {
      const { body, headers } = encodeMessage(msg);
      const received = {
        body,
        headers,
        destination: '/queue/swf.handler.adjuster_worker',
        messageId: `id:${Math.random()}`,
        redelivered: false,
        ack() {},
        nack() {},
      };
      return mqEvent([toMqMessage(received)]);
    };
    // Act: the launcher is chosen once per process, and chosen again after a failure
    delete process.env.TESTBED_STATE_DIR;
    const withoutStack = await handler(event(adjusterWorker(runId, 1))).catch((e: Error) => e);
    process.env.TESTBED_STATE_DIR = stateDir;
    const outcome = await handler(event(adjusterWorker(runId, 1)));
    // Assess
    expect(withoutStack).toBeInstanceOf(Error);
    expect((withoutStack as Error).message).toMatch(/no pilot launcher: set PILOT_CLUSTER/);
    expect(outcome).toEqual({ accepted: 1, refused: 0 });
    expect((await pilots(runId)).map((p) => p.pilot_id)).toEqual([`${runId}-p01`]);
  });
});

describe('Transformer lifecycle records', () => {
  let deps: Omit<PilotDeps, 'launcher'>;
  let nextRun = 930001;

  const lifecycle = <T extends 'transformer_start' | 'transformer_heartbeat' | 'transformer_end'>(
    type: T,
    runId: string,
    pilotId: string,
    createdAt: string,
    extra: Record<string, unknown> = {},
  ) =>
    makeMessage(
      type,
      runId,
      { hostname: 'node-a', id: pilotId, pilot_id: pilotId, task_id: 1000042, ...extra } as ContentInput<T>,
      {
        namespace,
        createdAt,
      },
    ) as Message<T>;

  const record = async (runId: string, pilotId: string) =>
    (
      await documents(dynamo.client).send(
        new GetCommand({
          TableName: deps.tableNames.pilots,
          Key: { run_id: runId, pilot_id: pilotId },
          ConsistentRead: true,
        }),
      )
    ).Item as PilotRecord | undefined;

  const handle = (m: Message) => {
    if (m.msg_type === 'transformer_start') return recordTransformerStart([m], deps);
    if (m.msg_type === 'transformer_heartbeat') return recordTransformerHeartbeat([m], deps);
    if (m.msg_type === 'transformer_end') return recordTransformerEnd([m], deps);
    throw new Error(m.msg_type);
  };

  beforeAll(() => {
    deps = { broker: client, db: dynamo.client, tableNames: tableNames(dynamo.env), log: memoryLogger() };
  });

  it('records start, heartbeat and end of a transformer on its pilot', async () => {
    // Prepare
    const runId = String(nextRun++);
    const pilotId = `${runId}-p01`;
    // Act
    await handle(
      lifecycle('transformer_start', runId, pilotId, '2026-01-01T00:00:00.000001Z', { pid: 4242 }),
    );
    await handle(
      lifecycle('transformer_heartbeat', runId, pilotId, '2026-01-01T00:00:05Z', { slices_done: 7 }),
    );
    const running = await record(runId, pilotId);
    await handle(lifecycle('transformer_end', runId, pilotId, '2026-01-01T00:00:09Z', { slices_done: 9 }));
    // Assess
    expect(running).toMatchObject({
      state: 'running',
      last_heartbeat_at: '2026-01-01T00:00:05.000000Z',
      slices_done: 7,
    });
    expect(await record(runId, pilotId)).toEqual({
      run_id: runId,
      pilot_id: pilotId,
      state: 'ended',
      hostname: 'node-a',
      pid: 4242,
      task_id: 1000042,
      started_at: '2026-01-01T00:00:00.000001Z',
      last_heartbeat_at: '2026-01-01T00:00:05.000000Z',
      ended_at: '2026-01-01T00:00:09.000000Z',
      slices_done: 9,
    });
  });

  it('ends with the same record whatever order start, heartbeats and end are handled in', async () => {
    // Prepare
    const runId = String(nextRun++);
    const messages = (pilotId: string) => [
      lifecycle('transformer_start', runId, pilotId, '2026-01-01T00:00:00Z', { pid: 7 }),
      lifecycle('transformer_heartbeat', runId, pilotId, '2026-01-01T00:00:05Z', { slices_done: 3 }),
      lifecycle('transformer_heartbeat', runId, pilotId, '2026-01-01T00:00:10Z', { slices_done: 6 }),
      lifecycle('transformer_end', runId, pilotId, '2026-01-01T00:00:12Z', { slices_done: 8 }),
    ];
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [3, 0, 2, 1],
      [2, 1, 3, 0],
      [1, 3, 0, 2],
      [0, 3, 3, 2],
    ];
    // Act
    const finals = [];
    for (const [i, order] of orders.entries()) {
      const pilotId = `${runId}-p${String(i + 1).padStart(2, '0')}`;
      const all = messages(pilotId);
      for (const k of order) await handle(all[k] as Message);
      for (const k of [0, 1, 2, 3]) await handle(all[k] as Message);
      const { pilot_id: _, ...rest } = (await record(runId, pilotId)) as PilotRecord;
      finals.push(rest);
    }
    // Assess
    expect(finals[0]).toMatchObject({
      state: 'ended',
      slices_done: 8,
      last_heartbeat_at: '2026-01-01T00:00:10.000000Z',
    });
    for (const f of finals) expect(f).toEqual(finals[0]);
  });

  it('keeps a pilot ended when its start is handled after its end', async () => {
    // Prepare
    const runId = String(nextRun++);
    const pilotId = `${runId}-p01`;
    await handle(lifecycle('transformer_end', runId, pilotId, '2026-01-01T00:01:00Z', { slices_done: 4 }));
    // Act
    await handle(lifecycle('transformer_start', runId, pilotId, '2026-01-01T00:00:00Z', { pid: 11 }));
    // Assess
    expect(await record(runId, pilotId)).toMatchObject({
      state: 'ended',
      started_at: '2026-01-01T00:00:00.000000Z',
      ended_at: '2026-01-01T00:01:00.000000Z',
      pid: 11,
      slices_done: 4,
    });
  });

  it('ignores reports of an earlier attempt of a restarted pilot', async () => {
    // Prepare
    const runId = String(nextRun++);
    const pilotId = `${runId}-p01`;
    await documents(dynamo.client).send(
      new PutCommand({
        TableName: deps.tableNames.pilots,
        Item: { run_id: runId, pilot_id: pilotId, slot: 1, state: 'requested', attempts: 2 },
      }),
    );
    // Act
    await handle(
      lifecycle('transformer_end', runId, pilotId, '2026-01-01T00:01:00Z', { attempt: 1, slices_done: 4 }),
    );
    const afterOldEnd = await record(runId, pilotId);
    await handle(
      lifecycle('transformer_start', runId, pilotId, '2026-01-01T00:02:00Z', { attempt: 2, pid: 12 }),
    );
    // Assess
    expect(afterOldEnd?.state).toBe('requested');
    expect(await record(runId, pilotId)).toMatchObject({ state: 'running', attempts: 2, pid: 12 });
  });
});
