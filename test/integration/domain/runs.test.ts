import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '#contract/messages.ts';
import {
  cancelMessage,
  endRuns,
  openRuns,
  pauseRuns,
  resumeRuns,
  startRuns,
  stopRuns,
} from '#domain/runs.ts';
import { recordSliceResults } from '#domain/slices.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import { documents } from '#tables/documents.ts';
import {
  captureRun,
  daqMessages,
  type Harness,
  NAMESPACE,
  ofType,
  processStf,
  type RunCaptures,
  recordsOf,
  resultFor,
  settle,
  startHarness,
  tick,
  until,
} from './harness.ts';

let nextRun = 200_000;
const newRunId = () => String(nextRun++);

describe('Run records and completion', () => {
  let h: Harness;
  const captures: RunCaptures[] = [];
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    for (const c of captures) await c.stop();
    await h?.stop();
  });

  async function newRun(stfs: number) {
    const runId = newRunId();
    const c = await captureRun(h, runId);
    captures.push(c);
    return { runId, c, daq: daqMessages(runId, stfs) };
  }

  describe('A run handled in order', () => {
    it('completes: dataset and task closed, stop_transformer and adjuster zeros sent once', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(2);
      // Act
      await openRuns([daq.imminent], h.deps);
      await startRuns([daq.start], h.deps);
      for (const gen of daq.stfGens) await processStf(h, c, gen);
      await endRuns([daq.end], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      await until(c.workers, 'adjuster_worker', 2);
      await settle();
      // Assess
      const { run, stfs, slices } = await recordsOf(h, runId);
      expect(run).toMatchObject({
        namespace: NAMESPACE,
        execution_id: `prompt_processing-test-${runId}`,
        workflow: 'prompt_processing',
        phase: 'completed',
        completion: 'completed',
        dataset: `swf.${runId}.run`,
        dataset_state: 'closed',
        task_state: 'closed',
        ended: true,
        total_stf_files: 2,
        registered_stfs: new Set([1, 2]),
        completed_stfs: new Set([1, 2]),
        created_at: daq.imminent.created_at,
        started_at: daq.start.created_at,
        ended_at: daq.end.created_at,
        config: expect.objectContaining({ slices_per_stf: 3, tfs_per_stf: 10, target_worker_count: 2 }),
      });
      expect(run?.task_id).toBeGreaterThanOrEqual(1_000_001);
      expect(run?.completed_at).toBeTypeOf('string');
      expect(stfs).toHaveLength(2);
      expect(stfs[0]).toMatchObject({
        sequence: 1,
        slice_count: 3,
        completed: true,
        done_slices: new Set([0, 1, 2]),
      });
      expect(slices).toHaveLength(6);
      expect(ofType(c.transformer, 'stop_transformer')).toHaveLength(1);
      expect(ofType(c.transformer, 'stop_transformer')[0]?.content.requested_at).toBe(daq.end.created_at);
      const adjusters = ofType(c.workers, 'adjuster_worker');
      expect(adjusters.map((m) => m.content.num_workers)).toEqual([2, 0]);
      expect(adjusters[1]?.content).toMatchObject({ num_cores_per_worker: 0, num_ram_per_core: 0 });
      expect(adjusters.every((m) => m.namespace === NAMESPACE && m.content.task_id === run?.task_id)).toBe(
        true,
      );
    });

    it('announces each STF with what the slicer needs and cuts it into inclusive TF ranges', async () => {
      // Prepare
      const { c, daq } = await newRun(1);
      await openRuns([daq.imminent], h.deps);
      const gen = daq.stfGens[0] as (typeof daq.stfGens)[number];
      // Act
      const { ready, slices } = await processStf(h, c, gen);
      // Assess
      expect(ready.namespace).toBe(NAMESPACE);
      expect(ready.content).toMatchObject({
        filename: gen.content.filename,
        sequence: 1,
        size: 4096,
        checksum: 'ad:0a1b2c3d',
        start: gen.content.start,
        end: gen.content.end,
        tf_count: 10,
        slices_per_stf: 3,
        url: gen.content.url,
      });
      const ranges = slices
        .map((s) => [s.content.slice_id, s.content.start, s.content.end, s.content.tf_count])
        .sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(ranges).toEqual([
        [0, 0, 3, 4],
        [1, 4, 6, 3],
        [2, 7, 9, 3],
      ]);
      expect(slices.every((s) => s.namespace === NAMESPACE && typeof s.content.task_id === 'number')).toBe(
        true,
      );
      expect(slices[0]?.content).toMatchObject({
        checksum: 'ad:0a1b2c3d',
        url: gen.content.url,
        slice_processing_time: 0,
      });
    });
  });

  describe('A run handled out of order', () => {
    it('completes when end_run arrives before the last stf_gen and its results', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(2);
      await openRuns([daq.imminent], h.deps);
      await startRuns([daq.start], h.deps);
      await processStf(h, c, daq.stfGens[0] as (typeof daq.stfGens)[number]);
      // Act
      await endRuns([daq.end], h.deps);
      const afterEnd = await recordsOf(h, runId);
      await processStf(h, c, daq.stfGens[1] as (typeof daq.stfGens)[number]);
      await until(c.transformer, 'stop_transformer', 1);
      await settle();
      // Assess
      expect(afterEnd.run).toMatchObject({ phase: 'ended', dataset_state: 'open' });
      expect(afterEnd.run?.completion).toBeUndefined();
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ phase: 'completed', dataset_state: 'closed', task_state: 'closed' });
      expect(ofType(c.transformer, 'stop_transformer')).toHaveLength(1);
    });

    it('completes when every message arrives before run_imminent and start_run', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      // Act
      await endRuns([daq.end], h.deps);
      await processStf(h, c, daq.stfGens[0] as (typeof daq.stfGens)[number]);
      await startRuns([daq.start], h.deps);
      await openRuns([daq.imminent], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      await settle();
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({
        phase: 'completed',
        dataset: `swf.${runId}.run`,
        dataset_state: 'closed',
        task_state: 'closed',
        started_at: daq.start.created_at,
        created_at: daq.imminent.created_at,
      });
      // The late run_imminent of a completed run asks for no workers.
      expect(ofType(c.workers, 'adjuster_worker').map((m) => m.content.num_workers)).toEqual([0]);
    });

    it('keeps the newest DAQ state when pause_run and resume_run arrive swapped', async () => {
      // Prepare
      const { runId, daq } = await newRun(0);
      const pause = makeMessage(
        'pause_run',
        runId,
        { state: 'run', substate: 'standby' },
        { createdAt: tick() },
      );
      const resume = makeMessage(
        'resume_run',
        runId,
        { state: 'run', substate: 'physics' },
        { createdAt: tick() },
      );
      await openRuns([daq.imminent], h.deps);
      // Act
      await resumeRuns([resume], h.deps);
      await pauseRuns([pause], h.deps);
      await startRuns([daq.start], h.deps);
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({
        phase: 'running',
        daq_state: 'run',
        daq_substate: 'physics',
        daq_state_at: resume.created_at,
        started_at: daq.start.created_at,
      });
    });

    it('never moves an ended run back to running', async () => {
      // Prepare
      const { runId, daq } = await newRun(1);
      await endRuns([daq.end], h.deps);
      // Act
      await startRuns([daq.start], h.deps);
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ phase: 'ended', started_at: daq.start.created_at });
    });
  });

  describe('Duplicates', () => {
    it('change no record when every message of a completed run is handled again', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(2);
      await openRuns([daq.imminent], h.deps);
      await startRuns([daq.start], h.deps);
      const handled = [];
      for (const gen of daq.stfGens) handled.push(await processStf(h, c, gen));
      await endRuns([daq.end], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      await settle();
      const before = await recordsOf(h, runId);
      const slicesBefore = c.slices.messages.length;
      // Act
      await endRuns([daq.end], h.deps);
      await recordSliceResults(handled.flatMap((x) => x.results).reverse(), h.deps);
      await sliceStfs(
        handled.map((x) => x.ready),
        h.deps,
      );
      await registerStfs(daq.stfGens, h.deps);
      await startRuns([daq.start], h.deps);
      await openRuns([daq.imminent], h.deps);
      await settle(500);
      // Assess
      expect(await recordsOf(h, runId)).toEqual(before);
      expect(ofType(c.transformer, 'stop_transformer')).toHaveLength(1);
      expect(ofType(c.workers, 'adjuster_worker')).toHaveLength(2);
      expect(c.slices.messages.length).toBe(slicesBefore);
    });

    it('keep the first result of a slice, across batches and within one', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      await openRuns([daq.imminent], h.deps);
      await registerStfs(daq.stfGens, h.deps);
      const [ready] = await until(c.epic, 'stf_ready', 1);
      await sliceStfs([ready as NonNullable<typeof ready>], h.deps);
      const [s0, s1] = (await until(c.slices, 'slice', 3)).sort(
        (a, b) => a.content.slice_id - b.content.slice_id,
      );
      if (!s0 || !s1) throw new Error('slices missing');
      // Act
      await recordSliceResults([resultFor(s0, 'pilot-1')], h.deps);
      await recordSliceResults([resultFor(s0, 'pilot-2', 'failed')], h.deps);
      await recordSliceResults([resultFor(s1, 'pilot-3'), resultFor(s1, 'pilot-4', 'failed')], h.deps);
      // Assess
      const { slices, stfs } = await recordsOf(h, runId);
      expect(slices.map((s) => [s.slice_id, s.pilot_id, s.state])).toEqual([
        [0, 'pilot-1', 'done'],
        [1, 'pilot-3', 'done'],
      ]);
      expect(slices[0]).toMatchObject({
        filename: s0.content.filename,
        slice_key: `${s0.content.filename}#0000`,
        start: 0,
        end: 3,
        requested_at: s0.created_at,
        hostname: 'node-1',
        result: { hits: 12, energySumMeV: 60.5 },
      });
      expect(stfs[0]).toMatchObject({ done_slices: new Set([0, 1]) });
      expect(stfs[0]?.completed).toBeUndefined();
    });

    it('of run_imminent, even concurrent ones, keep one task id', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      // Act
      await Promise.all([openRuns([daq.imminent], h.deps), openRuns([daq.imminent], h.deps)]);
      await openRuns([daq.imminent], h.deps);
      const adjusters = await until(c.workers, 'adjuster_worker', 3);
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run?.task_id).toBeGreaterThanOrEqual(1_000_001);
      expect(new Set(adjusters.map((m) => m.content.task_id))).toEqual(new Set([run?.task_id]));
      expect(adjusters[0]?.content).toMatchObject({
        num_workers: 2,
        num_cores_per_worker: 1,
        num_ram_per_core: 2000,
        requested_at: daq.imminent.created_at,
        namespace: NAMESPACE,
        heartbeat_interval: 5,
        transformer_idle_timeout: 60,
      });
    });
  });

  describe('Edge cases', () => {
    it('completes a run without STFs at end_run', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(0);
      await openRuns([daq.imminent], h.deps);
      // Act
      await endRuns([daq.end], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ phase: 'completed', dataset_state: 'closed', total_stf_files: 0 });
    });

    it('numbers legacy STFs without a sequence once each, whichever of stf_gen and stf_ready comes first', async () => {
      // Prepare
      const { runId, c } = await newRun(0);
      const legacy = (filename: string) =>
        makeMessage('stf_gen', runId, {
          filename,
          state: 'no_beam',
          substate: 'calib',
          checksum: 'ad:3915264619',
        });
      const a = legacy('swf.20250914.185724.767135.no_beam.calib.stf');
      const b = legacy('swf.20250914.185726.100000.no_beam.calib.stf');
      const readyB = makeMessage('stf_ready', runId, { filename: b.content.filename, tf_count: 2 });
      // Act
      await Promise.all([registerStfs([a, a], h.deps), sliceStfs([readyB], h.deps)]);
      await registerStfs([b], h.deps);
      await until(c.epic, 'stf_ready', 3);
      // Assess
      const { run, stfs } = await recordsOf(h, runId);
      const sequences = stfs.map((s) => s.sequence);
      expect(new Set(sequences).size).toBe(2);
      expect(run?.registered_stfs).toEqual(new Set(sequences));
      expect(stfs.find((s) => s.filename === a.content.filename)?.checksum).toBe('ad:e95e326b');
      expect(stfs.find((s) => s.filename === b.content.filename)?.slice_count).toBe(2);
    });

    it('stops the transformers and workers on run_stop and closes the task', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      await openRuns([daq.imminent], h.deps);
      const stop = makeMessage('run_stop', runId, { req_id: 1 }, { createdAt: tick() });
      // Act
      await stopRuns([stop], h.deps);
      const [stopTransformer] = await until(c.transformer, 'stop_transformer', 1);
      const adjusters = await until(c.workers, 'adjuster_worker', 2);
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ task_state: 'closed', phase: 'imminent', dataset_state: 'open' });
      expect(stopTransformer?.namespace).toBe(NAMESPACE);
      expect(stopTransformer?.content.requested_at).toBe(stop.created_at);
      expect(adjusters[1]?.content).toMatchObject({ num_workers: 0, task_id: run?.task_id });
    });

    it('cancels on a run_stop that names who cancels: task cancelled, dataset closed, workers stopped', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      await openRuns([daq.imminent], h.deps);
      await startRuns([daq.start], h.deps);
      const cancel = cancelMessage(runId, { by: 'alice', namespace: NAMESPACE, createdAt: tick() });
      // Act
      await stopRuns([cancel], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      const adjusters = await until(c.workers, 'adjuster_worker', 2);
      for (const gen of daq.stfGens) await processStf(h, c, gen);
      await endRuns([daq.end], h.deps);
      await settle();
      // Assess: the results and end_run that came after the cancel did not complete the run.
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({
        task_state: 'cancelled',
        dataset_state: 'closed',
        cancelled_at: cancel.created_at,
        cancel_reason: 'cancelled by alice',
      });
      expect(run?.completion).toBeUndefined();
      expect(adjusters[1]?.content).toMatchObject({ num_workers: 0 });
    });

    it('keeps a cancel whatever comes after it: a plain run_stop, a late run_imminent', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      const cancel = cancelMessage(runId, { by: 'bob', reason: 'wrong settings', createdAt: tick() });
      // Act
      await stopRuns([cancel], h.deps);
      await stopRuns([makeMessage('run_stop', runId, { req_id: 1 }, { createdAt: tick() })], h.deps);
      await openRuns([daq.imminent], h.deps);
      await settle();
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ task_state: 'cancelled', cancel_reason: 'wrong settings' });
      expect(ofType(c.workers, 'adjuster_worker').every((m) => m.content.num_workers === 0)).toBe(true);
    });

    it('leaves a completed run as it is when a cancel comes late', async () => {
      // Prepare
      const { runId, c, daq } = await newRun(1);
      await openRuns([daq.imminent], h.deps);
      await startRuns([daq.start], h.deps);
      for (const gen of daq.stfGens) await processStf(h, c, gen);
      await endRuns([daq.end], h.deps);
      await until(c.transformer, 'stop_transformer', 1);
      // Act
      await stopRuns([cancelMessage(runId, { by: 'carol', createdAt: tick() })], h.deps);
      await settle();
      // Assess
      const { run } = await recordsOf(h, runId);
      expect(run).toMatchObject({ completion: 'completed', task_state: 'closed' });
      expect(run?.cancelled_at).toBeUndefined();
      expect(ofType(c.transformer, 'stop_transformer')).toHaveLength(1);
    });

    it('numbers tasks from 1000001 upward, one per run', async () => {
      // Prepare
      const doc = documents(h.dynamo.client);
      // Act
      const { Items = [] } = await doc.send(new ScanCommand({ TableName: h.deps.tableNames.runs }));
      // Assess
      const taskIds = Items.map((i) => i.task_id).filter((t) => t !== undefined);
      expect(Math.min(...taskIds)).toBe(1_000_001);
      expect(new Set(taskIds).size).toBe(taskIds.length);
    });
  });
});
