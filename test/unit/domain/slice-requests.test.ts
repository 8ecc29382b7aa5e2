import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromEpochMicros } from '#contract/timestamps.ts';
import { requestId, requestTimeOf } from '#domain/slice-requests.ts';

describe('A slice request id', () => {
  it('is a UUID version 7 that gives back the created_at it was made with, to the microsecond', () => {
    // Prepare
    const times = fc.integer({ min: 0, max: 7_258_118_400_000_000 }).map(fromEpochMicros);
    // Act, Assess
    fc.assert(
      fc.property(times, fc.nat({ max: 999 }), (createdAt, sliceId) => {
        const id = requestId('100123', 'swf.100123.000001.stf', sliceId, createdAt);
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(requestTimeOf(id)).toBe(createdAt);
      }),
    );
  });

  it('is the same for the same slice and differs between slices requested at one time', () => {
    // Prepare
    const at = '2026-07-20T14:03:23.000123Z';
    // Act
    const ids = [
      requestId('100123', 'swf.100123.000001.stf', 0, at),
      requestId('100123', 'swf.100123.000001.stf', 0, at),
      requestId('100123', 'swf.100123.000001.stf', 1, at),
      requestId('100124', 'swf.100123.000001.stf', 0, at),
    ];
    // Assess
    expect(ids[0]).toBe(ids[1]);
    expect(new Set(ids).size).toBe(3);
  });

  it('is not read from upstream’s random ids or anything else', () => {
    // Act, Assess
    expect(requestTimeOf('8f14e45f-ceea-467f-a8b4-1c2d3e4f5a6b')).toBeUndefined();
    expect(requestTimeOf('019f7fd6-abf8-7fff-b3dd-be9a24e2020f')).toBeUndefined();
    expect(requestTimeOf(42)).toBeUndefined();
  });
});
