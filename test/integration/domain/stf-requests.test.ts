import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuns } from '#domain/runs.ts';
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
 * update of the STF item, one conditional put per slice (its request time).
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

  it('reads the run once per batch and writes each STF item once, not once per handler', async () => {
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
    const { stfs } = await recordsOf(h, runId);
    expect(stfs).toHaveLength(STFS);
    expect(stfs.every((s) => s.slice_count === SLICES && s.registered_at !== undefined)).toBe(true);
    expect(new Set(ofType(c.slices, 'slice').map((s) => s.created_at)).size).toBe(STFS * SLICES);
  });
});
