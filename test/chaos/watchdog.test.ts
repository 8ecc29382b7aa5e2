import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { makeMessage } from '#contract/messages.ts';
import { fromEpochMicros } from '#contract/timestamps.ts';
import type { PilotLauncher } from '#domain/pilot-launcher-port.ts';
import { recordTransformerEnd } from '#domain/pilot-lifecycle.ts';
import type { PilotRecord } from '#domain/pilot-records.ts';
import { pilotIdFor } from '#domain/pilot-slots.ts';
import { type WatchdogDeps, watchPilots } from '#domain/pilot-watchdog.ts';
import { adjustWorkers } from '#domain/worker-adjuster.ts';
import { localPilotLauncher } from '#local/pilot-launcher.ts';
import { stopDaemon } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { createLogger, type Logger } from '#log/logger.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';
import { startTestDynamo, type TestDynamo } from '../support/dynamo.ts';
import { eventually } from '../support/local-stack.ts';
import { testDir } from '../support/temp.ts';

const namespace = 'watchdog-test';
let broker: TestBroker;
let dynamo: TestDynamo;
let client: BrokerPort;
let stateDir: string;
let launcher: PilotLauncher;
let deps: WatchdogDeps;
let nextRun = 930001;

const ago = (seconds: number): string => fromEpochMicros(Math.round((Date.now() - seconds * 1000) * 1000));
const quiet = (): Logger => createLogger({}, () => {});

beforeAll(async () => {
  [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('watchdog-')]);
  client = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  stateDir = testDir('testbed-watchdog-');
  launcher = localPilotLauncher({
    stateDir,
    env: {
      ...process.env,
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
    },
  });
  deps = { db: dynamo.client, tableNames: tableNames(dynamo.env), log: quiet(), launcher };
});

afterAll(async () => {
  const dir = join(stateDir, 'run', 'pilots');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.pid')) : [];
  await Promise.all(files.map((f) => stopDaemon({ name: f, pidFile: join(dir, f), logFile: '' }, 3_000)));
  await client?.close();
  await Promise.all([broker?.stop(), dynamo?.stop()]);
  rmSync(stateDir, { recursive: true, force: true });
});

/** An open run (task created, not completed) with the pilot settings a run_imminent records. */
async function openRun(extra: Record<string, unknown> = {}): Promise<string> {
  const runId = String(nextRun++);
  await documents(dynamo.client).send(
    new PutCommand({
      TableName: deps.tableNames.runs,
      Item: {
        run_id: runId,
        namespace,
        task_id: 1000042,
        task_state: 'created',
        config: {
          target_worker_count: 2,
          heartbeat_interval: 1,
          transformer_idle_timeout: 60,
          slice_processing_time: 0,
        },
        ...extra,
      },
    }),
  );
  return runId;
}

async function putPilot(runId: string, slot: number, fields: Partial<PilotRecord>): Promise<string> {
  const pilotId = pilotIdFor(runId, slot);
  await documents(dynamo.client).send(
    new PutCommand({
      TableName: deps.tableNames.pilots,
      Item: { run_id: runId, pilot_id: pilotId, slot, attempts: 1, requested_at: ago(30), ...fields },
    }),
  );
  return pilotId;
}

async function pilot(runId: string, pilotId: string): Promise<PilotRecord | undefined> {
  const { Item } = await documents(dynamo.client).send(
    new GetCommand({
      TableName: deps.tableNames.pilots,
      Key: { run_id: runId, pilot_id: pilotId },
      ConsistentRead: true,
    }),
  );
  return Item as PilotRecord | undefined;
}

