import { describe, expect, it } from 'vitest';
import { percentile, percentiles } from '#query/percentiles.ts';

describe('percentile (nearest rank)', () => {
  it('gives the one value for every percentile of a single value', () => {
    // Prepare
    const values = [7];
    // Act
    const got = [0.01, 0.5, 0.95, 0.99, 1].map((q) => percentile(values, q));
    // Assess
    expect(got).toEqual([7, 7, 7, 7, 7]);
  });

  it('gives the lower of two values as p50 and the higher as p95 and p99', () => {
    // Prepare
    const values = [10, 20];
    // Act
    const got = percentiles(values);
    // Assess
    expect(got).toEqual({ count: 2, p50: 10, p95: 20, p99: 20, max: 20 });
  });

  it('gives pX = X of the values 1..100, in any order', () => {
    // Prepare
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    // Act
    const got = percentiles(values);
    // Assess
    expect(got).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('gives undefined without values, and percentiles all 0 with count 0', () => {
    // Prepare
    const values: number[] = [];
    // Act
    const one = percentile(values, 0.5);
    const all = percentiles(values);
    // Assess
    expect(one).toBeUndefined();
    expect(all).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
  });
});
