import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkflow, parseOverride } from '#config/workflow.ts';
import { encodeMessage, type Message, makeMessage } from '#contract/messages.ts';
import { simulateRun } from '#domain/daq.ts';
import { readRunItem } from '#domain/deps.ts';
import { transformerEnv } from '#domain/pilot-settings.ts';
import { openRuns } from '#domain/runs.ts';
import { transformerConfigFromEnv } from '#domain/transformer-config.ts';
import { localPilotLauncher, payloadOutputDir } from '#local/pilot-launcher.ts';
import { isAlive, stopDaemon } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { destinations } from '#routes/destinations.ts';
import { tableNames } from '#runtime/env.ts';
import { localStfStore } from '#stf/store.ts';
import { capture } from '../../support/capture.ts';
import { testDir } from '../../support/temp.ts';
import { fakeClock, quietLog, recordingBroker } from '../../unit/daq/fakes.ts';
import { captureRun, type Harness, startHarness, until } from '../domain/harness.ts';
import { eventually, ofType, publishSlices, sliceMessages, writeStf } from './support.ts';

const namespace = 'payload-settings';
const countHits = fileURLToPath(
  new URL('../../../functions/transformer/payloads/count-hits.mjs', import.meta.url),
);

describe('Payload settings from the workflow to the pilot', () => {
  let h: Harness;
  let dir: string;

  /** The run_imminent the DAQ simulator sends for the workflow with these `--set` assignments. */
  async function runImminent(...assignments: string[]): Promise<Message<'run_imminent'>> {
    const workflow = loadWorkflow('prompt_processing', {
      env: {},
      overrides: Object.fromEntries(
        [
          `testbed.namespace=${namespace}`,
          'simulation.realtime=false',
          'simulation.stf_count=1',
          'prompt_processing.tfs_per_stf=4',
          'prompt_processing.stf_size_bytes=2048',
          ...assignments,
        ].map(parseOverride),
      ),
    });
    const broker = recordingBroker();
    await simulateRun(
      { workflow, user: 'alice' },
      {
        broker,
        db: h.dynamo.client,
        tableNames: tableNames(h.dynamo.env),
        log: quietLog,
        stfStore: localStfStore(join(dir, 'daq-stf')),
        clock: fakeClock(),
      },
    );
    return broker.sent.find((m) => m.msg_type === 'run_imminent') as Message<'run_imminent'>;
  }

  /** What the worker adjuster gets for the run, and the environment it gives the run's pilots. */
  async function openedRun(imminent: Message<'run_imminent'>) {
    const c = await captureRun(h, imminent.run_id);
    await openRuns([imminent], h.deps);
    const [adjuster] = await until(c.workers, 'adjuster_worker', 1);
    await c.stop();
    const run = await readRunItem(h.deps, imminent.run_id, true);
    const content = adjuster?.content as Record<string, unknown>;
    return { content, run, env: transformerEnv(content, run?.config ?? {}) };
  }

  beforeAll(async () => {
    h = await startHarness();
    dir = testDir('payload-settings-');
  });
  afterAll(async () => {
    const pidDir = join(dir, 'state', 'run', 'pilots');
    const pidFiles = existsSync(pidDir) ? readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
    await Promise.all(
      pidFiles.map((f) => stopDaemon({ name: f, pidFile: join(pidDir, f), logFile: '' }, 2_000)),
    );
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("carries file_type, payload_command and payload_timeout from --set to the run's config and its pilots' environment", async () => {
    // Prepare
    const command = `node ${countHits}`;
    // Act
    const imminent = await runImminent(
      'prompt_processing.file_type=mock',
      `prompt_processing.payload_command="${command}"`,
      'prompt_processing.payload_timeout=42',
    );
    const { content, run, env } = await openedRun(imminent);
    const pilot = transformerConfigFromEnv({ ...env, RUN_ID: imminent.run_id });
    // Assess
    expect(imminent.content).toMatchObject({
      file_type: 'mock',
      payload_command: command,
      payload_timeout: 42,
    });
    expect(run?.config).toMatchObject({ file_type: 'mock', payload_command: command, payload_timeout: 42 });
    expect(content).toMatchObject({ payload_command: command, payload_timeout: 42 });
    expect(env).toMatchObject({ PAYLOAD_COMMAND: command, PAYLOAD_TIMEOUT: '42' });
    expect(pilot).toMatchObject({ payloadCommand: command, payloadTimeout: 42 });
  });

  it.each([
    [[], 'run'],
    [['prompt_processing.target_worker_count=0'], 'shared'],
    [['prompt_processing.slice_queue=shared'], 'shared'],
  ])(
    "carries where slices are queued (%j) from the workflow to the run's config and its pilots",
    async (assignments, queue) => {
      // Act
      const imminent = await runImminent(...assignments);
      const { content, run, env } = await openedRun(imminent);
      const pilot = transformerConfigFromEnv({ ...env, RUN_ID: imminent.run_id });
      // Assess
      expect([imminent.content.slice_queue, run?.config?.slice_queue, content.slice_queue]).toEqual([
        queue,
        queue,
        queue,
      ]);
      expect(pilot.sliceQueue).toBe(queue);
    },
  );

  it('gives pilots no command and the 600 s timeout when the workflow names none', async () => {
    // Prepare
    const imminent = await runImminent();
    // Act
    const { content, run, env } = await openedRun(imminent);
    // Assess
    expect(imminent.content).toMatchObject({ file_type: 'stf', payload_command: '', payload_timeout: 600 });
    expect(run?.config).toMatchObject({ file_type: 'stf', payload_timeout: 600 });
    expect(run?.config?.payload_command).toBeUndefined();
    expect(content.payload_command).toBeUndefined();
    expect(env).toMatchObject({ PAYLOAD_TIMEOUT: '600' });
    expect(env).not.toHaveProperty('PAYLOAD_COMMAND');
  });

  it("runs the command in a local pilot process, its output in the run's folder under the stack's state", async () => {
    // Prepare
    const stateDir = join(dir, 'state');
    const store = join(dir, 'stf');
    const runId = '960001';
    const stf = writeStf(store, runId);
    const slices = sliceMessages(stf, { namespace, slices: 2 });
    const seen = await capture(h.listener, destinations.results, `run_id = '${runId}'`);
    const launcher = localPilotLauncher({
      stateDir,
      env: {
        PATH: process.env.PATH ?? '',
        BROKER_URL: h.broker.url,
        BROKER_CREDENTIALS_FILE: credentialsFile(h.broker.stateDir),
      },
    });
    const { pid } = await launcher.start({
      runId,
      pilotId: `${runId}-p01`,
      namespace,
      env: { ...transformerEnv({ payload_command: countHits }), PILOT_ATTEMPT: '1' },
    });
    await seen.until(1);
    // Act
    await publishSlices(h.listener, slices);
    await eventually('two slice results', () => ofType(seen.messages, 'slice_result').length >= 2);
    const stop = encodeMessage(makeMessage('stop_transformer', runId, {}, { namespace }));
    await h.listener.publish(destinations.transformer, stop.body, stop.headers);
    // Assess
    const results = ofType(seen.messages, 'slice_result');
    const folder = join(payloadOutputDir(stateDir), runId);
    expect(results.map((r) => r.content.state)).toEqual(['done', 'done']);
    expect(results.map((r) => (r.content.result as { output_file: string }).output_file).sort()).toEqual([
      join(folder, `swf.${runId}.000001.slice0.json`),
      join(folder, `swf.${runId}.000001.slice1.json`),
    ]);
    expect(JSON.parse(readFileSync(join(folder, `swf.${runId}.000001.slice0.json`), 'utf8'))).toMatchObject({
      payload: 'count-hits',
    });
    await eventually('the pilot exits', () => !isAlive(pid as number));
    await seen.stop();
  }, 60_000);
});
