import { describe, expect, it } from 'vitest';
import type { Item } from '#query/bounds.ts';
import { type FigureRecords, runFigures } from '#query/run-figures.ts';
import { runStatus } from '#query/run-row.ts';

const NOW = Date.parse('2025-03-01T10:01:00.000Z');
const at = (s: number) =>
  new Date(Date.parse('2025-03-01T10:00:00.000Z') + s * 1000).toISOString().replace('Z', '000Z');

/** A run of `stfs` STFs registered, sliced in `slicesPerStf`, with `results` of them done by pilot p01. */
function records(o: {
  run?: Item;
  stfs?: number;
  sliced?: number;
  slicesPerStf?: number;
  results?: { pilot?: string; state: 'done' | 'failed'; host?: string }[];
  pilots?: Item[];
  messages?: Item[];
}): FigureRecords {
  const stfs = Array.from({ length: o.stfs ?? 0 }, (_, i) => ({
    filename: `swf.100600.00000${i + 1}.stf`,
    ...(i < (o.sliced ?? o.stfs ?? 0) && { slice_count: o.slicesPerStf ?? 5 }),
  }));
  return {
    run: {
      run_id: '100600',
      phase: 'running',
      created_at: at(0),
      started_at: at(2),
      registered_stfs: new Set(stfs.map((_, i) => i + 1)),
      ...o.run,
    },
    stfs,
    slices: (o.results ?? []).map((r, i) => ({
      state: r.state,
      hostname: r.host ?? 'testbed-host',
      ...(r.pilot !== undefined && { pilot_id: r.pilot }),
      requested_at: at(3 + i),
      processed_at: at(4 + i),
    })),
    pilots: o.pilots ?? [],
    messages: o.messages ?? [],
  };
}

const done = (n: number, pilot = '100600-p01') =>
  Array.from({ length: n }, () => ({ pilot, state: 'done' as const }));

