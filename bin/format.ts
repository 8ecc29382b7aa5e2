import { parseTimestamp } from '#contract/timestamps.ts';

/**
 * The CLI's one time style, in its tables and trees: ISO 8601 in UTC to the millisecond (`2025-03-01T10:00:00.123Z`),
 * whatever style the record holds (upstream's, canonical microseconds, a log line's). Not a time: as is.
 */
export function cliTime(t: unknown): string {
  if (typeof t !== 'string' || t === '') return t === undefined || t === null ? '' : String(t);
  try {
    return `${parseTimestamp(t).slice(0, 23)}Z`;
  } catch {
    return t;
  }
}

/** Whether a table column holds times (the records name them `…_at`, `…_time` or `time`). */
export const isTimeColumn = (column: string): boolean => /(^time|_at|_time)$/.test(column);
