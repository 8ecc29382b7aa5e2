import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterPattern, filterRequest } from '#query/cloudwatch-logs.ts';
import { localLogSource } from '#query/log-files.ts';
import type { LogLine } from '#query/logs.ts';
import { Monitor } from '#query/monitor.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { context, EXECUTION, RUN, seedRun } from './seed.ts';

/** A line as layers/log writes it (Powertools' shape). */
const line = (second: number, fields: Record<string, unknown>) =>
  `${JSON.stringify({ level: 'INFO', message: `line ${second}`, timestamp: `2025-03-01T10:00:${String(second).padStart(2, '0')}.000Z`, ...fields })}\n`;

describe('log lines from the local log files', () => {
  let dir: string;
  beforeAll(() => {
    dir = testDir('testbed-logs-');
    mkdirSync(join(dir, 'pilots'), { recursive: true });
    // The runner's log: every even second, alternating runs, with noise a JSON reader must skip.
    for (let s = 0; s < 40; s += 2) {
      appendFileSync(
        join(dir, 'runner.log'),
        line(s, { run_id: s % 4 === 0 ? RUN : '100499', service: 'runner' }),
      );
      if (s === 10) appendFileSync(join(dir, 'runner.log'), 'INFO | not a JSON line\n');
    }
    for (let s = 1; s < 40; s += 2)
      appendFileSync(join(dir, 'pilots', `${RUN}-p01.log`), line(s, { run_id: RUN, pilot_id: `${RUN}-p01` }));
    appendFileSync(
      join(dir, 'pilots', `${RUN}-p01.log`),
      line(39, { run_id: RUN, level: 'ERROR', message: 'Slice FAILED' }),
    );
    writeFileSync(join(dir, 'pilots', '100499-p01.log'), line(50, { run_id: '100499' }));
  });

  it('reads newest first across files, merged by time', async () => {
    // Act
    const page = await localLogSource(dir).read({ limit: 5 });
    // Assess
    expect(page.items.map((l) => l.time.slice(17, 19))).toEqual(['50', '39', '39', '38', '37']);
    expect(page.next).toBeDefined();
  });

  it('pages through every line of a run once, in order', async () => {
    // Prepare
    const source = localLogSource(dir);
    const seen: LogLine[] = [];
    let next: string | undefined;
    // Act
    do {
      const page = await source.read({ runId: RUN, limit: 7, next });
      seen.push(...page.items);
      next = page.next;
    } while (next);
    // Assess
    expect(seen).toHaveLength(10 + 20 + 1);
    const times = seen.map((l) => l.time);
    expect([...times].sort().reverse()).toEqual(times);
    expect(seen.every((l) => l.run_id === RUN)).toBe(true);
  });

  it('filters by minimum level and by text, case-insensitive', async () => {
    // Act
    const errors = await localLogSource(dir).read({ runId: RUN, level: 'warn', limit: 10 });
    const text = await localLogSource(dir).read({ text: 'slice failed', limit: 10 });
    // Assess
    expect(errors.items.map((l) => [l.level, l.msg, l.source])).toEqual([
      ['error', 'Slice FAILED', `pilots/${RUN}-p01.log`],
    ]);
    expect(text.items).toHaveLength(1);
  });

  it('stops reading a file at its byte budget and resumes there on the next page', async () => {
    // Prepare
    const source = localLogSource(dir, { maxBytesPerFile: 200 });
    // Act
    const first = await source.read({ runId: RUN, text: 'line 0', limit: 5 });
    let next = first.next;
    const found: LogLine[] = [...first.items];
    for (let i = 0; i < 100 && next; i++) {
      const page = await source.read({ runId: RUN, text: 'line 0', limit: 5, next });
      found.push(...page.items);
      next = page.next;
    }
    // Assess
    expect(first.items).toEqual([]);
    expect(found.map((l) => l.msg)).toEqual(['line 0']);
  });

  it('reads the lines of a stack started before the logs took that shape (time, msg)', async () => {
    // Prepare
    const old = testDir('testbed-old-logs-');
    writeFileSync(
      join(old, 'runner.log'),
      `${JSON.stringify({ time: '2025-03-01T10:00:00.000Z', level: 'warn', msg: 'old line', run_id: RUN })}\n`,
    );
    // Act
    const page = await localLogSource(old).read({ runId: RUN, level: 'warn', limit: 5 });
    // Assess
    expect(page.items).toEqual([
      { time: '2025-03-01T10:00:00.000Z', level: 'warn', msg: 'old line', run_id: RUN, source: 'runner.log' },
    ]);
  });

  describe('through the query layer', () => {
    let dynamo: TestDynamo;
    beforeAll(async () => {
      dynamo = await startTestDynamo('logs-');
      await seedRun(dynamo);
    });
    afterAll(() => dynamo.stop());

    it("gives an execution's lines, those of its run included", async () => {
      // Prepare
      const monitor = new Monitor(context(dynamo, localLogSource(dir)));
      // Act
      const page = await monitor.logs({ execution_id: EXECUTION, limit: 1000 });
      // Assess
      expect(page.items).toHaveLength(31);
    });

    it('refuses an unknown level with a clear message', async () => {
      // Prepare
      const monitor = new Monitor(context(dynamo, localLogSource(dir)));
      // Act
      const refused = monitor.logs({ level: 'loud' });
      // Assess
      await expect(refused).rejects.toThrow(/^level: /);
    });
  });
});

describe('log lines from CloudWatch Logs', () => {
  it('asks FilterLogEvents for the run or execution, the minimum level and the time range', () => {
    // Act
    const request = filterRequest(
      '/aws/lambda/stf-gen',
      {
        runId: RUN,
        executionId: EXECUTION,
        level: 'warn',
        since: '2025-03-01T10:00:00.000000Z',
        until: '2025-03-01T11:00:00.000000Z',
        limit: 50,
      },
      'token-1',
    );
    // Assess
    expect(request).toEqual({
      logGroupName: '/aws/lambda/stf-gen',
      filterPattern: `{ ($.run_id = "${RUN}" || $.execution_id = "${EXECUTION}") && ($.level = "WARN" || $.level = "ERROR") }`,
      startTime: Date.parse('2025-03-01T10:00:00Z'),
      endTime: Date.parse('2025-03-01T11:00:00Z'),
      limit: 50,
      nextToken: 'token-1',
    });
  });

  it('asks for every line when the query has no filter', () => {
    // Assess
    expect(filterPattern({ limit: 10 })).toBeUndefined();
    expect(filterPattern({ limit: 10, level: 'info' })).toBeUndefined();
  });
});