/** A real transformer process under the pilot's id, as the worker adjuster would have started it; its pid. */
async function startPilot(runId: string, pilotId: string, env: Record<string, string> = {}): Promise<number> {
  const { pid } = await launcher.start({
    runId,
    pilotId,
    namespace,
    env: {
      HEARTBEAT_INTERVAL: '1',
      IDLE_TIMEOUT: '60',
      SLICE_PROCESSING_TIME: '0',
      PILOT_ATTEMPT: '1',
      ...env,
    },
  });
  await eventually(`${pilotId} alive`, () => launcher.isAlive(runId, pilotId));
  // Started: its signal handlers are in place (a SIGTERM before them is fatal, as for any process).
  await eventually(`${pilotId} transformer started`, () =>
    readFileSync(join(stateDir, 'logs', 'pilots', `${pilotId}.log`), 'utf8').includes('transformer started'),
  );
  return pid as number;
}

async function stopPilot(runId: string, pilotId: string): Promise<void> {
  await launcher.stop(runId, pilotId);
  await eventually(`${pilotId} gone`, async () => !(await launcher.isAlive(runId, pilotId)));
}

describe('Pilot watchdog', () => {
  it('marks a running pilot whose process is gone lost and starts attempt 2 in its slot', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = await putPilot(runId, 1, {
      state: 'running',
      started_at: ago(2),
      last_heartbeat_at: ago(0.5),
    });

    // Act
    const outcomes = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [], lost: [p01], replaced: [p01], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({
      state: 'requested',
      slot: 1,
      attempts: 2,
      task_id: 1000042,
    });
    expect(await launcher.isAlive(runId, p01)).toBe(true);
    await stopPilot(runId, p01);
  });

  it('marks a pilot that idled out ended, not lost, though its transformer_end was never recorded, and refills its slot while its run has STFs to finish, spending no attempt', async () => {
    // Prepare: a real transformer that idles out; with no runner here its transformer_end is recorded nowhere.
    const runId = await openRun({ registered_stfs: new Set([1, 2]), completed_stfs: new Set([1]) });
    const p01 = pilotIdFor(runId, 1);
    await putPilot(runId, 1, { state: 'running', started_at: ago(2), last_heartbeat_at: ago(0.5) });
    await startPilot(runId, p01, { IDLE_TIMEOUT: '1' });
    await eventually(`${p01} idled out`, async () => !(await launcher.isAlive(runId, p01)));

    // Act
    const outcomes = await watchPilots(deps, { runId, confirmGoneMs: 50 });
    const next = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [p01], lost: [], replaced: [], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(next).toEqual([
      { runId, ended: [], lost: [], replaced: [], refilled: [p01], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({ attempts: 2, refills: 1 });
    expect((await pilot(runId, p01))?.lost_at).toBeUndefined();
    await stopPilot(runId, p01);
  });

  it('marks a requested pilot that drained on SIGTERM before its start was recorded ended', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = pilotIdFor(runId, 1);
    await putPilot(runId, 1, { state: 'requested', requested_at: ago(1) });
    await startPilot(runId, p01);
    await stopPilot(runId, p01);

    // Act
    const outcomes = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [p01], lost: [], replaced: [], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({
      state: 'ended',
      attempts: 1,
      end_reason: 'exit 0 (sigterm)',
    });
  });

  it('marks a pilot killed with SIGKILL lost, saying so, and starts attempt 2 in its slot', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = pilotIdFor(runId, 1);
    await putPilot(runId, 1, { state: 'running', started_at: ago(2), last_heartbeat_at: ago(0.5) });
    const pid = await startPilot(runId, p01);
    process.kill(pid, 'SIGKILL');
    await eventually(
      `${p01} exit seen`,
      async () => (await launcher.status?.(runId, p01, 1))?.state === 'failed',
    );
    const lines: Record<string, unknown>[] = [];
    const logged = { ...deps, log: createLogger({}, (l) => lines.push(JSON.parse(l))) };

    // Act
    const outcomes = await watchPilots(logged, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [], lost: [p01], replaced: [p01], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(lines.find((l) => l.message === 'pilot lost')).toMatchObject({
      why: 'gone',
      exit: 'killed by SIGKILL',
    });
    expect(await pilot(runId, p01)).toMatchObject({ state: 'requested', attempts: 2 });
    await eventually(`${p01} attempt 2 alive`, () => launcher.isAlive(runId, p01));
    await stopPilot(runId, p01);
  });

  it('marks a pilot that exited with an error lost and starts attempt 2 in its slot', async () => {
    // Prepare: a pilot whose broker credentials are missing exits 1 at once.
    const runId = await openRun();
    const p01 = pilotIdFor(runId, 1);
    await putPilot(runId, 1, { state: 'requested', requested_at: ago(1) });
    await launcher.start({
      runId,
      pilotId: p01,
      namespace,
      env: { PILOT_ATTEMPT: '1', BROKER_CREDENTIALS_FILE: join(stateDir, 'missing.json') },
    });
    await eventually(
      `${p01} failed`,
      async () => (await launcher.status?.(runId, p01, 1))?.state === 'failed',
    );

    // Act
    const outcomes = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [], lost: [p01], replaced: [p01], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'requested', attempts: 2 });
    await eventually(`${p01} attempt 2 alive`, () => launcher.isAlive(runId, p01));
    await stopPilot(runId, p01);
  });

  it('counts a pilot whose transformer_end is recorded while its exit is being confirmed as ended, not lost', async () => {
    // Prepare
    const runId = await openRun({ registered_stfs: new Set([1]) });
    const p01 = await putPilot(runId, 1, {
      state: 'running',
      started_at: ago(2),
      last_heartbeat_at: ago(0.5),
    });
    const ending: WatchdogDeps = {
      ...deps,
      sleep: async () => {
        await putPilot(runId, 1, { state: 'ended', ended_at: ago(0), slices_done: 7 });
      },
    };

    // Act
    const outcomes = await watchPilots(ending, { runId });

    // Assess: not lost; its run still open, its slot gets a pilot again without spending an attempt
    expect(outcomes).toEqual([
      { runId, ended: [], lost: [], replaced: [], refilled: [p01], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'requested', attempts: 2, refills: 1 });
    await eventually(`${p01} started`, () => launcher.isAlive(runId, p01));
    await stopPilot(runId, p01);
  });

  it('leaves the slot of a pilot that ended normally empty when its run has no STF left to finish', async () => {
    // Prepare: every registered STF completed (the DAQ is between STFs): nothing for a pilot to do
    const runId = await openRun({ registered_stfs: new Set([1]), completed_stfs: new Set([1]) });
    const p01 = await putPilot(runId, 1, {
      state: 'ended',
      ended_at: ago(1),
      end_reason: 'exit 0 (idle_timeout)',
    });

    // Act
    const outcomes = await watchPilots(deps, { runId });

    // Assess
    expect(outcomes).toEqual([]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'ended', attempts: 1 });
  });
  it('stops a silent pilot only while another pilot is heard, and replaces it once gone, though it ended', async () => {
    // Prepare: two live transformers whose heartbeats nobody records (no runner here).
    const runId = await openRun();
    const [p01, p02] = [pilotIdFor(runId, 1), pilotIdFor(runId, 2)];
    await Promise.all([startPilot(runId, p01), startPilot(runId, p02)]);
    const silent = { state: 'running' as const, started_at: ago(20), last_heartbeat_at: ago(10) };
    await putPilot(runId, 1, silent);
    await putPilot(runId, 2, silent);

    // Act: every pilot silent (the broker or the handlers down), then p02 heard again.
    const allSilent = await watchPilots(deps, { runId });
    await putPilot(runId, 2, { ...silent, last_heartbeat_at: ago(0) });
    const oneSilent = await watchPilots(deps, { runId });
    await eventually(`${p01} drained and gone`, async () => !(await launcher.isAlive(runId, p01)));
    // Its drain ends with a transformer_end, handled before the next pass.
    const end = makeMessage(
      'transformer_end',
      runId,
      { pilot_id: p01, id: p01, hostname: 'h', attempt: 1, slices_done: 3, reason: 'sigterm' },
      { namespace },
    );
    await recordTransformerEnd([end], { ...deps, broker: client });
    const ended = await pilot(runId, p01);
    const afterExit = await watchPilots(deps, { runId });

    // Assess
    expect(allSilent).toEqual([]);
    expect(oneSilent).toEqual([
      { runId, ended: [], lost: [p01], replaced: [], refilled: [], exhausted: [], stopping: [p01] },
    ]);
    expect(ended).toMatchObject({ state: 'ended', slices_done: 3, attempts: 1 });
    expect(ended?.lost_at).toBeDefined();
    expect(afterExit).toEqual([
      { runId, ended: [], lost: [], replaced: [p01], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'requested', attempts: 2 });
    expect((await pilot(runId, p01))?.lost_at).toBeUndefined();
    expect(await pilot(runId, p02)).toMatchObject({ state: 'running', attempts: 1 });
    await Promise.all([stopPilot(runId, p01), stopPilot(runId, p02)]);
  });

  it('leaves a slot lost once it has had three attempts', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = await putPilot(runId, 1, {
      state: 'running',
      attempts: 3,
      started_at: ago(2),
      last_heartbeat_at: ago(0.5),
    });

    // Act
    const first = await watchPilots(deps, { runId, confirmGoneMs: 50 });
    const second = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(first).toEqual([
      { runId, ended: [], lost: [p01], replaced: [], refilled: [], exhausted: [p01], stopping: [] },
    ]);
    expect(second).toEqual([]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'lost', attempts: 3 });
    expect(await launcher.isAlive(runId, p01)).toBe(false);
  });

  it('gives a requested pilot time to appear before it counts as gone', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = await putPilot(runId, 1, { state: 'requested', requested_at: ago(1) });
    const p02 = await putPilot(runId, 2, { state: 'requested', requested_at: ago(30) });

    // Act
    const outcomes = await watchPilots(deps, { runId, confirmGoneMs: 50 });

    // Assess
    expect(outcomes).toEqual([
      { runId, ended: [], lost: [p02], replaced: [p02], refilled: [], exhausted: [], stopping: [] },
    ]);
    expect(await pilot(runId, p01)).toMatchObject({ state: 'requested', attempts: 1 });
    await stopPilot(runId, p02);
  });

  it('leaves the pilots of completed runs and of runs whose task is closed alone', async () => {
    // Prepare
    const completed = await openRun({ completion: 'completed', task_state: 'closed', phase: 'completed' });
    const stopped = await openRun({ task_state: 'closed' });
    const gone = { state: 'running' as const, started_at: ago(20), last_heartbeat_at: ago(10) };
    const pilots = [await putPilot(completed, 1, gone), await putPilot(stopped, 1, gone)];

    // Act
    const outcomes = [
      ...(await watchPilots(deps, { runId: completed, confirmGoneMs: 50 })),
      ...(await watchPilots(deps, { runId: stopped, confirmGoneMs: 50 })),
    ];

    // Assess
    expect(outcomes).toEqual([]);
    expect((await pilot(completed, pilots[0] as string))?.state).toBe('running');
    expect((await pilot(stopped, pilots[1] as string))?.state).toBe('running');
  });

  it('keeps the worker adjuster to three attempts per slot too', async () => {
    // Prepare
    const runId = await openRun();
    const p01 = await putPilot(runId, 1, { state: 'lost', attempts: 3 });
    const request = makeMessage(
      'adjuster_worker',
      runId,
      {
        num_workers: 1,
        num_cores_per_worker: 1,
        num_ram_per_core: 2000,
        requested_at: ago(0),
        task_id: 1000042,
      },
      { namespace },
    );

    // Act
    const [outcome] = await adjustWorkers([request], { ...deps, broker: client });

    // Assess
    expect(outcome).toMatchObject({ started: [], kept: [] });
    expect(await pilot(runId, p01)).toMatchObject({ state: 'lost', attempts: 3 });
    expect(await launcher.isAlive(runId, p01)).toBe(false);
  });
});
