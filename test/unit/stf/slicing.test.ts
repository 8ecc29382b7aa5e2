import { describe, expect, it, test } from 'vitest';
import { planSlices } from '#stf/slicing.ts';

describe('planSlices', () => {
  test.each([
    [1, 1, 1],
    [10, 1, 1],
    [10, 3, 3],
    [12, 4, 4],
    [100, 7, 7],
    [5, 5, 5],
    [3, 8, 3],
    [1, 15, 1],
  ])('covers each of %i TFs exactly once with %i slices requested (%i made)', (tfCount, slices, made) => {
    // Prepare
    const seen = new Array<number>(tfCount).fill(0);

    // Act
    const plan = planSlices(tfCount, slices);
    for (const { start, end } of plan) for (let tf = start; tf < end; tf++) seen[tf] = (seen[tf] ?? 0) + 1;

    // Assess
    expect(plan).toHaveLength(made);
    expect(seen.every((n) => n === 1)).toBe(true);
    expect(plan.map((s) => s.sliceId)).toEqual([...plan.keys()]);
    expect(plan.every((s, i) => s.end > s.start && s.start === (plan[i - 1]?.end ?? 0))).toBe(true);
    const sizes = plan.map((s) => s.end - s.start);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('rejects fewer than one slice', () => {
    // Prepare
    const tfCount = 10;

    // Act
    const plan = () => planSlices(tfCount, 0);

    // Assess
    expect(plan).toThrow(RangeError);
  });
});
