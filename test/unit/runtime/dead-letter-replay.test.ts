import { describe, expect, it } from 'vitest';
import { fromEpochMicros } from '#contract/timestamps.ts';
import { replayDecision, replayPolicy } from '#runtime/dead-letter-replay.ts';

const parkedAt = Date.parse('2025-03-01T10:00:00Z');
const minute = 60_000;

/** The headers park() gives a message after a transient failure, replayed `replays` times before. */
const transient = (replays?: number): Record<string, string> => ({
  msg_type: 'stf_gen',
  run_id: '100010',
  dlq_reason: 'stf_gen handler failed 4 times for a transient reason, last: connect ECONNREFUSED',
  dlq_refused_at: fromEpochMicros(parkedAt * 1000),
  dlq_transient: 'true',
  ...(replays !== undefined && { dlq_replays: String(replays) }),
});

describe('Function: replayDecision', () => {
  it('waits a minute after parking before the first replay', () => {
    // Prepare
    const headers = transient();

    // Act
    const early = replayDecision(headers, parkedAt + 59_000);
    const due = replayDecision(headers, parkedAt + minute);

    // Assess
    expect(early).toEqual({ action: 'wait', dueAt: parkedAt + minute });
    expect(due).toEqual({ action: 'replay', replays: 1 });
  });

  it.each([
    [1, 2],
    [2, 4],
    [3, 8],
    [7, 128],
  ])('waits twice as long after each replay: after %i replays, %i minutes', (replays, minutes) => {
    // Prepare
    const headers = transient(replays);

    // Act
    const early = replayDecision(headers, parkedAt + minutes * minute - 1);
    const due = replayDecision(headers, parkedAt + minutes * minute);

    // Assess
    expect(early).toEqual({ action: 'wait', dueAt: parkedAt + minutes * minute });
    expect(due).toEqual({ action: 'replay', replays: replays + 1 });
  });

  it('gives up once the message has had its 8 replays, however long it has waited', () => {
    // Prepare
    const headers = transient(replayPolicy.maxReplays);

    // Act
    const decision = replayDecision(headers, parkedAt + 365 * 24 * 60 * minute);

    // Assess
    expect(replayPolicy.maxReplays).toBe(8);
    expect(decision).toEqual({ action: 'give-up', replays: 8 });
  });

  it.each([
    [
      'refused input',
      { dlq_reason: 'stf_gen.run_id: expected string', dlq_refused_at: '2025-03-01T10:00:00Z' },
    ],
    ['a message the broker parked after its redeliveries', { msg_type: 'stf_gen', run_id: '100010' }],
    ['a message marked anything but true', { ...transient(), dlq_transient: 'false' }],
  ])('never touches what was not parked for a transient failure: %s', (_, headers) => {
    // Act
    const decision = replayDecision(headers, parkedAt + 365 * 24 * 60 * minute);

    // Assess
    expect(decision).toEqual({ action: 'leave' });
  });

  it('takes a replay count it cannot read as spent, so that it never replays without end', () => {
    // Prepare
    const headers = { ...transient(), dlq_replays: 'many' };

    // Act
    const decision = replayDecision(headers, parkedAt + minute);

    // Assess
    expect(decision).toMatchObject({ action: 'give-up' });
  });

  it('replays at once a message whose parking time cannot be read', () => {
    // Prepare
    const { dlq_refused_at: _, ...headers } = transient();

    // Act
    const decision = replayDecision(headers, parkedAt);

    // Assess
    expect(decision).toEqual({ action: 'replay', replays: 1 });
  });

  it('follows a policy of its own: shorter back-off, fewer replays', () => {
    // Prepare
    const policy = { firstDelayMs: 1000, maxReplays: 2 };

    // Act
    const second = replayDecision(transient(1), parkedAt + 2000, policy);
    const third = replayDecision(transient(2), parkedAt + 4000, policy);

    // Assess
    expect(second).toEqual({ action: 'replay', replays: 2 });
    expect(third).toEqual({ action: 'give-up', replays: 2 });
  });
});
