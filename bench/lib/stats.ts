import { percentiles as nearestRank, percentile } from '#query/percentiles.ts';

/** The q-th quantile (0..1) by the query layer's nearest-rank rule; NaN when there are no values. */
export const quantile = (values: readonly number[], q: number): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    q,
  ) ?? Number.NaN;

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** p50, p95 and p99 by the query layer's nearest-rank rule. */
export const percentiles = (values: readonly number[]): Percentiles => {
  const { p50, p95, p99 } = nearestRank(values);
  return { p50, p95, p99 };
};

/** Each percentile's median over repetitions. */
export const medianPercentiles = (rows: readonly Percentiles[]): Percentiles => ({
  p50: median(rows.map((r) => r.p50)),
  p95: median(rows.map((r) => r.p95)),
  p99: median(rows.map((r) => r.p99)),
});

/** Runs `once` `times` times in a row and returns every result. */
export async function repeat<T>(times: number, once: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < times; i++) out.push(await once(i));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
