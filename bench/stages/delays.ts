import { atMost, type Figure, figuresOf } from '../lib/figures.ts';
import { publishBurst, publishPaced, type Recorded } from '../lib/pipeline.ts';
import { layout, n, namespace, REPS, say, scale } from '../lib/settings.ts';
import type { StackRuns } from '../lib/stack-runs.ts';
import { medianPercentiles, type Percentiles, percentiles, repeat } from '../lib/stats.ts';

/** Offered loads, slices/s. */
const loads = [50, 100, 200, 400, 800];

/** One offered load's delays, each percentile the median of the repetitions (results.json's `delays`). */
export interface DelayRow {
  readonly load: number;
  readonly queueWaitMs: Percentiles;
  readonly recordingMs: Percentiles;
  readonly slicesPerRun: readonly number[];
}

export interface DelaysResult {
  /** 4a, 4b, 4c: at 200 slices/s. */
  readonly figures: readonly Figure[];
  readonly delays: readonly DelayRow[];
}

/** One repetition at one load. */
interface Delays {
  readonly queueWait: Percentiles;
  readonly recording: Percentiles;
  readonly slices: number;
}

const delaysOf = (rows: readonly Recorded[]): Delays => ({
  queueWait: percentiles(rows.map((r) => (r.started - r.requested) / 1000)),
  recording: percentiles(rows.map((r) => (r.recorded - r.processed) / 1000)),
  slices: rows.length,
});

/** Slices paced at each offered load, a run of its own per load, its transformers warmed up first. */
async function delaysAt(runs: StackRuns, load: number): Promise<Delays[]> {
  const seconds = (load === 200 ? 10 : 5) * Math.min(1, scale * 2);
  const runId = runs.startRun('delay-transformers');
  // Unreported: the run's new transformers warm up on a burst first.
  const warmUp = await runs.prepare(runId, n(1_000));
  await publishBurst(runs.publisher, runId, namespace, warmUp, layout);
  await runs.tables.completed(runId, warmUp.sequences, 120_000);
  runs.cleanUp(warmUp);
  let next = warmUp.sequences.length + 1;
  const measured = await repeat(REPS, async () => {
    const slices = Math.ceil((load * seconds) / layout.slicesPerStf) * layout.slicesPerStf;
    const p = await runs.prepare(runId, slices, next);
    next += p.stfs.length;
    await publishPaced(runs.publisher, runId, namespace, p, layout, load);
    await runs.tables.completed(runId, p.sequences, 120_000);
    const rows = await runs.tables.slices(runId, p.first, p.last);
    runs.cleanUp(p);
    return delaysOf(rows);
  });
  await runs.endRun();
  return measured;
}

export async function delaysStage(runs: StackRuns): Promise<DelaysResult> {
  say(`delays: offered loads ${loads.join(', ')} slices/s, 4 transformers`);
  const byLoad: { load: number; runs: Delays[] }[] = [];
  for (const load of loads) byLoad.push({ load, runs: await delaysAt(runs, load) });
  const at200 = byLoad.find((d) => d.load === 200)?.runs ?? [];
  const held = figuresOf(at200, 'ms');
  return {
    figures: [
      held(
        '4a',
        'queue wait p50 (created_at → processing_start_at) at 200 slices/s',
        (d) => d.queueWait.p50,
        atMost(2),
      ),
      held('4b', 'queue wait p99 at 200 slices/s', (d) => d.queueWait.p99, atMost(20)),
      held(
        '4c',
        'result recording p99 (processed_at → recorded_at) at 200 slices/s',
        (d) => d.recording.p99,
        atMost(100),
      ),
    ],
    delays: byLoad.map((d) => ({
      load: d.load,
      queueWaitMs: medianPercentiles(d.runs.map((r) => r.queueWait)),
      recordingMs: medianPercentiles(d.runs.map((r) => r.recording)),
      slicesPerRun: d.runs.map((r) => r.slices),
    })),
  };
}