describe('Function: runFigures', () => {
  describe('expected STFs and slices', () => {
    it('expects the STFs the DAQ simulator planned until end_run says how many came', () => {
      // Prepare: 5 of 6 planned STFs registered, 4 of them sliced.
      const r = records({ run: { config: { planned_stf_count: 6, slices_per_stf: 5 } }, stfs: 5, sliced: 4 });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.stfs).toEqual({ registered: 5, sliced: 4, done: 0, planned: 6, expected: 6 });
      expect(f.slices.expected).toBe(30);
    });

    it('expects what end_run announced over the plan', () => {
      // Prepare
      const r = records({
        run: { config: { planned_stf_count: 6, slices_per_stf: 5 }, total_stf_files: 4, phase: 'ended' },
        stfs: 4,
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.stfs).toMatchObject({ announced: 4, planned: 6, expected: 4 });
      expect(f.slices.expected).toBe(20);
    });

    it("counts each sliced STF's own slice count, and slices_per_stf for those still to come", () => {
      // Prepare: 2 STFs cut in 3 (the transformer's choice), 2 still to come at 5 each.
      const r = records({
        run: { config: { planned_stf_count: 4, slices_per_stf: 5 } },
        stfs: 2,
        slicesPerStf: 3,
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.slices.expected).toBe(3 + 3 + 5 + 5);
    });

    it("falls back on the registered STFs when the DAQ (upstream's) sends no plan and no slices_per_stf", () => {
      // Prepare: 3 registered, 2 sliced in 4.
      const r = records({ stfs: 3, sliced: 2, slicesPerStf: 4 });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.stfs.expected).toBe(3);
      expect(f.slices.expected).toBe(12);
    });
  });

  describe('per-pilot slices', () => {
    it("counts each pilot's slices in the slices table, so that they add up to the slices done", () => {
      // Prepare: the pilot items' own counters lag behind (0 and 1).
      const r = records({
        stfs: 1,
        results: [
          ...done(3, '100600-p01'),
          ...done(2, '100600-p02'),
          { pilot: '100600-p02', state: 'failed' },
        ],
        pilots: [
          { pilot_id: '100600-p01', state: 'ended', slices_done: 0 },
          { pilot_id: '100600-p02', state: 'ended', slices_done: 1 },
        ],
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.pilots.items).toEqual([
        { pilot_id: '100600-p01', state: 'ended', slices_done: 3, slices_failed: 0 },
        { pilot_id: '100600-p02', state: 'ended', slices_done: 2, slices_failed: 1 },
      ]);
      expect(f.pilots.items.reduce((n, p) => n + p.slices_done, 0)).toBe(f.slices.done);
    });
  });

  describe('messages', () => {
    it('counts every record of the message log, by type, refused ones apart too', () => {
      // Prepare
      const r = records({
        messages: [
          { msg_type: 'stf_gen', sender: 'daq_simulator-alice' },
          { msg_type: 'stf_gen', sender: 'daq_simulator-alice' },
          { msg_type: 'run_imminent', sender: 'daq_simulator-alice' },
          { msg_type: 'slice_result', sender: 'bad-pilot', refused: 'slice_result.filename: required' },
        ],
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.messages).toEqual({
        total: 4,
        by_type: { run_imminent: 1, slice_result: 1, stf_gen: 2 },
        refused: 1,
        senders: ['daq_simulator-alice'],
      });
    });
  });

  describe('settled', () => {
    it('is not settled while a pilot of a completed run still runs, and is once it has ended', () => {
      // Prepare
      const completed = { completion: 'completed', phase: 'completed', completed_at: at(30) };
      const live = records({
        run: completed,
        pilots: [{ pilot_id: 'p', state: 'running', last_heartbeat_at: at(59) }],
      });
      const ended = records({ run: completed, pilots: [{ pilot_id: 'p', state: 'ended' }] });
      // Act
      const [before, after] = [runFigures(live, NOW), runFigures(ended, NOW)];
      // Assess
      expect(before).toMatchObject({ status: 'completed', settled: false });
      expect(after).toMatchObject({ status: 'completed', settled: true, duration_seconds: 28 });
    });

    it('is never settled while the run itself goes on', () => {
      // Act
      const f = runFigures(records({ pilots: [] }), NOW);
      // Assess
      expect(f.settled).toBe(false);
    });
  });

  describe('why a run did not complete', () => {
    it('says a cancelled run was cancelled, and why, and ends its duration at the cancel', () => {
      // Prepare
      const r = records({
        run: {
          cancelled_at: at(12),
          cancel_reason: 'cancelled by alice',
          task_state: 'cancelled',
          dataset_state: 'closed',
          config: { planned_stf_count: 2, slices_per_stf: 5 },
        },
        stfs: 1,
        results: done(5),
        pilots: [{ pilot_id: '100600-p01', state: 'ended', started_at: at(3) }],
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.status).toBe('cancelled');
      expect(f.duration_seconds).toBe(10);
      expect(f.incomplete_reasons).toEqual([
        'cancelled: cancelled by alice',
        'the DAQ did not end the run (phase running)',
        '5 slices without a result',
      ]);
    });

    it('says no pilot ran when 0 workers were asked for', () => {
      // Prepare
      const r = records({
        run: { phase: 'ended', total_stf_files: 2, config: { target_worker_count: 0, slices_per_stf: 5 } },
        stfs: 2,
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.incomplete_reasons).toEqual([
        'no pilot ran: 0 workers asked for',
        '10 slices without a result',
      ]);
    });

    it('says no pilot ran when the pilots asked for never started', () => {
      // Prepare
      const r = records({
        run: { phase: 'ended', total_stf_files: 1, config: { target_worker_count: 2, slices_per_stf: 5 } },
        stfs: 1,
        pilots: [
          { pilot_id: '100600-p01', state: 'requested' },
          { pilot_id: '100600-p02', state: 'requested' },
        ],
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.incomplete_reasons).toEqual([
        'no pilot ran: 2 requested, none started',
        '5 slices without a result',
      ]);
    });

    it('names the STFs end_run announced that were never registered', () => {
      // Prepare
      const r = records({
        run: { phase: 'ended', total_stf_files: 3, config: { slices_per_stf: 2 } },
        stfs: 2,
        slicesPerStf: 2,
        results: done(4),
        pilots: [{ pilot_id: '100600-p01', state: 'running', started_at: at(3), last_heartbeat_at: at(59) }],
      });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.incomplete_reasons).toEqual([
        '1 STFs announced by end_run but not registered',
        '2 slices without a result',
      ]);
    });

    it('gives no reason for a completed run', () => {
      // Prepare
      const r = records({ run: { completion: 'completed', phase: 'completed' }, stfs: 1, results: done(5) });
      // Act
      const f = runFigures(r, NOW);
      // Assess
      expect(f.incomplete_reasons).toEqual([]);
    });
  });
});

describe('Function: runStatus', () => {
  it.each([
    [{ completion: 'completed', phase: 'completed' }, 'completed'],
    [{ cancelled_at: at(5), task_state: 'cancelled', phase: 'running' }, 'cancelled'],
    [{ task_state: 'cancelled', phase: 'running' }, 'cancelled'],
    [{ task_state: 'closed', phase: 'running' }, 'terminated'],
    [{ phase: 'running' }, 'running'],
    [{}, 'pending'],
  ])('gives %j the status %s', (run, status) => {
    // Act & Assess
    expect(runStatus(run)).toBe(status);
  });
});
