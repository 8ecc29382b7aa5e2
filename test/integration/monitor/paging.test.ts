import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMIT, type Page, QueryError, queryPage } from '#query/bounds.ts';
import { Monitor } from '#query/monitor.ts';
import { tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { context } from './seed.ts';

// Paging as every face sees it: walking all pages, with any limit, gives every item once, in the order
// promised, each page full but the last, no empty last page and no `next` on it.

let dynamo: TestDynamo;
let monitor: Monitor;
beforeAll(async () => {
  dynamo = await startTestDynamo('paging-');
  monitor = new Monitor(context(dynamo));
});
afterAll(() => dynamo.stop());

async function put(table: TableName, items: Record<string, unknown>[]): Promise<void> {
  const name = tableNames(dynamo.env)[table];
  for (let i = 0; i < items.length; i += 25)
    await documents(dynamo.client).send(
      new BatchWriteCommand({
        RequestItems: { [name]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
}

/** Every page of a list, following `next` (a runaway walk fails instead of looping). */
async function walk<T>(list: (next?: string) => Promise<Page<T>>): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let next: string | undefined;
  do {
    const page = await list(next);
    pages.push(page);
    next = page.next;
  } while (next !== undefined && pages.length < 1000);
  return pages;
}

/** Asserts what a walk with `limit` promises: the expected items in order, full pages, a last page that ends it. */
function expectPaged<T>(pages: Page<T>[], limit: number, expected: T[]): void {
  expect(pages.flatMap((p) => p.items)).toEqual(expected);
  const last = pages[pages.length - 1] as Page<T>;
  expect(last.next).toBeUndefined();
  for (const page of pages.slice(0, -1)) expect(page.items).toHaveLength(limit);
  // An empty page only when there is nothing at all.
  if (expected.length > 0) expect(last.items.length).toBeGreaterThan(0);
  expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / limit)));
}

/** Every limit from 1 to n + 2: below, at and above the item count. */
const limitsFor = (n: number) => Array.from({ length: n + 2 }, (_, i) => i + 1);

/** Canonical timestamps a few seconds apart; few of them, so that runs share a time and the run number decides. */
const at = (s: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, s)).toISOString().replace('Z', '000Z');

let nextRun = 200_000;

