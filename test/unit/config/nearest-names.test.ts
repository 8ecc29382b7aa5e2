import { describe, expect, it } from 'vitest';
import { editDistance, nearestNames, orList } from '#config/nearest-names.ts';

describe('nearest names', () => {
  describe('editDistance', () => {
    it.each([
      ['simulaton', 'simulation', 1],
      ['stf_cuont', 'stf_count', 1],
      ['Simulation', 'simulation', 0],
      ['stf_processing', 'fast_processing', 3],
      ['', 'abc', 3],
    ])('counts %s -> %s as %i edits', (a, b, edits) => {
      // Act
      const distance = editDistance(a, b);

      // Assess
      expect(distance).toBe(edits);
    });
  });

  describe('nearestNames', () => {
    const simulationKeys = ['stf_interval', 'stf_generation_time', 'stf_mode', 'realtime', 'stf_count'];

    it('offers the near names, nearest first, and not a name as far as stf_mode from stf_count', () => {
      // Prepare
      const typed = 'stf_counts';

      // Act
      const near = nearestNames(typed, simulationKeys);

      // Assess
      expect(near).toEqual(['stf_count']);
    });

    it('offers a name the typed one extends, as a slip at the end', () => {
      // Prepare
      const typed = 'slices_per_stf_typo';

      // Act
      const near = nearestNames(typed, ['slices_per_stf', 'slices_per_sample', 'tfs_per_stf']);

      // Assess
      expect(near).toEqual(['slices_per_stf']);
    });

    it('offers at most three names', () => {
      // Prepare
      const known = ['ab1', 'ab2', 'ab3', 'ab4'];

      // Act
      const near = nearestNames('ab', known);

      // Assess
      expect(near).toEqual(['ab1', 'ab2', 'ab3']);
    });

    it('offers nothing when no name is near', () => {
      // Act
      const near = nearestNames('bogus', ['testbed', 'workflow', 'simulation']);

      // Assess
      expect(near).toEqual([]);
    });
  });

  describe('orList', () => {
    it.each([
      [['a'], 'a'],
      [['a', 'b'], 'a or b'],
      [['a', 'b', 'c'], 'a, b or c'],
    ])('joins %j as "%s"', (names, joined) => {
      // Act
      const text = orList(names);

      // Assess
      expect(text).toBe(joined);
    });
  });
});
