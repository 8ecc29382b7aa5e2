import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Message, makeMessage } from '#contract/messages.ts';
import { watchPilots } from '#domain/pilot-watchdog.ts';
import { endRuns, openRuns, startRuns } from '#domain/runs.ts';
import { requestTimeOf } from '#domain/slice-requests.ts';
import { recordSliceResults } from '#domain/slices.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import { type Capture, capture } from '../../support/capture.ts';
import {
  captureRun,
  daqMessages,
  type Harness,
  NAMESPACE,
  ofType,
  type RunCaptures,
  recordsOf,
  resultFor,
  startHarness,
  tick,
  until,
} from './harness.ts';

interface Sample {
  readonly source: string;
  readonly body: { msg_type: string; content: Record<string, unknown> };
}
const samples: Sample[] = JSON.parse(
  readFileSync(new URL('../../fixtures/upstream-messages.json', import.meta.url), 'utf8'),
);
const upstreamResult = (source: RegExp) =>
  samples.find((s) => s.body.msg_type === 'slice_result' && source.test(s.source)) as Sample;
const SLICES_PER_STF = 3;

/** Upstream's fake-payload success for a slice: the slice content echoed in content.result.result. */
function fakeEcho(slice: Message<'slice'>): Message<'slice_result'> {
  const sample = upstreamResult(/fake\/mock payload/).body.content;
  const echoed = { ...slice.content, state: 'processed', processed: true, actual_processing_time: 0.01 };
  const content = {
    ...sample,
    requested_at: slice.created_at,
    result: { state: true, result: echoed, error: null },
  };
  return makeMessage('slice_result', slice.run_id, content as never, { namespace: NAMESPACE });
}

/** Upstream's older success: its echo names the slice id but not the STF, so requested_at finds the slice. */
function partialEcho(slice: Message<'slice'>): Message<'slice_result'> {
  const sample = upstreamResult(/^upstream transformer \(swf-transform\): a slice result$/).body.content;
  const echo = { run_id: slice.run_id, slice_id: slice.content.slice_id, processed: true };
  const content = {
    ...sample,
    requested_at: slice.created_at,
    result: { state: true, result: echo, error: null },
  };
  return makeMessage('slice_result', slice.run_id, content as never, { namespace: NAMESPACE });
}

/** Upstream's failure for a slice: no identity at all, only requested_at copied as received. */
function failure(slice: Message<'slice'>): Message<'slice_result'> {
  const sample = upstreamResult(/payload failed/).body.content;
  return makeMessage('slice_result', slice.run_id, { ...sample, requested_at: slice.created_at } as never, {
    namespace: NAMESPACE,
  });
}

/** A result naming its slice by req_id alone (a transformer that copies the slice's request id). */
function byReqId(slice: Message<'slice'>): Message<'slice_result'> {
  return makeMessage(
    'slice_result',
    slice.run_id,
    {
      requested_at: tick(),
      processing_start_at: tick(),
      processed_at: tick(),
      state: 'done',
      req_id: slice.content.req_id,
      hostname: 'other-node',
    },
    { namespace: NAMESPACE },
  );
}

let nextRun = 260_000;

