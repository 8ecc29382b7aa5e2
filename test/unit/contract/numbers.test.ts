import { describe, expect, it } from 'vitest';
import { integerOf, numberOf } from '#contract/numbers.ts';

describe('numberOf', () => {
  it.each([
    [4000, 4000],
    [-1.5, -1.5],
    ['4000.0', 4000],
    ['-3', -3],
    ['0.25', 0.25],
  ])('reads %j as the number %j', (given, expected) => {
    // Act
    const got = numberOf(given);
    // Assess
    expect(got).toBe(expected);
  });

  it.each([
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '',
    ' 4',
    '1e3',
    '0x10',
    '.5',
    'Infinity',
    null,
    true,
    undefined,
  ])('gives undefined for %j', (given) => {
    // Act
    const got = numberOf(given);
    // Assess
    expect(got).toBeUndefined();
  });
});

describe('integerOf', () => {
  it('keeps safe integers and refuses fractions', () => {
    // Prepare
    const given = ['12', 12, '1.5', 2 ** 60];
    // Act
    const got = given.map(integerOf);
    // Assess
    expect(got).toEqual([12, 12, undefined, undefined]);
  });
});
