import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Page } from '#query/bounds.ts';
import { cloudWatchLogSource } from '#query/cloudwatch-logs.ts';
import { localLogSource } from '#query/log-files.ts';
import type { LogLine } from '#query/logs.ts';
import { testDir } from '../../support/temp.ts';

const RUN = '100700';
const time = (s: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, 0) + s * 1000).toISOString();

/** Every page of a read, following `next` (a runaway walk fails instead of looping). */
async function walk(read: (next?: string) => Promise<Page<LogLine>>): Promise<Page<LogLine>[]> {
  const pages: Page<LogLine>[] = [];
  let next: string | undefined;
  do {
    const page = await read(next);
    pages.push(page);
    next = page.next;
  } while (next !== undefined && pages.length < 1000);
  return pages;
}

describe('Function: localLogSource', () => {
  it('walks every line of a run once, newest first across files, full pages and no next on the last', async () => {
    await fc.assert(
      fc.asyncProperty(
        // A line per distinct second: which file it is in (runner, pilot 1, pilot 2) and whether it is the run's.
        fc.uniqueArray(fc.tuple(fc.nat({ max: 300 }), fc.nat({ max: 2 }), fc.boolean()), {
          maxLength: 10,
          selector: ([s]) => s,
        }),
        async (lines) => {
          // Prepare: each file in time order, as the stack appends them
          const dir = testDir('testbed-log-paging-');
          mkdirSync(join(dir, 'pilots'));
          const files = ['runner.log', `pilots/${RUN}-p01.log`, `pilots/${RUN}-p02.log`];
          const sorted = [...lines].sort(([a], [b]) => a - b);
          for (const [i, file] of files.entries())
            writeFileSync(
              join(dir, file),
              sorted
                .filter(([, f]) => f === i)
                .map(([s, f, ofRun]) =>
                  JSON.stringify({
                    level: 'INFO',
                    message: `line ${s}`,
                    timestamp: time(s),
                    run_id: ofRun || f > 0 ? RUN : '1',
                  }),
                )
                .map((l) => `${l}\n`)
                .join(''),
            );
          // A pilot's log holds only its run's lines; the runner's, any run's.
          const expected = sorted
            .filter(([, f, ofRun]) => ofRun || f > 0)
            .map(([s]) => time(s))
            .reverse();
          const source = localLogSource(dir);
          for (let limit = 1; limit <= expected.length + 2; limit++) {
            // Act
            const pages = await walk((next) => source.read({ runId: RUN, limit, next }));
            // Assess
            expect(pages.flatMap((p) => p.items.map((l) => l.time))).toEqual(expected);
            expect(pages[pages.length - 1]?.next).toBeUndefined();
            for (const page of pages.slice(0, -1)) expect(page.items).toHaveLength(limit);
            expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / limit)));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

/**
 * FilterLogEvents as CloudWatch pages it (no CloudWatch runs here): at most `answer` events a call, the
 * token an offset, and a token even after the last event, as CloudWatch may give. `answer` is 2 or more:
 * a page makes at most 10 calls, and 10 lines in 3 groups must fit in them.
 */
function cloudWatch(groups: Record<string, string[]>, answer: number): CloudWatchLogsClient {
  return {
    send: async (command: FilterLogEventsCommand) => {
      const { logGroupName, limit = 10_000, nextToken } = command.input;
      const events = groups[logGroupName as string] ?? [];
      const from = Number(nextToken ?? 0);
      const taken = events.slice(from, from + Math.min(limit, answer));
      return {
        events: taken.map((message) => ({ message })),
        ...(taken.length > 0 && { nextToken: String(from + taken.length) }),
      };
    },
  } as unknown as CloudWatchLogsClient;
}

describe('Function: cloudWatchLogSource', () => {
  it('walks every matching line once, group by group, full pages and no next on the last', async () => {
    const groups = ['/aws/lambda/stf-gen', '/aws/lambda/slice-result', '/testbed/pilots'];
    await fc.assert(
      fc.asyncProperty(
        // A line per second: its group and level; a warn query drops the info lines after the fetch.
        fc.array(fc.tuple(fc.nat({ max: 2 }), fc.constantFrom('INFO', 'WARN', 'ERROR')), { maxLength: 10 }),
        fc.integer({ min: 2, max: 4 }),
        fc.boolean(),
        async (lines, answer, warn) => {
          // Prepare
          const byGroup: Record<string, string[]> = Object.fromEntries(groups.map((g) => [g, []]));
          for (const [s, [g, level]] of lines.entries())
            byGroup[groups[g] as string]?.push(
              `${time(s)}\treq-1\tINFO\t${JSON.stringify({ level, message: `line ${s}`, timestamp: time(s) })}`,
            );
          const level = warn ? ('warn' as const) : undefined;
          const expected = groups.flatMap((g) =>
            lines
              .map(([gi, l], s) => ({ g: groups[gi], l, s }))
              .filter((x) => x.g === g && (!warn || x.l !== 'INFO'))
              .map((x) => time(x.s)),
          );
          const source = cloudWatchLogSource({ logGroups: groups, client: cloudWatch(byGroup, answer) });
          for (let limit = 1; limit <= expected.length + 2; limit++) {
            // Act
            const pages = await walk((next) => source.read({ limit, next, ...(level && { level }) }));
            // Assess
            expect(pages.flatMap((p) => p.items.map((l) => l.time))).toEqual(expected);
            expect(pages[pages.length - 1]?.next).toBeUndefined();
            for (const page of pages.slice(0, -1)) expect(page.items).toHaveLength(limit);
            expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / limit)));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
