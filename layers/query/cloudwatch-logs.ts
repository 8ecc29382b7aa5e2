import type {
  CloudWatchLogsClient,
  FilterLogEventsCommandInput,
  FilterLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { toEpochMicros } from '#contract/timestamps.ts';
import { badRequest, type Page } from './bounds.ts';
import { type LogLine, type LogQuery, type LogSource, logLevels, logLine, matches } from './logs.ts';

/** DynamoDB-style bound on the calls one page makes (FilterLogEvents may return empty pages with a token). */
const MAX_CALLS_PER_PAGE = 10;
/** FilterLogEvents returns at most 10,000 events a call (its maximum limit): a page never stops further into one. */
const MAX_SKIP = 10_000;

/**
 * The JSON filter pattern of a query: run or execution, minimum level. Text is matched here, after the
 * fetch, as CloudWatch's patterns have no case-insensitive substring match.
 */
export function filterPattern(q: LogQuery): string | undefined {
  const quote = (v: string) => JSON.stringify(v);
  const terms: string[] = [];
  const owners = [
    ...(q.runId !== undefined ? [`$.run_id = ${quote(q.runId)}`] : []),
    ...(q.executionId !== undefined ? [`$.execution_id = ${quote(q.executionId)}`] : []),
  ];
  if (owners.length > 0) terms.push(`(${owners.join(' || ')})`);
  if (q.level !== undefined && q.level !== 'info') {
    const levels = logLevels.slice(logLevels.indexOf(q.level));
    // Powertools writes levels in upper case; CloudWatch compares strings as they are.
    terms.push(`(${levels.map((l) => `$.level = ${quote(l.toUpperCase())}`).join(' || ')})`);
  }
  return terms.length > 0 ? `{ ${terms.join(' && ')} }` : undefined;
}

/** The FilterLogEvents request for one log group. */
export function filterRequest(
  logGroup: string,
  q: LogQuery,
  nextToken?: string,
): FilterLogEventsCommandInput {
  const pattern = filterPattern(q);
  const ms = (t: string) => Math.floor(toEpochMicros(t) / 1000);
  return {
    logGroupName: logGroup,
    ...(pattern !== undefined && { filterPattern: pattern }),
    ...(q.since !== undefined && { startTime: ms(q.since) }),
    ...(q.until !== undefined && { endTime: ms(q.until) }),
    limit: q.limit,
    ...(nextToken !== undefined && { nextToken }),
  };
}

export interface CloudWatchLogSourceOptions {
  /** The functions' and the pilots' log groups. */
  readonly logGroups: readonly string[];
  /** @default a client for the function's region */
  readonly client?: CloudWatchLogsClient;
}

interface Cursor {
  /** Index of the log group being read. */
  readonly g: number;
  /** CloudWatch's token of the call to repeat. */
  readonly t?: string;
  /** The events of that call's answer already read (a page may end within it). */
  readonly s?: number;
}

/**
 * Log lines from CloudWatch Logs in AWS: FilterLogEvents over each log group in turn (oldest first within a
 * group, as CloudWatch returns them: it has no newest-first order). A page reads one line more than it
 * gives, so `next` is given only when a line follows; it names the group, CloudWatch's token of the call
 * that returned that line and how many events of that call's answer to skip.
 */
export function cloudWatchLogSource(o: CloudWatchLogSourceOptions): LogSource {
  let client = o.client;
  return {
    name: `CloudWatch Logs (${o.logGroups.join(', ')})`,
    async read(q: LogQuery): Promise<Page<LogLine>> {
      const { CloudWatchLogsClient, FilterLogEventsCommand } = await import(
        '@aws-sdk/client-cloudwatch-logs'
      );
      client ??= new CloudWatchLogsClient({});
      let cursor: Cursor | undefined = decodeCursor(q.next, o.logGroups.length);
      const found: { line: LogLine; at: Cursor }[] = [];
      for (let call = 0; cursor && call < MAX_CALLS_PER_PAGE && found.length <= q.limit; call++) {
        const group = o.logGroups[cursor.g] as string;
        const skip = cursor.s ?? 0;
        // The same token and a larger limit: the answer starts with the events read already.
        const wanted = Math.min(MAX_SKIP, skip + q.limit + 1 - found.length);
        const out: FilterLogEventsCommandOutput = await client.send(
          new FilterLogEventsCommand(filterRequest(group, { ...q, limit: wanted }, cursor.t)),
        );
        for (const [index, e] of (out.events ?? []).entries()) {
          const line = index >= skip ? parseEvent(e.message ?? '', group) : undefined;
          if (line && matches(line, q))
            found.push({ line, at: { g: cursor.g, ...(cursor.t && { t: cursor.t }), s: index } });
        }
        cursor = out.nextToken
          ? { g: cursor.g, t: out.nextToken }
          : cursor.g + 1 < o.logGroups.length
            ? { g: cursor.g + 1 }
            : undefined;
      }
      const following = found.length > q.limit ? found[q.limit]?.at : cursor;
      return {
        items: found.slice(0, q.limit).map((f) => f.line),
        ...(following && { next: Buffer.from(JSON.stringify(following)).toString('base64url') }),
      };
    },
  };
}

/** A Lambda log event is our JSON line, possibly behind the runtime's `time\trequest id\tlevel\t` prefix. */
function parseEvent(message: string, group: string): LogLine | undefined {
  const at = message.indexOf('{');
  if (at < 0) return undefined;
  try {
    return logLine(JSON.parse(message.slice(at)), group);
  } catch {
    return undefined;
  }
}

function decodeCursor(token: string | undefined, groups: number): Cursor | undefined {
  if (groups === 0) return undefined;
  if (token === undefined) return { g: 0 };
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Cursor;
    if (
      Number.isInteger(c.g) &&
      c.g >= 0 &&
      c.g < groups &&
      (c.t === undefined || typeof c.t === 'string') &&
      (c.s === undefined || (Number.isSafeInteger(c.s) && c.s >= 0 && c.s < MAX_SKIP))
    )
      return c;
  } catch {
    // Refused below.
  }
  throw badRequest('next: not a token this query returned');
}
