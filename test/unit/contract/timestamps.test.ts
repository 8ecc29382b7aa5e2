import { describe, expect, it, test } from 'vitest';
import { z } from 'zod';
import { timestamp } from '#contract/schemas.ts';
import { fromEpochMicros, nowTimestamp, parseTimestamp, toEpochMicros } from '#contract/timestamps.ts';

describe('parseTimestamp', () => {
  test.each([
    ['naive ISO (UTC)', '2026-07-20T14:03:11.123456', '2026-07-20T14:03:11.123456Z'],
    ['ISO with Z', '2026-07-20T14:03:11.123456Z', '2026-07-20T14:03:11.123456Z'],
    ['ISO with +00:00', '2026-07-20T14:03:11.123456+00:00', '2026-07-20T14:03:11.123456Z'],
    ['ISO with a positive offset', '2026-07-20T16:03:11.000001+02:00', '2026-07-20T14:03:11.000001Z'],
    [
      'ISO with a negative offset across midnight',
      '2026-07-19T23:30:00.5-05:00',
      '2026-07-20T04:30:00.500000Z',
    ],
    ['ISO with an offset across a year', '2026-01-01T00:30:00+01:00', '2025-12-31T23:30:00.000000Z'],
    ['ISO without a fraction', '2026-07-20T14:03:11', '2026-07-20T14:03:11.000000Z'],
    ['ISO with 3 fractional digits', '2025-09-14T19:20:00.000+00:00', '2025-09-14T19:20:00.000000Z'],
    ['ISO with 1 fractional digit', '2026-07-20T14:03:11.7Z', '2026-07-20T14:03:11.700000Z'],
    ["Python's str(datetime) with a space", '2025-09-14 18:57:22.420185', '2025-09-14T18:57:22.420185Z'],
    ['"%a, %d %b %Y %H:%M:%S UTC"', 'Mon, 20 Jul 2026 14:03:30 UTC', '2026-07-20T14:03:30.000000Z'],
    ['a leap day', '2028-02-29T00:00:00', '2028-02-29T00:00:00.000000Z'],
  ])('reads %s and keeps the microseconds', (_style, input, expected) => {
    // Prepare
    // Act
    const canonical = parseTimestamp(input);

    // Assess
    expect(canonical).toBe(expected);
  });

  test.each([
    ['', 'an empty string'],
    ['2026-13-01T00:00:00', 'month 13'],
    ['2026-02-30T00:00:00', 'February 30'],
    ['2027-02-29T00:00:00', 'a leap day in a common year'],
    ['2026-07-20T24:00:00', 'hour 24'],
    ['2026-07-20T14:60:00', 'minute 60'],
    ['2026-07-20T14:03:11.1234567', 'seven fractional digits'],
    ['2026-07-20T14:03:11+25:00', 'an offset of 25 hours'],
    ['Tue, 20 Jul 2026 14:03:30 UTC', 'a weekday that does not match the date'],
    ['Mon, 20 Jux 2026 14:03:30 UTC', 'an unknown month name'],
    ['Mon, 20 Jul 2026 14:03:30 GMT', 'a zone other than UTC'],
    ['1784556191', 'epoch seconds'],
    ['20/07/2026 14:03', 'a local date format'],
  ])('refuses %j (%s) with an error naming the input', (input) => {
    // Prepare
    // Act
    const act = () => parseTimestamp(input);

    // Assess
    expect(act).toThrow(`invalid timestamp ${JSON.stringify(input)}`);
  });
});

describe('epoch microseconds', () => {
  it('converts a canonical timestamp to an integer and back without loss', () => {
    // Prepare
    const canonical = '2026-07-20T14:03:11.123456Z';

    // Act
    const micros = toEpochMicros(canonical);

    // Assess
    expect(micros).toBe(Date.UTC(2026, 6, 20, 14, 3, 11) * 1000 + 123_456);
    expect(fromEpochMicros(micros)).toBe(canonical);
  });

  it('handles times before the epoch', () => {
    // Prepare
    const canonical = '1969-12-31T23:59:59.999999Z';

    // Act
    const micros = toEpochMicros(canonical);

    // Assess
    expect(micros).toBe(-1);
    expect(fromEpochMicros(micros)).toBe(canonical);
  });

  it('refuses a value that is not an integer', () => {
    // Prepare
    // Act
    const act = () => fromEpochMicros(1.5);

    // Assess
    expect(act).toThrow(RangeError);
  });
});

describe('nowTimestamp', () => {
  it('gives the current UTC time in canonical form with microseconds', () => {
    // Prepare
    const before = Date.now();

    // Act
    const now = nowTimestamp();

    // Assess
    expect(now).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(Math.abs(toEpochMicros(now) / 1000 - before)).toBeLessThan(1000);
  });
});

describe('timestamp schema', () => {
  it('turns any accepted style into the canonical form', () => {
    // Prepare
    const schema = z.object({ at: timestamp });

    // Act
    const parsed = schema.parse({ at: 'Mon, 20 Jul 2026 14:03:30 UTC' });

    // Assess
    expect(parsed.at).toBe('2026-07-20T14:03:30.000000Z');
  });

  it('reports an issue naming the bad value', () => {
    // Prepare
    const schema = z.object({ at: timestamp });

    // Act
    const result = schema.safeParse({ at: 'yesterday' });

    // Assess
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('"yesterday"');
    expect(result.error?.issues[0]?.path).toEqual(['at']);
  });
});
