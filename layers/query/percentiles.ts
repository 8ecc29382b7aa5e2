/**
 * The q-th percentile (0 < q ≤ 1) by the nearest-rank rule: the smallest value with at least q of all values
 * at or below it, i.e. the ⌈q·n⌉-th smallest. One value is every percentile; of two, p50 is the lower and
 * p95 the higher; of 1..100, pX is X. Undefined when there are no values.
 */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** p50, p95, p99 (nearest rank, see percentile) and max; all 0 with count 0 when there are no values. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => percentile(sorted, q) ?? 0;
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}
