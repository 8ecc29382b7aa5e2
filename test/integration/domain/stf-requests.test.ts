import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuns } from '#domain/runs.ts';
import { requestSlices } from '#domain/slice-requests.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import {
  captureRun,
  daqMessages,
  type Harness,
  ofType,
  type RunCaptures,
  recordsOf,
  startHarness,
  until,
} from './harness.ts';

const STFS = 40;
/** The harness's slices per STF (daqMessages). */
const SLICES = 3;
/**
 * What stf_ready asked of DynamoDB per STF before it read and wrote by batch: a read of the run item, an
 * update of the STF item, one conditional put per slice (its request time). Now: one conditional put per
 * STF (its block of request times), the rest in batches.
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

  it('reads by batch, writes each STF item once and claims request times by STF, not by slice', async () => {
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
    expect(ready.PutItem ?? 0).toBeLessThan(STFS * SLICES);
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
});
