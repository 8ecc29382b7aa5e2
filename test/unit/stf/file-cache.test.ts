import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStfRange, StfChecksumError } from '#stf/analysis.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { StfFileCache } from '#stf/file-cache.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import { testDir } from '../../support/temp.ts';

const dir = testDir('stf-file-cache-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes STF `sequence` of run 700100 and gives its path and checksum. */
function writeStf(sequence: number): { path: string; checksum: string } {
  const bytes = generateStf({ runId: '700100', sequence, tfCount: 10, sizeBytes: 20_000 });
  const path = join(dir, stfFileName('700100', sequence));
  writeFileSync(path, bytes);
  return { path, checksum: adlerChecksum(bytes) };
}

describe('StfFileCache', () => {
  it('reads the same TFs as a direct read, also after more files than it keeps have been read', async () => {
    // Prepare
    const files = new StfFileCache();
    const stfs = Array.from({ length: 20 }, (_, i) => writeStf(i + 1));
    const [one] = stfs as [ReturnType<typeof writeStf>];
    const range = { start: 2, end: 5 };
    // Act
    const first = await files.read(one.path, one.checksum, range);
    for (const stf of stfs) await files.read(stf.path, stf.checksum, range);
    const again = await files.read(one.path, one.checksum, range);
    await files.close();
    // Assess
    const direct = await readStfRange(one.path, range);
    expect(Buffer.compare(first.tfs, direct.tfs)).toBe(0);
    expect(Buffer.compare(again.tfs, direct.tfs)).toBe(0);
  });

  it('refuses a file whose checksum does not match, every time', async () => {
    // Prepare
    const files = new StfFileCache();
    const stf = writeStf(99);
    // Act
    const reads = [1, 2].map(() => files.read(stf.path, '00000001', { start: 0, end: 1 }));
    // Assess
    for (const read of reads) await expect(read).rejects.toBeInstanceOf(StfChecksumError);
    await files.close();
  });
});
