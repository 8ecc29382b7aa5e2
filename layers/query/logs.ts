import type { Page } from './bounds.ts';

export const logLevels = ['info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

/** What a log query asks a source for; the query layer has resolved the execution's run already. */
export interface LogQuery {
  readonly executionId?: string;
  readonly runId?: string;
  /** The minimum level: `warn` gives warnings and errors. */
  readonly level?: LogLevel;
  /** A substring of the line's message (case-insensitive). */
  readonly text?: string;
  /** Canonical timestamps bounding the line's `time`. */
  readonly since?: string;
  readonly until?: string;
  readonly limit: number;
  readonly next?: string;
}

/**
 * One JSON log line as written by `layers/log/` (Powertools' `timestamp`, `level`, `message`), as the query
 * layer gives it (`time`, lower-case `level`, `msg`), with where it was read.
 */
export interface LogLine {
  readonly time: string;
  readonly level: string;
  readonly msg: string;
  readonly source: string;
  readonly [field: string]: unknown;
}

/** Where log lines are read: the local stack's files, or CloudWatch Logs in AWS. */
export interface LogSource {
  readonly name: string;
  read(q: LogQuery): Promise<Page<LogLine>>;
}

export const emptyLogSource: LogSource = { name: 'none', read: async () => ({ items: [] }) };

/** A parsed JSON line as a LogLine; undefined for JSON that is no log line (not an object, no time). */
export function logLine(parsed: unknown, source: string): LogLine | undefined {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = parsed as Record<string, unknown>;
  // `time` and `msg`: lines of a stack started before the logs took Powertools' shape.
  const { timestamp = o.time, message = o.msg, level = 'info', time, msg, ...fields } = o;
  if (typeof timestamp !== 'string') return undefined;
  return {
    ...fields,
    time: timestamp,
    level: String(level).toLowerCase(),
    msg: String(message ?? ''),
    source,
  };
}

const rank = (level: unknown): number => logLevels.indexOf(String(level).toLowerCase() as LogLevel);

/** Whether a line answers the query (run or execution, level, text, time range). */
export function matches(line: LogLine, q: LogQuery): boolean {
  if (q.runId !== undefined || q.executionId !== undefined) {
    const ofRun =
      q.runId !== undefined &&
      (line.run_id === q.runId ||
        String(line.run_id) === q.runId ||
        (Array.isArray(line.run_ids) && line.run_ids.map(String).includes(q.runId)));
    const ofExecution = q.executionId !== undefined && line.execution_id === q.executionId;
    if (!ofRun && !ofExecution) return false;
  }
  if (q.level !== undefined && rank(line.level) < rank(q.level)) return false;
  if (q.text !== undefined && !line.msg.toLowerCase().includes(q.text.toLowerCase())) return false;
  // Log times have milliseconds (`toISOString`), canonical timestamps microseconds: compare to the ms.
  if (q.since !== undefined && line.time < q.since.slice(0, 23)) return false;
  if (q.until !== undefined && line.time > `${q.until.slice(0, 23)}Z`) return false;
  return true;
}
