import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkflow } from '#config/workflow.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { type DaqDeps, DEFAULT_STFS_PER_CHECKPOINT, simulateRun } from '#domain/daq.ts';
import { loadCheckpoint } from '#domain/daq-checkpoints.ts';
import { planRun } from '#domain/daq-plan.ts';
import { tableNames } from '#runtime/env.ts';
import { localStfStore } from '#stf/store.ts';
import { documents } from '#tables/documents.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { fakeClock, quietLog, recordingBroker, walk } from './fakes.ts';

const workflow = (overrides: Record<string, unknown>) =>
  loadWorkflow('prompt_processing', {
    env: {},
    overrides: {
      'testbed.namespace': 'unit-ns',
      'simulation.realtime': false,
      'prompt_processing.tfs_per_stf': 4,
      'prompt_processing.stf_size_bytes': 2048,
      ...overrides,
    },
  });

describe('DAQ simulator walk', () => {
  let dynamo: TestDynamo;
  let stfDir: string;
  beforeAll(async () => {
    dynamo = await startTestDynamo('daq-unit-');
    stfDir = testDir('daq-unit-stf-');
  });
  afterAll(async () => {
    await dynamo?.stop();
    rmSync(stfDir, { recursive: true, force: true });
  });

  const depsWith = (extra: Partial<DaqDeps> = {}) => {
    const broker = recordingBroker();
    const clock = fakeClock();
    const deps: DaqDeps = {
      broker,
      db: dynamo.client,
      tableNames: tableNames(dynamo.env),
      log: quietLog,
      stfStore: localStfStore(stfDir),
      clock,
      ...extra,
    };
    return { deps, broker, clock };
  };

  it('sends start_run, STFs, pause_run, resume_run, STFs and end_run with the total, in count mode', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 3, 'simulation.physics_period_count': 2 });
    const { deps, broker } = depsWith();
    // Act
    const result = await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    expect(walk(broker.sent)).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen#1',
      'stf_gen#2',
      'stf_gen#3',
      'pause_run',
      'resume_run',
      'stf_gen#4',
      'stf_gen#5',
      'stf_gen#6',
      'end_run',
    ]);
    expect(broker.sent.at(-1)?.content).toMatchObject({ total_stf_files: 6 });
    expect(broker.destinations.every((d) => d === '/topic/epictopic')).toBe(true);
    expect(result).toMatchObject({ status: 'ended', stf_count: 6, dataset: `swf.${result.run_id}.run` });
  });

  it('sends as many STFs as whole stf_intervals fit in each period, in duration mode', async () => {
    // Prepare
    const config = workflow({
      'simulation.stf_mode': 'duration',
      'simulation.stf_count': 50,
      'simulation.physics_period_duration': 9,
      'simulation.stf_interval': 2,
      'simulation.physics_period_count': 1,
    });
    const { deps, broker } = depsWith();
    // Act
    await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    expect(walk(broker.sent)).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen#1',
      'stf_gen#2',
      'stf_gen#3',
      'stf_gen#4',
      'end_run',
    ]);
    expect(broker.sent.at(-1)?.content).toMatchObject({ total_stf_files: 4 });
  });

  it('waits in realtime exactly the configured delays, and every message leaves at its simulated time', async () => {
    // Prepare
    const config = workflow({
      'simulation.realtime': true,
      'simulation.stf_count': 3,
      'simulation.physics_period_count': 2,
      'simulation.stf_interval': 2,
      'simulation.standby_duration': 2,
      'daq_state_machine.no_beam_not_ready_delay': 5,
      'daq_state_machine.beam_not_ready_delay': 5,
      'daq_state_machine.beam_ready_delay': 2,
      'daq_state_machine.beam_not_ready_end_delay': 5,
      'daq_state_machine.broadcast_delay': 1,
    });
    const { deps, broker, clock } = depsWith();
    // Act
    await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess: 5 + (1 + 5) + 2 + (1 + 3 * 2) + (1 + 2) + (1 + 3 * 2) + (1 + 5)
    expect(clock.elapsed()).toBe(36_000);
    const startMicros = clock.start * 1000;
    for (const m of broker.sent) {
      expect(toEpochMicros(m.created_at) - startMicros).toBe(Number(m.content.simulation_tick) * 1_000_000);
    }
  });

  it('does not wait at all when not realtime, yet reports simulated time', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 2, 'simulation.physics_period_count': 1 });
    const { deps, broker, clock } = depsWith();
    // Act
    await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    expect(clock.sleeps).toEqual([]);
    const ticks = broker.sent.map((m) => m.content.simulation_tick);
    expect(ticks).toEqual(
      planRun(config)
        .steps.filter((s) => s.kind !== 'finish')
        .map((s) => s.atMs / 1000),
    );
  });

  it('announces each STF with its file, size, checksum, TF layout and its time window', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 2, 'simulation.physics_period_count': 1 });
    const { deps, broker } = depsWith();
    // Act
    const { run_id } = await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    const stf = broker.sent.find((m) => m.msg_type === 'stf_gen' && m.content.sequence === 2);
    expect(stf?.content).toMatchObject({
      filename: `swf.${run_id}.000002.stf`,
      state: 'run',
      substate: 'physics',
      tf_count: 4,
      slices_per_stf: 5,
      url: join(stfDir, `swf.${run_id}.run`, `swf.${run_id}.000002.stf`),
      execution_id: expect.stringMatching(/^prompt_processing-alice-\d{4}$/),
    });
    expect(stf?.content.checksum).toMatch(/^ad:[0-9a-f]{8}$/);
    // The default 2 s window, after 5 + 1 + 5 + 2 + 1 s and one window: 14:00:16 to 14:00:18.
    expect(stf?.content).toMatchObject({ start: '20260720140016000000', end: '20260720140018000000' });
  });

  it('tells run_imminent everything the workers and the dataset need', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 1, 'simulation.physics_period_count': 1 });
    const events: [string, Record<string, unknown>][] = [];
    const { deps, broker } = depsWith({ onEvent: (type, content) => events.push([type, content]) });
    // Act
    const { run_id, execution_id } = await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    const imminent = broker.sent[0];
    expect(imminent).toMatchObject({
      msg_type: 'run_imminent',
      run_id,
      namespace: 'unit-ns',
      sender: 'daq_simulator-alice',
      content: {
        execution_id,
        dataset: `swf.${run_id}.run`,
        workflow: 'prompt_processing',
        state: 'beam',
        substate: 'not_ready',
        num_workers: 2,
        num_cores_per_worker: 1,
        num_ram_per_core: 2000,
        slices_per_stf: 5,
        tfs_per_stf: 4,
        slice_processing_time: 0,
        heartbeat_interval: 5,
        transformer_idle_timeout: 60,
      },
    });
    expect(events.map(([type]) => type)).toEqual(broker.sent.map((m) => m.msg_type));
  });

  it('leaves an ended checkpoint in the run item', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 2, 'simulation.physics_period_count': 1 });
    const { deps } = depsWith();
    // Act
    const { run_id, execution_id } = await simulateRun({ workflow: config, user: 'alice' }, deps);
    // Assess
    expect(await loadCheckpoint(deps, run_id)).toMatchObject({
      status: 'ended',
      step: planRun(config).steps.length,
      next_sequence: 3,
      execution_id,
      state: 'no_beam',
      substate: 'not_ready',
    });
  });

  it('keeps realtime pacing across chained invocations', async () => {
    // Prepare: each invocation may use 40 s of fake time, 30 s of which is the margin.
    const config = workflow({
      'simulation.realtime': true,
      'simulation.stf_count': 4,
      'simulation.physics_period_count': 2,
    });
    const whole = depsWith();
    await simulateRun({ workflow: config, user: 'alice' }, whole.deps);
    const { deps, broker, clock } = depsWith();
    let invocations = 0;
    const invoke = (continuation?: { run_id: string }) => {
      invocations += 1;
      const deadline = clock.now() + 40_000;
      return simulateRun(
        { workflow: config, user: 'alice', ...(continuation && { continuation }) },
        {
          ...deps,
          marginMs: 30_000,
          remainingMs: () => deadline - clock.now(),
          chain: async (c) => void (await invoke(c)),
        },
      );
    };
    // Act
    await invoke();
    // Assess
    expect(invocations).toBeGreaterThan(2);
    expect(walk(broker.sent)).toEqual(walk(whole.broker.sent));
    expect(clock.elapsed()).toBe(whole.clock.elapsed());
  });

  it('starts one run only when an invocation is retried after it began', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 2, 'simulation.physics_period_count': 1 });
    const first = depsWith();
    const firstResult = await simulateRun(
      { workflow: config, user: 'alice', invocationId: 'req-1' },
      first.deps,
    );
    const retry = depsWith();
    // Act
    const retried = await simulateRun({ workflow: config, user: 'alice', invocationId: 'req-1' }, retry.deps);
    // Assess
    expect(retried).toEqual(firstResult);
    expect(retry.broker.sent).toEqual([]);
  });

  it('lets only one of two invocations continuing the same run go on', async () => {
    // Prepare: a run cut after its second step, then continued twice at once (a retried chain).
    const config = workflow({ 'simulation.stf_count': 3, 'simulation.physics_period_count': 1 });
    const { deps, broker } = depsWith();
    let budget = 2;
    const cut = await simulateRun(
      { workflow: config, user: 'alice' },
      { ...deps, marginMs: 0, remainingMs: () => (budget-- > 0 ? 1 : -1), chain: async () => {} },
    );
    const continuation = { run_id: cut.run_id };
    // Act
    const results = await Promise.all([
      simulateRun({ workflow: config, user: 'alice', continuation }, deps),
      simulateRun({ workflow: config, user: 'alice', continuation }, deps),
    ]);
    // Assess
    expect(cut.status).toBe('continued');
    expect(results.map((r) => r.status).sort()).toEqual(['ended', 'superseded']);
    const seen = walk(broker.sent);
    expect([...new Set(seen)]).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen#1',
      'stf_gen#2',
      'stf_gen#3',
      'end_run',
    ]);
    // The loser repeats at most what it sent since the last checkpoint: here the one group of 3 STFs.
    const timesSent = (m: string) => seen.filter((s) => s === m).length;
    expect(Math.max(...seen.map(timesSent))).toBeLessThanOrEqual(2);
    expect(['run_imminent', 'start_run'].map(timesSent)).toEqual([1, 1]);
  });

  /** The broker of `deps`, recording the run's cancel (as the run_stop handler does) once stf_gen #2 is out. */
  const cancellingAfterStf2 = (deps: DaqDeps): DaqDeps['broker'] => ({
    ...deps.broker,
    publish: async (destination, body, headers) => {
      await deps.broker.publish(destination, body, headers);
      const m = JSON.parse(body);
      if (m.msg_type === 'stf_gen' && m.content.sequence === 2)
        await documents(dynamo.client).send(
          new UpdateCommand({
            TableName: deps.tableNames.runs,
            Key: { run_id: String(m.run_id) },
            UpdateExpression: 'SET cancelled_at = :at',
            ExpressionAttributeValues: { ':at': m.created_at },
          }),
        );
    },
  });

  it('stops a fast run at its next checkpoint when the run is cancelled, at most one group of STFs later', async () => {
    // Prepare: 60 STFs, checkpoints after STFs 25, 50 and 60.
    const config = workflow({ 'simulation.stf_count': 60, 'simulation.physics_period_count': 1 });
    const { deps, broker } = depsWith();
    // Act
    const result = await simulateRun(
      { workflow: config, user: 'alice' },
      { ...deps, broker: cancellingAfterStf2(deps) },
    );
    // Assess
    expect(DEFAULT_STFS_PER_CHECKPOINT).toBe(25);
    expect(result.status).toBe('cancelled');
    const stfs = Array.from({ length: 25 }, (_, i) => `stf_gen#${i + 1}`);
    expect(walk(broker.sent)).toEqual(['run_imminent', 'start_run', ...stfs]);
  });

  it('stops right after the STF it was cancelled during, with a checkpoint per STF', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 5, 'simulation.physics_period_count': 1 });
    const { deps, broker } = depsWith({ stfsPerCheckpoint: 1 });
    // Act
    const result = await simulateRun(
      { workflow: config, user: 'alice' },
      { ...deps, broker: cancellingAfterStf2(deps) },
    );
    // Assess
    expect(result.status).toBe('cancelled');
    expect(walk(broker.sent)).toEqual(['run_imminent', 'start_run', 'stf_gen#1', 'stf_gen#2']);
  });

  it('announces the STFs of a fast run in sequence order though their files are written side by side', async () => {
    // Prepare: odd STFs take longer to store than the even ones after them.
    const config = workflow({ 'simulation.stf_count': 8, 'simulation.physics_period_count': 1 });
    const { deps, broker } = depsWith();
    const store = localStfStore(stfDir);
    const slowOdd: DaqDeps['stfStore'] = {
      put: async (filename, data) => {
        const sequence = Number(/\.(\d+)\.stf$/.exec(filename)?.[1]);
        if (sequence % 2 === 1) await new Promise((resolve) => setTimeout(resolve, 30));
        return store.put(filename, data);
      },
    };
    // Act
    await simulateRun({ workflow: config, user: 'alice' }, { ...deps, stfStore: slowOdd });
    // Assess
    const stfs = Array.from({ length: 8 }, (_, i) => `stf_gen#${i + 1}`);
    expect(walk(broker.sent)).toEqual(['run_imminent', 'start_run', ...stfs, 'end_run']);
  });

  it('does nothing when asked to continue a run that has ended', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 1, 'simulation.physics_period_count': 1 });
    const { run_id } = await simulateRun({ workflow: config, user: 'alice' }, depsWith().deps);
    const again = depsWith();
    // Act
    const result = await simulateRun(
      { workflow: config, user: 'alice', continuation: { run_id } },
      again.deps,
    );
    // Assess
    expect(result).toMatchObject({ run_id, status: 'ended', stf_count: 1 });
    expect(again.broker.sent).toEqual([]);
  });
});
