import { describe, expect, it } from 'vitest';
import { settledSummary, summary } from '#local/summary.ts';
import { percentiles } from '#query/percentiles.ts';
import type { RunSummary } from '#query/run-summary.ts';

/** A run summary as the query layer gives it, with `o` over a completed, settled run of 2 STFs. */
function runSummaryWith(o: Partial<RunSummary> = {}): RunSummary {
  return {
    run_id: '100700',
    execution_id: 'prompt_processing-alice-0001',
    namespace: 'alice',
    status: 'completed',
    stf_files: 2,
    duration_seconds: 12.34,
    stfs: { registered: 2, sliced: 2, done: 2, announced: 2, planned: 2, expected: 2 },
    slices: { expected: 10, done: 10, failed: 0 },
    messages: { total: 7, by_type: { end_run: 1, stf_gen: 2, transformer_end: 4 }, refused: 0, senders: [] },
    pilots: {
      total: 2,
      by_state: { ended: 2 },
      items: [
        { pilot_id: '100700-p01', state: 'ended', slices_done: 6, slices_failed: 0 },
        { pilot_id: '100700-p02', state: 'ended', slices_done: 4, slices_failed: 0 },
      ],
    },
    result_hosts: [],
    settled: true,
    incomplete_reasons: [],
    truncated: false,
    delay_ms: percentiles([]),
    queue_wait_ms: percentiles([]),
    ...o,
  };
}

describe('Function: summary', () => {
  it("gives the records' duration, every message recorded by type, and each pilot's slices", () => {
    // Act
    const text = summary(runSummaryWith());
    // Assess
    expect(text).toContain('Run 100700 Summary: completed\n');
    expect(text).toContain('├── Duration: 12.3 s');
    expect(text).toContain('├── STF files: 2 of 2 announced by end_run');
    expect(text).toContain(
      [
        '├── Messages recorded: 7',
        '│   ├── end_run: 1',
        '│   ├── stf_gen: 2',
        '│   └── transformer_end: 4',
      ].join('\n'),
    );
    expect(text).toContain('├── Pilots: 100700-p01 (ended, 6 slices), 100700-p02 (ended, 4 slices)');
    expect(text).not.toContain('Why not completed');
  });

  it('says why a cancelled run did not complete, right under its first line', () => {
    // Prepare
    const cancelled = runSummaryWith({
      status: 'cancelled',
      incomplete_reasons: ['cancelled: cancelled by alice', '5 slices without a result'],
    });
    // Act
    const text = summary(cancelled);
    // Assess
    expect(text.split('\n').slice(0, 4)).toEqual([
      'Run 100700 Summary: NOT COMPLETED (cancelled)',
      '├── Why not completed:',
      '│   ├── cancelled: cancelled by alice',
      '│   └── 5 slices without a result',
    ]);
  });
});

describe('Function: settledSummary', () => {
  it('reads again until the run has settled and a second read agrees', async () => {
    // Prepare: the pilots end on the second read, their transformer_end recorded on the third.
    const reads = [
      runSummaryWith({ settled: false }),
      runSummaryWith({ settled: true, messages: { ...runSummaryWith().messages, total: 6 } }),
      runSummaryWith(),
      runSummaryWith(),
    ];
    let calls = 0;
    // Act
    const s = await settledSummary(async () => reads[Math.min(calls++, reads.length - 1)] as RunSummary);
    // Assess
    expect(calls).toBe(4);
    expect(s).toMatchObject({ settled: true, completed: true, messages: { total: 7 } });
  });

  it('summarises a run that has not finished at once: it will not settle', async () => {
    // Prepare
    let calls = 0;
    const running = runSummaryWith({ status: 'running', settled: false });
    // Act
    const s = await settledSummary(async () => {
      calls++;
      return running;
    });
    // Assess
    expect(calls).toBe(1);
    expect(s.completed).toBe(false);
  });

  it('gives the run as it is once the wait is over', async () => {
    // Prepare: a finished run whose pilot never ends.
    let calls = 0;
    const stuck = runSummaryWith({ settled: false });
    // Act
    const s = await settledSummary(async () => {
      calls++;
      return stuck;
    }, 0);
    // Assess
    expect(calls).toBe(1);
    expect(s.settled).toBe(false);
  });
});
