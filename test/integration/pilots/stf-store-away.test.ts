import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Message } from '#contract/messages.ts';
import { SlicePayloads } from '#domain/payloads.ts';
import { testDir } from '../../support/temp.ts';
import { sliceMessages, writeStf } from './support.ts';

/** A store with one STF, and its first slice. */
function storeWithStf(runId: string) {
  const store = join(testDir('stf-store-away-'), 'store');
  const stf = writeStf(store, runId);
  const [slice] = sliceMessages(stf, { namespace: 'stf-store-away', slices: 2 }) as [Message<'slice'>];
  return { store, slice };
}

describe('A slice whose STF store is away for a while', () => {
  it('waits for the store and analyses the slice once it is back', async () => {
    // Prepare
    const { store, slice } = storeWithStf('960001');
    const payloads = new SlicePayloads({ runId: '960001', stfStore: store, stfPatience: 60 });
    renameSync(store, `${store}.away`);
    // Act
    const outcome = payloads.run(slice.content);
    await sleep(1_000);
    renameSync(`${store}.away`, store);
    // Assess
    expect(await outcome).toMatchObject({ state: 'done', result: { hits: expect.any(Number) } });
    await payloads.close();
  });

  it('fails the slice with the store’s error once its patience is spent', async () => {
    // Prepare
    const { store, slice } = storeWithStf('960002');
    const payloads = new SlicePayloads({ runId: '960002', stfStore: store, stfPatience: 1 });
    renameSync(store, `${store}.away`);
    // Act
    const outcome = await payloads.run(slice.content);
    // Assess
    expect(outcome).toMatchObject({ state: 'failed', error: expect.stringMatching(/ENOENT/) });
    await payloads.close();
  });
});
