import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analysePart,
  analyseSlice,
  energyHistogram,
  readStfRange,
  StfChecksumError,
  verifyStf,
} from '#stf/analysis.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import { planSlices } from '#stf/slicing.ts';

const spec = { runId: 'run7', sequence: 3, tfCount: 20, sizeBytes: 256 * 1024 };
const stf = generateStf(spec);
let dir = '';
let path = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stf-'));
  path = join(dir, stfFileName(spec.runId, spec.sequence));
  await writeFile(path, stf);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('analyseSlice', () => {
  it('gives the whole file the hits and energy sum of all its slices together', () => {
    // Prepare
    const slices = planSlices(spec.tfCount, 6);

    // Act
    const whole = analyseSlice(stf, { start: 0, end: spec.tfCount });
    const parts = slices.map((s) => analyseSlice(stf, s));

    // Assess
    expect(parts.reduce((sum, p) => sum + p.hits, 0)).toBe(whole.hits);
    expect(parts.reduce((sum, p) => sum + p.energySumMeV, 0)).toBeCloseTo(whole.energySumMeV, 6);
    const histogram = parts.reduce(
      (h, p) => h.map((n, k) => n + (p.histogram[k] ?? 0)),
      Array(energyHistogram.bins).fill(0),
    );
    expect(histogram).toEqual(whole.histogram);
  });

  it('computes a plausible histogram, mean energy and hottest channel', () => {
    // Prepare
    const range = { start: 0, end: spec.tfCount };

    // Act
    const result = analyseSlice(stf, range);

    // Assess
    expect(result.histogram).toHaveLength(energyHistogram.bins);
    expect(result.histogram.reduce((a, b) => a + b, 0)).toBe(result.hits);
    expect(result.meanEnergyMeV).toBeGreaterThan(4.5);
    expect(result.meanEnergyMeV).toBeLessThan(5.5);
    expect(result.hottestChannelHits).toBeGreaterThanOrEqual(result.hits / 4096);
  });

  it('rejects a range outside the file', () => {
    // Prepare
    const range = { start: 5, end: spec.tfCount + 1 };

    // Act
    const analyse = () => analyseSlice(stf, range);

    // Assess
    expect(analyse).toThrow(RangeError);
  });
});

describe('readStfRange', () => {
  it('reads a slice from a file that analyses like the slice in memory', async () => {
    // Prepare
    const range = { start: 7, end: 11 };

    // Act
    const part = await readStfRange(path, range);

    // Assess
    expect(part.tfs.length).toBe(4 * part.header.bytesPerTf);
    expect(analysePart(part)).toEqual(analyseSlice(stf, range));
  });
});

describe('verifyStf', () => {
  it('accepts a file whose checksum matches', async () => {
    // Prepare
    const expected = adlerChecksum(stf);

    // Act
    const verify = verifyStf(path, expected);

    // Assess
    await expect(verify).resolves.toBeUndefined();
  });

  it('detects a flipped byte and names the file and both checksums', async () => {
    // Prepare
    const expected = adlerChecksum(stf);
    const corrupt = Buffer.from(stf);
    const at = corrupt.length >> 1;
    corrupt[at] = (corrupt[at] as number) ^ 0x01;
    const corruptPath = join(dir, 'corrupt.stf');
    await writeFile(corruptPath, corrupt);

    // Act
    const verify = verifyStf(corruptPath, expected);

    // Assess
    await expect(verify).rejects.toBeInstanceOf(StfChecksumError);
    await expect(verifyStf(corruptPath, expected)).rejects.toThrow(
      `Checksum mismatch for ${corruptPath}: expected ${expected}, got ${adlerChecksum(corrupt)}`,
    );
  });
});
