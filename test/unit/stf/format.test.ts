import { describe, expect, it } from 'vitest';
import { CHANNEL_COUNT, generateStf, HIT_BYTES, readHeader, stfFileName, TF_LENGTH_NS } from '#stf/format.ts';

const spec = { runId: 'run-20250101-0001', sequence: 7, tfCount: 16, sizeBytes: 64 * 1024 };

describe('generateStf', () => {
  it('gives identical bytes for the same run and sequence', () => {
    // Prepare
    const again = { ...spec };

    // Act
    const first = generateStf(spec);
    const second = generateStf(again);

    // Assess
    expect(second.equals(first)).toBe(true);
  });

  it('gives different time frame data for a different sequence', () => {
    // Prepare
    const header = readHeader(generateStf(spec));

    // Act
    const first = generateStf(spec).subarray(header.headerLength);
    const next = generateStf({ ...spec, sequence: spec.sequence + 1 }).subarray(header.headerLength);

    // Assess
    expect(next.length).toBe(first.length);
    expect(next.equals(first)).toBe(false);
  });

  it('comes within half a hit per time frame of the target size', () => {
    // Prepare
    const target = { ...spec, tfCount: 100, sizeBytes: 1_000_003 };

    // Act
    const stf = generateStf(target);

    // Assess
    expect(Math.abs(stf.length - target.sizeBytes)).toBeLessThanOrEqual((target.tfCount * HIT_BYTES) / 2);
  });

  it('keeps at least one hit per time frame when the target size is tiny', () => {
    // Prepare
    const tiny = { ...spec, tfCount: 10, sizeBytes: 1 };

    // Act
    const header = readHeader(generateStf(tiny));

    // Assess
    expect(header.hitsPerTf).toBe(1);
  });

  it('writes a header that reads back as the spec', () => {
    // Prepare
    const stf = generateStf(spec);

    // Act
    const header = readHeader(stf);

    // Assess
    expect(header).toMatchObject({ runId: spec.runId, sequence: spec.sequence, tfCount: spec.tfCount });
    expect(header.headerLength % 8).toBe(0);
    expect(stf.length).toBe(header.headerLength + header.tfCount * header.bytesPerTf);
  });

  it('writes hits with channels, times and energies in range', () => {
    // Prepare
    const stf = generateStf(spec);
    const { headerLength } = readHeader(stf);

    // Act
    const hits = [];
    for (let offset = headerLength; offset < stf.length; offset += HIT_BYTES) {
      hits.push({
        channel: stf.readUInt16LE(offset),
        time: stf.readUInt32LE(offset + 4),
        energy: stf.readFloatLE(offset + 8),
      });
    }

    // Assess
    expect(hits.every((h) => h.channel < CHANNEL_COUNT && h.time < TF_LENGTH_NS && h.energy >= 0)).toBe(true);
  });
});

describe('readHeader', () => {
  it('rejects a buffer without the STF magic', () => {
    // Prepare
    const junk = Buffer.alloc(64);

    // Act
    const read = () => readHeader(junk);

    // Assess
    expect(read).toThrow(/Not an STF file/);
  });
});

describe('stfFileName', () => {
  it('pads the sequence to six digits', () => {
    // Prepare
    const runId = 'run42';

    // Act
    const names = [stfFileName(runId, 0), stfFileName(runId, 123), stfFileName(runId, 999999)];

    // Assess
    expect(names).toEqual(['swf.run42.000000.stf', 'swf.run42.000123.stf', 'swf.run42.999999.stf']);
  });
});