describe('Query: runs and executions', () => {
  const runsArb = fc.array(
    // A run without created_at (none recorded yet) comes last.
    fc.record({ second: fc.option(fc.nat({ max: 4 })), execution: fc.boolean(), completed: fc.boolean() }),
    { maxLength: 10 },
  );

  it('walks every run and every execution once, newest first, with any limit', async () => {
    await fc.assert(
      fc.asyncProperty(runsArb, async (generated) => {
        // Prepare: the runs of a namespace of their own, so each case lists only what it seeded
        const namespace = `paging-${nextRun}`;
        const runs = generated.map((g) => ({
          run_id: String(nextRun++),
          namespace,
          ...(g.second !== null && { created_at: at(g.second) }),
          ...(g.execution && { execution_id: `prompt_processing-${namespace}-${nextRun}` }),
          ...(g.completed && { phase: 'ended', completion: 'completed' }),
        }));
        await put('runs', runs);
        const time = (r: { created_at?: string }) => r.created_at ?? '';
        const newestFirst = [...runs].sort((a, b) =>
          time(a) === time(b) ? Number(b.run_id) - Number(a.run_id) : time(a) < time(b) ? 1 : -1,
        );
        for (const limit of limitsFor(runs.length)) {
          // Act
          const runPages = await walk((next) => monitor.runs({ namespace, limit, next }));
          const executionPages = await walk((next) => monitor.executions({ namespace, limit, next }));
          const completedPages = await walk((next) =>
            monitor.runs({ namespace, status: 'completed', limit, next }),
          );
          // Assess
          const ids = (pages: Page<{ run_id: string }>[]) =>
            pages.map((p) => ({ ...p, items: p.items.map((r) => r.run_id) }));
          expectPaged(
            ids(runPages),
            limit,
            newestFirst.map((r) => r.run_id),
          );
          expectPaged(
            ids(executionPages),
            limit,
            newestFirst.filter((r) => r.execution_id !== undefined).map((r) => r.run_id),
          );
          expectPaged(
            ids(completedPages),
            limit,
            newestFirst.filter((r) => r.completion === 'completed').map((r) => r.run_id),
          );
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('gives the newest run first with limit 1, and the one after it on the next page', async () => {
    // Prepare
    const namespace = 'paging-newest';
    await put('runs', [
      { run_id: '300001', namespace, created_at: at(1), execution_id: 'prompt_processing-n-0001' },
      { run_id: '300002', namespace, created_at: at(2), execution_id: 'prompt_processing-n-0002' },
      { run_id: '300003', namespace, created_at: at(3), execution_id: 'prompt_processing-n-0003' },
    ]);
    // Act
    const first = await monitor.executions({ namespace, limit: 1 });
    const second = await monitor.executions({ namespace, limit: 1, next: first.next });
    // Assess
    expect(first.items.map((r) => r.run_id)).toEqual(['300003']);
    expect(second.items.map((r) => r.run_id)).toEqual(['300002']);
    expect(second.next).toBeDefined();
  });

  it("refuses a token of another list's query", async () => {
    // Prepare
    const runId = String(nextRun++);
    await put('runs', [{ run_id: runId, created_at: at(0) }]);
    await put('slices', slicesOf(runId, [0, 0]));
    const slices = await monitor.slices({ run_id: runId, limit: 1 });
    // Act
    const refused = await monitor.runs({ limit: 1, next: slices.next }).catch((e: unknown) => e);
    // Assess
    expect(refused).toBeInstanceOf(QueryError);
    expect((refused as QueryError).message).toBe('next: not a token this query returned');
  });

  it('says only that an unknown run is not found, the faces adding their own hint', async () => {
    // Act
    const refused = await monitor.run({ run_id: '999999' }).catch((e: unknown) => e);
    // Assess
    expect(refused).toBeInstanceOf(QueryError);
    expect((refused as QueryError).message).toBe('run 999999 not found');
    expect((refused as QueryError).status).toBe(404);
  });
});

/** A slice result per entry: its STF file's number and whether it failed (`1`) or is done (`0`). */
function slicesOf(runId: string, files: number[], failed: boolean[] = []): Record<string, unknown>[] {
  const perFile = new Map<number, number>();
  return files.map((file, i) => {
    const id = perFile.get(file) ?? 0;
    perFile.set(file, id + 1);
    const filename = `swf.${runId}.${String(file).padStart(6, '0')}.stf`;
    return {
      run_id: runId,
      slice_key: `${filename}#${String(id).padStart(4, '0')}`,
      filename,
      slice_id: id,
      state: failed[i] ? 'failed' : 'done',
    };
  });
}

describe('Query: slices and messages (DynamoDB Query pages)', () => {
  it('walks every slice once, by STF file and slice id, with any limit, with and without a filter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 3 }), fc.boolean()), { maxLength: 10 }),
        async (generated) => {
          // Prepare
          const runId = String(nextRun++);
          await put('runs', [{ run_id: runId, created_at: at(0) }]);
          const slices = slicesOf(
            runId,
            generated.map(([file]) => file),
            generated.map(([, failed]) => failed),
          );
          await put('slices', slices);
          const byKey = slices.map((s) => String(s.slice_key)).sort();
          const failedKeys = slices
            .filter((s) => s.state === 'failed')
            .map((s) => String(s.slice_key))
            .sort();
          for (const limit of limitsFor(slices.length)) {
            // Act
            const all = await walk((next) => monitor.slices({ run_id: runId, limit, next }));
            const failed = await walk((next) =>
              monitor.slices({ run_id: runId, status: 'failed', limit, next }),
            );
            // A filter on what DynamoDB cannot filter (a computed field, as a pilot's lost state).
            const even = await walk((next) =>
              queryPage(
                documents(dynamo.client),
                {
                  TableName: tableNames(dynamo.env).slices,
                  KeyConditionExpression: 'run_id = :run',
                  ExpressionAttributeValues: { ':run': runId },
                },
                {
                  limit,
                  next,
                  keys: ['run_id', 'slice_key'],
                  partition: ['run_id', runId],
                  keep: (s) => Number(s.slice_id) % 2 === 0,
                },
              ),
            );
            // Assess
            const keys = (pages: Page<{ filename: string; slice_id: number }>[]) =>
              pages.map((p) => ({
                ...p,
                items: p.items.map((s) => `${s.filename}#${String(s.slice_id).padStart(4, '0')}`),
              }));
            expectPaged(keys(all), limit, byKey);
            expectPaged(keys(failed), limit, failedKeys);
            expectPaged(
              even.map((p) => ({ ...p, items: p.items.map((s) => String(s.slice_key)) })),
              limit,
              byKey.filter((k) => Number(k.slice(-4)) % 2 === 0),
            );
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('walks every message once, newest first by default and oldest first when asked, with any limit', async () => {
    const types = ['stf_gen', 'stf_ready', 'slice_result'];
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.nat({ max: 50 }), { maxLength: 10 }),
        fc.array(fc.nat({ max: types.length - 1 }), { minLength: 10, maxLength: 10 }),
        async (seconds, typeOf) => {
          // Prepare
          const runId = String(nextRun++);
          await put('runs', [{ run_id: runId, created_at: at(0) }]);
          const messages = seconds.map((s, i) => {
            const type = types[typeOf[i] as number] as string;
            return { run_id: runId, msg_key: `${at(s)}#${type}#${i}`, msg_type: type, created_at: at(s) };
          });
          await put('messages', messages);
          const oldestFirst = [...messages].sort((a, b) => a.msg_key.localeCompare(b.msg_key));
          const newestFirst = [...oldestFirst].reverse();
          for (const limit of limitsFor(messages.length)) {
            // Act
            const desc = await walk((next) => monitor.messages({ run_id: runId, limit, next }));
            const asc = await walk((next) => monitor.messages({ run_id: runId, order: 'asc', limit, next }));
            const gens = await walk((next) =>
              monitor.messages({ run_id: runId, msg_type: 'stf_gen', limit, next }),
            );
            // Assess
            const times = (pages: Page<{ created_at: string; msg_type: string }>[]) =>
              pages.map((p) => ({ ...p, items: p.items.map((m) => `${m.created_at} ${m.msg_type}`) }));
            const expected = (list: typeof messages) => list.map((m) => `${m.created_at} ${m.msg_type}`);
            expectPaged(times(desc), limit, expected(newestFirst));
            expectPaged(times(asc), limit, expected(oldestFirst));
            expectPaged(times(gens), limit, expected(newestFirst.filter((m) => m.msg_type === 'stf_gen')));
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it.each([
    [DEFAULT_LIMIT, 1],
    [DEFAULT_LIMIT + 1, 2],
  ])(
    'pages %i slices at the default limit in %i page(s), the last without a next token',
    async (count, pageCount) => {
      // Prepare: one STF file of `count` slices
      const runId = String(nextRun++);
      await put('runs', [{ run_id: runId, created_at: at(0) }]);
      await put('slices', slicesOf(runId, Array(count).fill(1)));
      // Act
      const pages = await walk((next) => monitor.slices({ run_id: runId, next }));
      // Assess
      expect(pages).toHaveLength(pageCount);
      expect(pages[0]?.items).toHaveLength(DEFAULT_LIMIT);
      expect(pages[pages.length - 1]?.next).toBeUndefined();
      expect(pages.flatMap((p) => p.items)).toHaveLength(count);
    },
  );
});
