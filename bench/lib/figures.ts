import { median } from './stats.ts';

/** One row of the table: a median over repetitions, with the target it is held to. */
export interface Figure {
  readonly id: string;
  readonly figure: string;
  readonly unit: string;
  readonly runs: readonly number[];
  readonly target?: string;
  readonly met?: boolean;
  readonly median: number;
}

/** A target: its text in the table, and whether a figure meets it. */
export type Goal = (value: number) => { readonly target: string; readonly met: boolean };

export const atMost =
  (limit: number, note = ''): Goal =>
  (value) => ({ target: `≤ ${limit.toLocaleString('en-US')}${note && ` ${note}`}`, met: value <= limit });

export const atLeast =
  (limit: number): Goal =>
  (value) => ({ target: `≥ ${limit.toLocaleString('en-US')}`, met: value >= limit });

export interface FigureSpec {
  readonly id: string;
  readonly figure: string;
  readonly unit: string;
  readonly runs: readonly number[];
  /** The figure when it is not the median of its runs (a largest). */
  readonly value?: number;
  /** Held against the figure. */
  readonly goal?: Goal;
}

export function figure(spec: FigureSpec): Figure {
  const value = spec.value ?? median(spec.runs);
  const { id, figure, unit, runs } = spec;
  return { id, figure, unit, runs, ...spec.goal?.(value), median: value };
}

/** Figures taken from the same repetitions, each picking its value out of every repetition. */
export const figuresOf =
  <T>(repetitions: readonly T[], unit: string) =>
  (id: string, text: string, pick: (repetition: T) => number, goal?: Goal): Figure =>
    figure({ id, figure: text, unit, runs: repetitions.map(pick), ...(goal && { goal }) });
