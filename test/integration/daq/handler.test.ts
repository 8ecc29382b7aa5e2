import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMessage, Subscription } from '#broker/port.ts';
import { decodeMessage } from '#contract/messages.ts';
import { loadCheckpoint } from '#domain/daq-checkpoints.ts';
import { credentialsFile } from '#local/state.ts';
import { environment, tableNames } from '#runtime/env.ts';
import { handler } from '../../../functions/daq-simulator/handler.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fastOverrides = {
  'testbed.namespace': 'daq-handler',
  'simulation.realtime': false,
  'simulation.stf_count': 2,
  'simulation.physics_period_count': 1,
  'prompt_processing.stf_size_bytes': 4096,
  'prompt_processing.tfs_per_stf': 4,
};

describe('DAQ simulator handler', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let stfDir: string;
  let subscription: Subscription;
  const received: ReceivedMessage[] = [];
  // The handler reads process.env: set it for this file only.
  const savedEnv: Record<string, string | undefined> = {};

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('daq-handler-')]);
    stfDir = testDir('daq-handler-stf-');
    const settings: Record<string, string> = {
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
      STF_STORE: stfDir,
      SWF_TESTBED_CONFIG: '',
    };
    for (const key of Object.keys(settings)) savedEnv[key] = process.env[key];
    Object.assign(process.env, settings);
    const { broker: port } = await environment();
    subscription = port.subscribe('/topic/epictopic', { ack: 'auto' }, (m) => {
      received.push(m);
    });
    await subscription.ready;
  });
  afterAll(async () => {
    await subscription?.unsubscribe();
    await (await environment()).broker.close();
    await Promise.all([broker?.stop(), dynamo?.stop()]);
    rmSync(stfDir, { recursive: true, force: true });
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  const typesOf = async (runId: string) => {
    await eventually(`end_run of run ${runId}`, () =>
      received.find((m) => m.headers.run_id === runId && m.headers.msg_type === 'end_run'),
    );
    return received.filter((m) => m.headers.run_id === runId).map((m) => m.headers.msg_type);
  };

  it('runs a workflow given by name and overrides, writing STFs under STF_STORE', async () => {
    // Prepare
    const event = { workflow: { name: 'prompt_processing', overrides: fastOverrides }, user: 'carol' };
    // Act
    const result = await handler(event);
    // Assess
    expect(result).toMatchObject({
      status: 'ended',
      stf_count: 2,
      execution_id: 'prompt_processing-carol-0001',
    });
    expect(await typesOf(result.run_id)).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen',
      'stf_gen',
      'end_run',
    ]);
    const stf = received.find((m) => m.headers.run_id === result.run_id && m.headers.msg_type === 'stf_gen');
    const url = String(decodeMessage(stf?.body ?? '').content.url);
    expect(url.startsWith(join(stfDir, result.dataset))).toBe(true);
    expect(existsSync(url)).toBe(true);
  });

  it('hands a realtime run over to fresh local invocations when its time runs short, and the run still ends', async () => {
    // Prepare: 300 ms of work per invocation beyond the 30 s margin.
    const event = {
      workflow: {
        name: 'prompt_processing',
        overrides: {
          ...fastOverrides,
          'simulation.realtime': true,
          'simulation.stf_interval': 0.2,
          'simulation.stf_generation_time': 0.05,
          'daq_state_machine.no_beam_not_ready_delay': 0.2,
          'daq_state_machine.beam_not_ready_delay': 0.2,
          'daq_state_machine.beam_ready_delay': 0.1,
          'daq_state_machine.beam_not_ready_end_delay': 0.2,
          'daq_state_machine.broadcast_delay': 0.1,
        },
      },
      user: 'carol',
    };
    const started = Date.now();
    const context = { getRemainingTimeInMillis: () => 30_300 - (Date.now() - started) };
    // Act
    const first = await handler(event, context);
    // Assess
    expect(first.status).toBe('continued');
    expect(await typesOf(first.run_id)).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen',
      'stf_gen',
      'end_run',
    ]);
    const tables = { db: dynamo.client, tableNames: tableNames(dynamo.env) };
    let ended = false;
    for (let i = 0; i < 100 && !ended; i++) {
      ended = (await loadCheckpoint(tables, first.run_id))?.status === 'ended';
      if (!ended) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await loadCheckpoint(tables, first.run_id)).toMatchObject({ status: 'ended', next_sequence: 3 });
  });
});
