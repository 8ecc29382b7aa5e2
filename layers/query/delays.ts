import { toEpochMicros } from '#contract/timestamps.ts';
import type { Item } from './bounds.ts';
import { type Percentiles, percentiles } from './percentiles.ts';
import { sliceCounts } from './slices.ts';

const HISTOGRAM_BINS = 20;
const SERIES_POINTS = 100;

export interface HistogramBin {
  readonly from_ms: number;
  readonly to_ms: number;
  readonly count: number;
}

/** The delay statistics of a run, from its recorded slice results. */
export interface DelayStats {
  readonly run_id: string;
  readonly slices_done: number;
  readonly slices_failed: number;
  /** The read stopped at MAX_SLICES_READ slices (slices.ts). */
  readonly truncated: boolean;
  /** processed_at − requested_at, ms. */
  readonly delay_ms: Percentiles;
  /** processing_start_at − requested_at: the wait in the slice queue, ms. */
  readonly queue_wait_ms: Percentiles;
  /** processed_at − processing_start_at, ms. */
  readonly processing_ms: Percentiles;
  /** First slice's requested_at to the first result's processed_at, ms. */
  readonly first_result_ms?: number;
  readonly histogram: HistogramBin[];
  /** Slices done (cumulative) by processed_at, at most SERIES_POINTS points. */
  readonly done_over_time: { at: string; done: number }[];
}

const micros = (v: unknown): number | undefined => (typeof v === 'string' ? toEpochMicros(v) : undefined);

const spanMs = (from: unknown, to: unknown): number | undefined => {
  const a = micros(from);
  const b = micros(to);
  return a === undefined || b === undefined ? undefined : (b - a) / 1000;
};

const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);

export function delayStats(runId: string, slices: readonly Item[], truncated: boolean): DelayStats {
  const done = slices.filter((s) => s.state === 'done');
  const delays = defined(done.map((s) => spanMs(s.requested_at, s.processed_at)));
  const firstRequested = slices
    .map((s) => String(s.requested_at ?? ''))
    .filter(Boolean)
    .sort()[0];
  const firstProcessed = slices
    .map((s) => String(s.processed_at ?? ''))
    .filter(Boolean)
    .sort()[0];
  const counts = sliceCounts(slices);
  return {
    run_id: runId,
    slices_done: counts.done,
    slices_failed: counts.failed,
    truncated,
    delay_ms: percentiles(delays),
    queue_wait_ms: percentiles(defined(done.map((s) => spanMs(s.requested_at, s.processing_start_at)))),
    processing_ms: percentiles(defined(done.map((s) => spanMs(s.processing_start_at, s.processed_at)))),
    ...(firstRequested &&
      firstProcessed && { first_result_ms: spanMs(firstRequested, firstProcessed) as number }),
    histogram: histogram(delays),
    done_over_time: series(done.map((s) => String(s.processed_at ?? '')).filter(Boolean)),
  };
}

/** Equal bins from 0 to the largest delay, a round width. */
export function histogram(values: readonly number[]): HistogramBin[] {
  if (values.length === 0) return [];
  const max = Math.max(...values);
  const width = roundUp(Math.max(max, 1) / HISTOGRAM_BINS);
  const bins = Math.max(1, Math.ceil((max + Number.EPSILON) / width));
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const i = Math.min(bins - 1, Math.max(0, Math.floor(v / width)));
    counts[i] = (counts[i] as number) + 1;
  }
  return counts.map((count, i) => ({ from_ms: i * width, to_ms: (i + 1) * width, count }));
}

/** 1, 2 or 5 times a power of ten, at least x. */
function roundUp(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 5, 10].find((m) => m * p >= x) ?? 10) * p;
}

/** The cumulative count of done slices, sampled at up to SERIES_POINTS times (each the last of its step). */
function series(processedAt: string[]): { at: string; done: number }[] {
  const sorted = processedAt.sort();
  if (sorted.length === 0) return [];
  const step = Math.max(1, Math.ceil(sorted.length / SERIES_POINTS));
  const points: { at: string; done: number }[] = [];
  for (let i = step - 1; i < sorted.length; i += step) points.push({ at: sorted[i] as string, done: i + 1 });
  if (points.at(-1)?.done !== sorted.length)
    points.push({ at: sorted.at(-1) as string, done: sorted.length });
  return points;
}
