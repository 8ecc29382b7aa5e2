import { randomBytes } from 'node:crypto';
import adler from 'adler-32';
import { describe, expect, it, test } from 'vitest';
import { adler32, adlerChecksum } from '#stf/checksum.ts';

describe('adler32', () => {
  test.each([
    ['', 0x00000001],
    ['a', 0x00620062],
    ['abc', 0x024d0127],
    ['Wikipedia', 0x11e60398],
    ['message digest', 0x29750586],
    ['abcdefghijklmnopqrstuvwxyz', 0x90860b20],
  ])('gives the known checksum of %j', (text, expected) => {
    // Prepare
    const buf = Buffer.from(text, 'latin1');

    // Act
    const value = adler32(buf);

    // Assess
    expect(value).toBe(expected);
  });

  it('agrees with the adler-32 package on a large buffer of 0xff bytes and random bytes', () => {
    // Prepare
    const buffers = [Buffer.alloc(100_000, 0xff), randomBytes(1 << 20)];

    // Act
    const values = buffers.map((b) => adler32(b));

    // Assess
    expect(values).toEqual(buffers.map((b) => adler.buf(b) >>> 0));
  });

  it('continues a checksum across pieces from the previous value', () => {
    // Prepare
    const buf = randomBytes(50_000);

    // Act
    const pieced = adler32(buf.subarray(12_345), adler32(buf.subarray(0, 12_345)));

    // Assess
    expect(pieced).toBe(adler32(buf));
  });
});

describe('adlerChecksum', () => {
  it('formats as ad: and eight lowercase hex digits', () => {
    // Prepare
    const buf = Buffer.from('a');

    // Act
    const checksum = adlerChecksum(buf);

    // Assess
    expect(checksum).toBe('ad:00620062');
  });
});
