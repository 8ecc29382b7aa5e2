import { readFileSync } from 'node:fs';
import { describe, expect, it, test } from 'vitest';
import { MAX_BODY_BYTES } from '#contract/messages.ts';
import { classifyByBody } from '#domain/headerless.ts';
import { NO_RUN } from '#messaging/message-log.ts';

interface Sample {
  source: string;
  destination: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

const fixture = new URL('../../fixtures/upstream-messages.json', import.meta.url);
const samples: Sample[] = JSON.parse(readFileSync(fixture, 'utf8'));
// What upstream's agents publish: the body alone.
const headerless = samples.filter((s) => Object.keys(s.headers).length === 0);
const receivedAt = Date.UTC(2026, 6, 20, 14, 5, 0);

const classify = (body: unknown, headers: Record<string, string> = {}) =>
  classifyByBody(typeof body === 'string' ? body : JSON.stringify(body), { headers, receivedAt });

describe('Function: classifyByBody', () => {
  describe('a type a handler here takes', () => {
    test.each(headerless.map((s) => [`${s.body.msg_type} from ${s.source}`, s] as const))(
      'forwards %s to that handler’s queue',
      (_name, sample) => {
        // Prepare
        const body = sample.body;

        // Act
        const c = classify(body);

        // Assess
        expect(c).toMatchObject({
          kind: 'forward',
          destination: `/queue/swf.handler.${body.msg_type}`,
          message: { msg_type: body.msg_type, run_id: String(body.run_id), namespace: body.namespace },
        });
      },
    );

    it('forwards a body whose run_id is a number, with the run_id as a string', () => {
      // Prepare
      const body = { msg_type: 'end_run', run_id: 100123, timestamp: '2026-07-20T14:04:05.000000' };

      // Act
      const c = classify(body);

      // Assess
      expect(c).toMatchObject({ kind: 'forward', message: { run_id: '100123' } });
    });
  });

  describe('a message no handler here takes', () => {
    it('records stop_transformer, which the contract knows and nothing here handles', () => {
      // Prepare
      const body = {
        msg_type: 'stop_transformer',
        run_id: 100123,
        created_at: '2025-09-14T19:20:00.000+00:00',
        content: { requested_at: '2025-09-14T19:19:59.500000' },
      };

      // Act
      const c = classify(body);

      // Assess
      expect(c).toMatchObject({
        kind: 'record',
        message: { msg_type: 'stop_transformer', run_id: '100123' },
        note: 'no handler here takes stop_transformer',
      });
    });

    it('records an upstream-only type under its run, nested as the contract nests flat bodies', () => {
      // Prepare
      const body = {
        msg_type: 'tf_file_registered',
        namespace: 'test-user',
        sender: 'fastmon-agent-testuser-3',
        run_id: '100123',
        execution_id: 'prompt_processing-testuser-0042',
        timestamp: '2026-07-20T14:03:30.500000',
        tf_filename: 'swf.100123.000001_tf_001.tf',
        tf_count: 2,
      };

      // Act
      const c = classify(body);

      // Assess
      expect(c).toEqual({
        kind: 'record',
        note: 'unknown msg_type tf_file_registered',
        message: {
          msg_type: 'tf_file_registered',
          run_id: '100123',
          created_at: '2026-07-20T14:03:30.500000Z',
          namespace: 'test-user',
          sender: 'fastmon-agent-testuser-3',
          content: {
            execution_id: 'prompt_processing-testuser-0042',
            tf_filename: 'swf.100123.000001_tf_001.tf',
            tf_count: 2,
          },
        },
      });
    });

    it('records an upstream-only type without a run number whole, under no run, at the time it arrived', () => {
      // Prepare
      const body = {
        msg_type: 'processing_complete',
        run_id: 'test-run-001',
        execution_id: 'prompt_processing-testuser-0042',
      };

      // Act
      const c = classify(body);

      // Assess
      expect(c).toEqual({
        kind: 'record',
        note: 'unknown msg_type processing_complete',
        message: {
          msg_type: 'processing_complete',
          run_id: NO_RUN,
          created_at: '2026-07-20T14:05:00.000000Z',
          content: { body },
        },
      });
    });
  });

  describe('an unusable body', () => {
    test.each([
      ['not JSON', '{"msg_type": "stf_gen", "run_id": 1001', /^not JSON/],
      ['empty', '', /^empty body$/],
      ['a JSON array', '[{"msg_type": "stf_gen"}]', /expected a JSON object, got an array/],
      ['without msg_type', { run_id: '100123', filename: 'a.stf' }, /^msg_type: required, in the body/],
      ['with a msg_type that is no string', { msg_type: 7, run_id: '100123' }, /unknown msg_type 7/],
      ['with an empty msg_type', { msg_type: '', run_id: '100123' }, /unknown msg_type ""/],
      [
        'refused by the contract',
        { msg_type: 'stf_gen', run_id: '100123' },
        /stf_gen\.content\.filename: required/,
      ],
      ['refused for a type no handler takes', { msg_type: 'slice', run_id: 'x' }, /slice\.run_id/],
      [
        'over the size limit',
        JSON.stringify({ msg_type: 'tf_file_registered', run_id: '1', pad: 'x'.repeat(MAX_BODY_BYTES) }),
        /over the limit/,
      ],
    ])('parks a body %s with the reason', (_name, body, reason) => {
      // Act
      const c = classify(body);

      // Assess
      expect(c.kind).toBe('park');
      expect(c.kind === 'park' && c.reason).toMatch(reason);
    });

    it('names the run of a parked body that gives a run number, and none for one that does not', () => {
      // Act
      const named = classify({ run_id: 100123, total_stf_files: 1 });
      const unnamed = classify({ run_id: 'test-run-001' });

      // Assess
      expect(named).toMatchObject({ kind: 'park', runId: '100123' });
      expect(unnamed).toEqual({ kind: 'park', reason: expect.any(String) });
    });

    it('parks a body whose run_id disagrees with a run_id header it came with', () => {
      // Prepare
      const body = { msg_type: 'start_run', run_id: '100123', timestamp: '2026-07-20T14:03:20.200000' };

      // Act
      const c = classify(body, { run_id: '100124' });

      // Assess
      expect(c).toEqual({
        kind: 'park',
        reason: 'header run_id "100124" disagrees with the body\'s "100123"',
        runId: '100123',
      });
    });
  });
});
