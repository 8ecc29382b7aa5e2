import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { startTransformer } from '#domain/transformer.ts';
import { localPilotLauncher, pilotDaemon } from '#local/pilot-launcher.ts';
import { isAlive, readPid, stopDaemon } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { destinations } from '#routes/destinations.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { testDir } from '../../support/temp.ts';
import { eventually, memoryLogger, ofType, publishSlices, sliceMessages, writeStf } from './support.ts';

const namespace = 'pilots-test';

describe('Transformer as a pilot process', () => {
  let broker: TestBroker;
  let client: BrokerPort;
  let stateDir: string;
  let store: string;
  let nextRun = 940001;

  const launch = async (runId: string, slot: number, env: Record<string, string> = {}) => {
    const launcher = localPilotLauncher({
      stateDir,
      env: {
        ...process.env,
        BROKER_URL: broker.url,
        BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
        STF_STORE: store,
      },
    });
    const pilotId = `${runId}-p0${slot}`;
    const { pid } = await launcher.start({
      runId,
      pilotId,
      taskId: 1000042,
      namespace,
      env: {
        SLICE_PROCESSING_TIME: '0',
        HEARTBEAT_INTERVAL: '5',
        IDLE_TIMEOUT: '120',
        PILOT_ATTEMPT: '1',
        ...env,
      },
    });
    return {
      pilotId,
      pid: pid as number,
      log: () => readFileSync(pilotDaemon(stateDir, pilotId).logFile, 'utf8'),
    };
  };

  beforeAll(async () => {
    broker = await startTestBroker();
    client = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    stateDir = testDir('testbed-pilot-');
    store = join(stateDir, 'stf');
  });
  afterAll(async () => {
    const pidDir = join(stateDir, 'run', 'pilots');
    const pidFiles = existsSync(pidDir) ? readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
    await Promise.all(
      pidFiles.map((f) => stopDaemon({ name: f, pidFile: join(pidDir, f), logFile: '' }, 2_000)),
    );
    await client?.close();
    await broker?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('processes its slices and, on stop_transformer, drains, sends transformer_end and exits 0', async () => {
    // Prepare
    const runId = String(nextRun++);
    const stf = writeStf(store, runId);
    const slices = sliceMessages(stf, { namespace });
    const seen = await capture(client, destinations.results, `run_id = '${runId}'`);
    const pilot = await launch(runId, 1);
    await seen.until(1);
    await publishSlices(client, slices);
    await seen.until(1 + slices.length);
    // Act
    const { body, headers } = encodeMessage(makeMessage('stop_transformer', runId, {}, { namespace }));
    await client.publish(destinations.transformer, body, headers);
    // Assess
    await seen.until(2 + slices.length);
    const [start] = ofType(seen.messages, 'transformer_start');
    expect(start?.content).toMatchObject({ id: pilot.pilotId, pid: pilot.pid, task_id: 1000042, attempt: 1 });
    const results = ofType(seen.messages, 'slice_result');
    expect(results.map((r) => r.content.state)).toEqual(slices.map(() => 'done'));
    expect(ofType(seen.messages, 'transformer_end')[0]?.content).toMatchObject({
      id: pilot.pilotId,
      slices_done: slices.length,
      slices_failed: 0,
      reason: 'stop_transformer',
    });
    await eventually('the pilot exits', () => !isAlive(pilot.pid));
    expect(pilot.log()).toMatch(/"message":"pilot exits".*"code":0/);
    expect(readPid(pilotDaemon(stateDir, pilot.pilotId))).toBeUndefined();
    await seen.stop();
  });

  it('leaves the slice in hand of a pilot killed mid-slice to another transformer', async () => {
    // Prepare
    const runId = String(nextRun++);
    const slices = sliceMessages(writeStf(store, runId), { namespace, slices: 1 });
    const seen = await capture(client, destinations.results, `run_id = '${runId}'`);
    const pilot = await launch(runId, 1, { SLICE_PROCESSING_TIME: '30' });
    await seen.until(1);
    await publishSlices(client, slices);
    // Its only consumer takes it at once; `redelivered` below shows it did.
    await new Promise((r) => setTimeout(r, 1_000));
    // Act
    process.kill(pilot.pid, 'SIGKILL');
    const own = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    const other = await startTransformer(
      { runId, pilotId: `${runId}-p02`, namespace, stfStore: store, heartbeatInterval: 60, idleTimeout: 0 },
      { broker: own, log: memoryLogger() },
    );
    await seen.until(3);
    // Assess
    const results = ofType(seen.messages, 'slice_result');
    expect(results).toHaveLength(1);
    expect(results[0]?.content).toMatchObject({
      pilot_id: `${runId}-p02`,
      slice_id: 0,
      state: 'done',
      requested_at: slices[0]?.created_at,
      redelivered: true,
    });
    await other.stop('test over');
    await own.close();
    await seen.stop();
  });
});
