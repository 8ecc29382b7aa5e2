import { readFileSync } from 'node:fs';
import { describe, expect, it, test } from 'vitest';
import { decodeMessage } from '#contract/messages.ts';

interface Sample {
  source: string;
  destination: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

// A copy of ../shared/reference/upstream-messages.json: CI's clean clone has only the repository.
const fixture = new URL('../../fixtures/upstream-messages.json', import.meta.url);
const samples: Sample[] = JSON.parse(readFileSync(fixture, 'utf8'));
// The broker's receive time, standing in for created_at where a legacy body carries no time at all.
const receivedAt = Date.UTC(2025, 8, 14, 18, 57, 24, 767);

describe('upstream samples', () => {
  test.each(samples.map((s) => [`${s.body.msg_type} from ${s.source}`, s] as const))(
    'accepts %s',
    (_name, sample) => {
      // Prepare
      const raw = JSON.stringify(sample.body);

      // Act
      const msg = decodeMessage(raw, { headers: sample.headers, receivedAt });

      // Assess
      expect(msg.msg_type).toBe(sample.body.msg_type);
      expect(msg.run_id).toBe(String(sample.body.run_id));
      expect(msg.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      for (const key of Object.keys(sample.body.content ?? sample.body)) {
        expect(key in msg || key in msg.content).toBe(true);
      }
    },
  );

  it('reads the legacy stf_gen, which has no time, a numeric run_id and a decimal checksum', () => {
    // Prepare
    const legacy = samples.find((s) => s.body.msg_type === 'stf_gen' && typeof s.body.run_id === 'number');

    // Act
    const msg = decodeMessage(JSON.stringify(legacy?.body), { receivedAt });

    // Assess
    expect(msg).toMatchObject({
      run_id: '20250914185722',
      created_at: '2025-09-14T18:57:24.767000Z',
      content: {
        filename: 'swf.20250914.185724.767135.no_beam.calib.stf',
        checksum: 'ad:e95e326b',
        size: 191,
        start: '20250914185722420185',
      },
    });
  });

  it('reads the transformer heartbeat written in the "%a, %d %b %Y" style', () => {
    // Prepare
    const heartbeat = samples.find((s) => s.body.msg_type === 'transformer_heartbeat');

    // Act
    const msg = decodeMessage(JSON.stringify(heartbeat?.body));

    // Assess
    expect(msg.created_at).toBe('2026-07-20T14:03:30.000000Z');
    expect(msg.content).toStrictEqual({ hostname: 'pilot-node-3', id: 'pilot-7' });
  });

  it('reads the data agent stf_ready, which has no time either, and exposes its size_bytes as size', () => {
    // Prepare
    const ready = samples.find((s) => s.body.msg_type === 'stf_ready');

    // Act
    const msg = decodeMessage(JSON.stringify(ready?.body), { receivedAt });

    // Assess
    expect(msg.created_at).toBe('2025-09-14T18:57:24.767000Z');
    expect(msg.content).toMatchObject({ size: 1048576, size_bytes: 1048576, checksum: 'ad:0a1b2c3d' });
  });
});
