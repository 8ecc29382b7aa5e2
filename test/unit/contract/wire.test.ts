import { describe, expect, it, test } from 'vitest';
import { decodeMessage, encodeMessage, makeMessage } from '#contract/messages.ts';
import { canonicalSlice } from '#contract/wire.ts';

const slice = makeMessage(
  'slice',
  '100123',
  { slice_id: 3, start: 30, end: 39, filename: 'swf.100123.000001.stf', checksum: 'ad:0a1b2c3d' },
  { namespace: 'eic', sender: 'agent' },
);
const canonical = JSON.stringify(slice);
const headers = { msg_type: 'slice', run_id: '100123' };
const edited = (edit: (body: Record<string, unknown>, content: Record<string, unknown>) => void): string => {
  const body = structuredClone(slice) as unknown as Record<string, unknown>;
  edit(body, body.content as Record<string, unknown>);
  return JSON.stringify(body);
};

describe('canonicalSlice', () => {
  it('reads a canonical slice exactly as decodeMessage does', () => {
    // Act
    const fast = canonicalSlice(canonical, headers);
    // Assess
    expect(fast).toEqual(decodeMessage(canonical, { headers }));
  });

  it('reads what encodeMessage writes, headers included', () => {
    // Prepare
    const { body, headers: sent } = encodeMessage(slice);
    // Act
    const fast = canonicalSlice(body, sent);
    // Assess
    expect(fast).toEqual(slice);
  });

  // Each is either refused by the contract or normalised by it: the fast path must leave all of them to it.
  test.each([
    ['not JSON', '{"msg_type":'],
    ['an array', '[]'],
    ['another msg_type', edited((b) => (b.msg_type = 'slice_result'))],
    ['a numeric run_id', edited((b) => (b.run_id = 100123))],
    ['a naive timestamp', edited((b) => (b.created_at = '2026-11-22 05:00:00.5'))],
    ['an impossible date', edited((b) => (b.created_at = '2026-02-30T05:00:00.000000Z'))],
    ['a flat upstream body', JSON.stringify({ msg_type: 'slice', run_id: '100123', slice_id: 1 })],
    ['numbers as strings', edited((_, c) => (c.start = '30'))],
    ['end before start', edited((_, c) => (c.end = 29))],
    ['a negative slice_id', edited((_, c) => (c.slice_id = -1))],
    ['no filename', edited((_, c) => delete c.filename)],
    ['a timestamp in the content', edited((_, c) => (c.requested_at = '2026-11-22 05:00:00'))],
    ['a numeric namespace', edited((b) => (b.namespace = 7))],
  ])('leaves %s to decodeMessage', (_, body) => {
    // Act
    const fast = canonicalSlice(body, headers);
    // Assess
    expect(fast).toBeUndefined();
  });

  it('leaves a body whose headers disagree with it to decodeMessage, which refuses it', () => {
    // Prepare
    const disagreeing = { ...headers, run_id: '100124' };
    // Act
    const fast = canonicalSlice(canonical, disagreeing);
    // Assess
    expect(fast).toBeUndefined();
    expect(() => decodeMessage(canonical, { headers: disagreeing })).toThrow(/run_id/);
  });
});