describe('Slices and results as upstream sends them', () => {
  let h: Harness;
  let parked: Capture;
  const captures: RunCaptures[] = [];
  beforeAll(async () => {
    h = await startHarness();
    parked = await capture(h.listener, '/queue/DLQ.swf.handler.slice_result');
  });
  afterAll(async () => {
    for (const c of captures) await c.stop();
    await parked?.stop();
    await h?.stop();
  });

  /** A run opened and started, its STFs registered and announced; returns its slices once queued. */
  async function slicedRun(stfs: number, config: Record<string, unknown> = {}) {
    const runId = String(nextRun++);
    const c = await captureRun(h, runId);
    captures.push(c);
    const daq = daqMessages(runId, stfs);
    const imminent = makeMessage('run_imminent', runId, { ...daq.imminent.content, ...config } as never, {
      namespace: NAMESPACE,
      createdAt: daq.imminent.created_at,
    });
    await openRuns([imminent], h.deps);
    await startRuns([daq.start], h.deps);
    await registerStfs(daq.stfGens, h.deps);
    const ready = await until(c.epic, 'stf_ready', stfs);
    // All of them in one batch: concurrent slicing is where two slices could get one created_at.
    await sliceStfs(ready, h.deps);
    const slices = await until(c.slices, 'slice', stfs * SLICES_PER_STF);
    return { runId, c, daq, ready, slices };
  }

  it('queues slices with upstream’s whole content and headers, each with its own created_at', async () => {
    // Prepare
    const stfs = 8;
    // Act
    const { runId, c, slices } = await slicedRun(stfs, { file_type: 'fake', slice_processing_time: 0 });
    // Assess
    const first = slices.find((s) => s.content.slice_id === 0) as Message<'slice'>;
    expect(first.content).toMatchObject({
      run_id: runId,
      execution_id: `prompt_processing-test-${runId}`,
      filename: first.content.filename,
      tf_filename: first.content.filename.replace(/\.stf$/, '_tf_001.tf'),
      slice_id: 0,
      start: 0,
      end: 3,
      tf_count: 4,
      state: 'queued',
      substate: 'new',
      file_type: 'fake',
      slice_processing_time: 0,
      sequence: expect.any(Number),
      task_id: expect.any(Number),
      checksum: 'ad:0a1b2c3d',
    });
    expect(first.content.req_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(new Set(slices.map((s) => s.created_at)).size).toBe(stfs * SLICES_PER_STF);
    expect(new Set(slices.map((s) => s.content.req_id)).size).toBe(stfs * SLICES_PER_STF);
    expect(slices.every((s) => requestTimeOf(s.content.req_id) === s.created_at)).toBe(true);
    const headers = c.slices.messages[0]?.headers ?? {};
    expect(headers).toMatchObject({ msg_type: 'slice', run_id: runId, namespace: NAMESPACE, vo: 'eic' });
  });

  it('sends a slice again with the same created_at and req_id when its stf_ready comes again', async () => {
    // Prepare
    const { c, ready, slices } = await slicedRun(1);
    // Act
    await sliceStfs(ready, h.deps);
    const again = (await until(c.slices, 'slice', 2 * SLICES_PER_STF)).slice(SLICES_PER_STF);
    // Assess
    const identity = (s: Message<'slice'>) => `${s.content.slice_id} ${s.created_at} ${s.content.req_id}`;
    expect(again.map(identity).sort()).toEqual(slices.map(identity).sort());
  });

  it('records every result shape against its slice and completes the run', async () => {
    // Prepare
    const { runId, daq, slices } = await slicedRun(2);
    const [ours, echoed, failed, named, partly, failed2] =
      slices as Message<'slice'>[] as Message<'slice'>[] & Record<0 | 1 | 2 | 3 | 4 | 5, Message<'slice'>>;
    const results = [
      resultFor(ours),
      fakeEcho(echoed),
      failure(failed),
      byReqId(named),
      partialEcho(partly),
      failure(failed2),
    ];
    // Act
    await recordSliceResults(results.slice(0, 3), h.deps);
    await recordSliceResults(results.slice(3), h.deps);
    await endRuns([daq.end], h.deps);
    // Assess
    const { run, slices: recorded } = await recordsOf(h, runId);
    expect(run?.completion).toBe('completed');
    const byKey = new Map(recorded.map((r) => [r.slice_key, r]));
    const key = (s: Message<'slice'>) =>
      `${s.content.filename}#${String(s.content.slice_id).padStart(4, '0')}`;
    expect(recorded).toHaveLength(6);
    expect(byKey.get(key(echoed))).toMatchObject({
      state: 'done',
      hostname: 'pilot-node-3',
      start: echoed.content.start,
      end: echoed.content.end,
      result: { processed: true, req_id: echoed.content.req_id },
    });
    expect(byKey.get(key(failed))).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/^eicrecon exited with returncode=127/),
      requested_at: failed.created_at,
      start: failed.content.start,
      end: failed.content.end,
    });
    expect(byKey.get(key(named))).toMatchObject({ state: 'done', hostname: 'other-node' });
    expect(byKey.get(key(partly))).toMatchObject({ state: 'done', result: { processed: true } });
  });

  it('keeps the first result of a slice, whichever shape each came in', async () => {
    // Prepare
    const { runId, slices } = await slicedRun(1);
    const [s] = slices as [Message<'slice'>];
    // Act
    await recordSliceResults([failure(s)], h.deps);
    await recordSliceResults([fakeEcho(s), resultFor(s, 'pilot-9')], h.deps);
    // Assess
    const recorded = (await recordsOf(h, runId)).slices.filter((r) => r.slice_id === s.content.slice_id);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ state: 'failed', hostname: 'pilot-node-3' });
  });

  it('parks only the result that matches no slice, with its reason', async () => {
    // Prepare
    const { runId, slices } = await slicedRun(1);
    const before = parked.messages.length;
    const [s] = slices as [Message<'slice'>];
    const stray = makeMessage(
      'slice_result',
      runId,
      {
        ...upstreamResult(/payload failed/).body.content,
        requested_at: '2020-01-01T00:00:00.000001Z',
      } as never,
      { namespace: NAMESPACE },
    );
    // Act
    await recordSliceResults([stray, failure(s)], h.deps);
    const [refused] = (await parked.until(before + 1)).slice(before);
    // Assess
    expect(refused?.headers.dlq_reason).toBe(
      `slice_result matches no slice of run ${runId}: no filename and slice_id in content or ` +
        'content.result.result, and no slice was requested at 2020-01-01T00:00:00.000001Z',
    );
    expect((await recordsOf(h, runId)).slices).toHaveLength(1);
  });

  it('leaves a run served only by foreign pilots to complete, with no pilot counted lost', async () => {
    // Prepare
    const { runId, daq, slices } = await slicedRun(1, { num_workers: 0, target_worker_count: 0 });
    let launched = 0;
    const launcher = {
      start: async () => {
        launched++;
        return {};
      },
      isAlive: async () => false,
      stop: async () => {},
    };
    const deps = { db: h.deps.db, tableNames: h.deps.tableNames, log: h.deps.log, launcher };
    // Act
    await recordSliceResults(slices.map(fakeEcho), h.deps);
    const before = await watchPilots(deps, { runId });
    await endRuns([daq.end], h.deps);
    // Assess
    expect(before).toEqual([]);
    expect(launched).toBe(0);
    expect((await recordsOf(h, runId)).run?.completion).toBe('completed');
    expect(ofType((captures.at(-1) as RunCaptures).transformer, 'stop_transformer')).toHaveLength(1);
  });
});
