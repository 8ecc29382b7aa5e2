import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '#contract/messages.ts';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import { identifyResults } from '#domain/result-slices.ts';
import { openRuns } from '#domain/runs.ts';
import { findRequests, requestId, requestSlices, type SliceRequest } from '#domain/slice-requests.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import {
  captureRun,
  daqMessages,
  type Harness,
  NAMESPACE,
  ofType,
  type RunCaptures,
  recordsOf,
  startHarness,
  tick,
  until,
} from './harness.ts';

const STFS = 40;
/** The harness's slices per STF (daqMessages). */
const SLICES = 3;
/**
 * What stf_ready asked of DynamoDB per STF before it read and wrote by batch: a read of the run item, an
 * update of the STF item, one conditional put per slice (its request time). Now: one conditional put per
 * block of 8 slices (its lookup item), and no lookup item per slice.
 */
const OLD_STF_READY_REQUESTS_PER_STF = 2 + SLICES;

/** Counts the requests the SDK sends to DynamoDB, by operation (x-amz-target). */
function requestCounter() {
  const counts = new Map<string, number>();
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      const operation = headers['x-amz-target']?.split('.')[1] ?? 'unknown';
      counts.set(operation, (counts.get(operation) ?? 0) + 1);
      return next(args);
    };
  return {
    middleware,
    take() {
      const taken = Object.fromEntries(counts);
      counts.clear();
      return taken;
    },
  };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe('DynamoDB requests of STF registration and slicing', () => {
  let h: Harness;
  let c: RunCaptures;
  const counter = requestCounter();
  beforeAll(async () => {
    h = await startHarness();
    h.dynamo.client.middlewareStack.add(counter.middleware, {
      step: 'finalizeRequest',
      name: 'testCountRequests',
    });
  });
  afterAll(async () => {
    await c?.stop();
    await h?.stop();
  });

  it('reads by batch, writes each STF item once and claims request times by block, not by slice', async () => {
    // Prepare
    const runId = '300001';
    c = await captureRun(h, runId);
    const daq = daqMessages(runId, STFS);
    await openRuns([daq.imminent], h.deps);
    counter.take();
    // Act
    await registerStfs(daq.stfGens, h.deps);
    const gen = counter.take();
    const readies = await until(c.epic, 'stf_ready', STFS);
    await sliceStfs(readies, h.deps);
    const ready = counter.take();
    await until(c.slices, 'slice', STFS * SLICES);
    // Assess
    const perStf = (n: number) => Math.round((n / STFS) * 100) / 100;
    console.log(
      `DynamoDB requests per STF: stf_gen ${perStf(total(gen))} ${JSON.stringify(gen)}, stf_ready ${perStf(total(ready))} ${JSON.stringify(ready)}`,
    );
    expect(total(ready)).toBeLessThan(STFS * OLD_STF_READY_REQUESTS_PER_STF);
    expect(gen.UpdateItem ?? 0).toBeLessThanOrEqual(STFS + 1);
    expect(ready.UpdateItem ?? 0).toBe(0);
    expect(ready.GetItem ?? 0).toBe(0);
    // The harness's STFs fit in one block each: one lookup item per STF, and none per slice.
    expect(ready.PutItem ?? 0).toBe(STFS);
    expect(ready.BatchWriteItem ?? 0).toBe(0);
    const { stfs } = await recordsOf(h, runId);
    expect(stfs).toHaveLength(STFS);
    expect(stfs.every((s) => s.slice_count === SLICES && s.registered_at !== undefined)).toBe(true);
    expect(new Set(ofType(c.slices, 'slice').map((s) => s.created_at)).size).toBe(STFS * SLICES);
  });

  it('queues the slices of a batch that holds every stf_ready twice alike, each request time once in the run', async () => {
    // Prepare
    const runId = '300002';
    const twice = await captureRun(h, runId);
    const daq = daqMessages(runId, 10);
    await openRuns([daq.imminent], h.deps);
    await registerStfs(daq.stfGens, h.deps);
    const readies = await until(twice.epic, 'stf_ready', 10);
    // Act
    await sliceStfs([...readies, ...readies], h.deps);
    const slices = await until(twice.slices, 'slice', 2 * 10 * SLICES);
    await twice.stop();
    // Assess
    const times = new Map<string, string>();
    for (const s of slices) {
      const slice = `${s.content.filename} ${s.content.slice_id}`;
      expect(times.get(s.created_at) ?? slice).toBe(slice);
      times.set(s.created_at, slice);
    }
    expect(times.size).toBe(10 * SLICES);
  });

  it('gives STFs of many slices, requested at one time, request times of their own, and the same ones again', async () => {
    // Prepare: 20 slices take three blocks of request times; the second STF must move past the first.
    const since = '2026-07-20T14:05:00.000003Z';
    const slices = Array.from({ length: 20 }, (_, sliceId) => ({ sliceId, start: sliceId, end: sliceId }));
    const stfs = ['a', 'b'].map((name) => ({ runId: '300003', filename: `swf.${name}.stf`, since, slices }));
    // Act
    const first = await requestSlices(h.deps, stfs);
    const again = await requestSlices(h.deps, [...stfs].reverse());
    // Assess
    const times = first.flat().map((r) => r.createdAt);
    expect(new Set(times).size).toBe(40);
    expect(again.reverse()).toEqual(first);
  });

  it("finds a late failure's slice in the second block of request times of an STF of 12 slices", async () => {
    // Prepare: slices 8 to 11 share the second block's lookup item; its times 12 to 15 hold no slice.
    const runId = '300004';
    const since = '2026-07-20T14:06:00.000000Z';
    const slices = Array.from({ length: 12 }, (_, sliceId) => ({
      sliceId,
      start: 10 * sliceId,
      end: 10 * sliceId + 9,
    }));
    const [requests = []] = await requestSlices(h.deps, [{ runId, filename: 'swf.late.stf', since, slices }]);
    const slice10 = requests[10] as SliceRequest;
    // Upstream's failure names no slice: only the time it was requested at, copied as received.
    const failure = (requestedAt: string) =>
      makeMessage(
        'slice_result',
        runId,
        {
          requested_at: requestedAt,
          processing_start_at: tick(),
          processed_at: tick(),
          state: 'failed',
          hostname: 'node-1',
        },
        { namespace: NAMESPACE },
      );
    const unheld = fromEpochMicros(toEpochMicros(slice10.createdAt) + 3);
    // Act
    const [late, beyond] = await identifyResults([failure(slice10.createdAt), failure(unheld)], h.deps);
    const found = await findRequests(h.deps, runId, [slice10.createdAt, unheld]);
    // Assess
    expect(slice10.createdAt).toBe('2026-07-20T14:06:00.000010Z');
    expect(late).toMatchObject({ slice: { filename: 'swf.late.stf', sliceId: 10, start: 100, end: 109 } });
    expect(beyond).toHaveProperty('refusal');
    expect([...found.values()]).toEqual([slice10]);
    expect(slice10.reqId).toBe(requestId(runId, 'swf.late.stf', 10, slice10.createdAt));
  });
});
