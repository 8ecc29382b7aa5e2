import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import { type DeadLetter, listDeadLetters } from '#local/dead-letters.ts';
import { isAlive, readPid } from '#local/processes.ts';
import { apiDaemon, runnerDaemon } from '#local/stack-parts.ts';
import { projectRoot } from '#local/state.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { destinations } from '#routes/destinations.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { type CliResult, smallRun } from '../support/cli.ts';
import {
  expectedSliceKeys,
  messagesOf,
  type ReliabilityStack,
  reliabilityStack,
  until,
} from './reliability-stack.ts';

/** One case of test/fixtures/bad-input/cases.json (its `about` says what the fields mean). */
interface Case {
  readonly name: string;
  readonly about: string;
  readonly destination: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly json?: unknown;
  readonly repeat?: [string, number][];
  readonly pad?: { field: string; bytes: number };
  readonly refused?: { dlq: string; reason: string };
  readonly handled?: {
    record?: { table: TableName; key: Record<string, string>; has: Record<string, unknown> };
    left_on?: string;
  };
}

const corpus = JSON.parse(
  readFileSync(join(projectRoot, 'test', 'fixtures', 'bad-input', 'cases.json'), 'utf8'),
) as { cases: Case[] };
const refusedCases = corpus.cases.filter((c) => c.refused);
const handledCases = corpus.cases.filter((c) => c.handled);

const GOOD_NAMESPACE = 'good-namespace';

/** The case's body and headers as sent, with the good run's number and the time filled in. */
function materialise(c: Case, goodRun: string): { body: string; headers: Record<string, string> } {
  const fill = (text: string) =>
    text.replaceAll('{{good_run}}', goodRun).replaceAll('{{now}}', nowTimestamp());
  let body: string;
  if (c.body !== undefined) body = fill(c.body);
  else if (c.repeat) body = c.repeat.map(([text, times]) => text.repeat(times)).join('');
  else {
    const value = JSON.parse(fill(JSON.stringify(c.json))) as Record<string, unknown>;
    if (c.pad) {
      const bare = Buffer.byteLength(JSON.stringify({ ...value, [c.pad.field]: '' }));
      value[c.pad.field] = 'x'.repeat(c.pad.bytes - bare);
    }
    body = JSON.stringify(value);
  }
  const headers = JSON.parse(fill(JSON.stringify(c.headers))) as Record<string, string>;
  return { body, headers: { ...headers, corpus_case: c.name } };
}

/**
 * The parked message of a case: by the corpus_case header it was sent with, or (a domain refusal parks the
 * message as parsed, with fresh headers) by the run number only that case uses.
 */
function parkedFor(c: Case, letters: readonly DeadLetter[]): DeadLetter | undefined {
  return (
    letters.find((l) => l.headers.corpus_case === c.name) ??
    letters.find(
      (l) =>
        l.headers.corpus_case === undefined &&
        c.headers.run_id !== undefined &&
        l.run_id === c.headers.run_id &&
        refusedCases.filter((o) => o.headers.run_id === c.headers.run_id).length === 1,
    )
  );
}

// The bad input goes in while a good run is being processed on the same stack: each case must be refused
// with its reason (or handled under its own run and namespace), and the good run must end as if alone.
describe('A corpus of bad input sent during a good run on the local stack', () => {
  let s: ReliabilityStack;
  let db: DynamoDBClient;
  let broker: BrokerPort;
  let goodRun: string;
  let result: CliResult;
  let records: RunRecords;
  let letters: DeadLetter[];
  let runnerPid: number | undefined;
  let lastSentAt: string;

  beforeAll(async () => {
    s = await reliabilityStack('bad-input');
    const up = await s.cli(['up']);
    if (up.code !== 0) throw new Error(up.stderr);
    runnerPid = readPid(runnerDaemon(s.stateDir));
    db = dynamoClient(s.stackEnv);
    broker = await s.connect('corpus');
    let seen: ((runId: string) => void) | undefined;
    const imminent = new Promise<string>((resolve) => {
      seen = resolve;
    });
    await broker.subscribe(destinations.epic, { ack: 'auto', selector: "msg_type = 'run_imminent'" }, (m) => {
      if (m.headers.namespace === GOOD_NAMESPACE) seen?.(m.headers.run_id as string);
    }).ready;

    const running = s.cli(
      [
        ...smallRun,
        '--namespace',
        GOOD_NAMESPACE,
        // Slow enough that the whole corpus goes by while slices are being processed.
        '--set',
        'prompt_processing.slice_processing_time=0.2',
      ],
      180_000,
    );
    goodRun = await imminent;
    for (const c of corpus.cases) {
      const { body, headers } = materialise(c, goodRun);
      await broker.publish(c.destination, body, headers);
    }
    lastSentAt = nowTimestamp();
    result = await running;
    records = await readRun(db, tableNames(s.stackEnv), goodRun);
    letters = await until(
      'every refused case parked',
      async () => {
        const found = await listDeadLetters(broker);
        return refusedCases.every((c) => parkedFor(c, found)) ? found : undefined;
      },
      60_000,
      1000,
    ).catch(() => listDeadLetters(broker));
  }, 300_000);

  afterAll(async () => {
    db?.destroy();
    await s?.down();
  });

  it('holds at least 30 cases, each named once', () => {
    // Assess
    expect(corpus.cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(corpus.cases.map((c) => c.name)).size).toBe(corpus.cases.length);
    expect(corpus.cases.every((c) => (c.refused === undefined) !== (c.handled === undefined))).toBe(true);
  });

  it.each(refusedCases.map((c) => [c.name, c] as const))('refuses %s with its reason', (_, c) => {
    // Act
    const letter = parkedFor(c, letters);
    // Assess
    expect(letter, `${c.name} (${c.about}) is not in any dead-letter queue`).toBeDefined();
    expect(letter?.queue).toBe(c.refused?.dlq);
    expect(letter?.handler).toBe(c.refused?.dlq.replace(/^DLQ\.swf\.handler\./, ''));
    expect(letter?.reason).toMatch(new RegExp(c.refused?.reason as string));
  });

  it.each(handledCases.map((c) => [c.name, c] as const))('handles %s as the corpus says', async (_, c) => {
    // Prepare
    const expected = c.handled ?? {};
    const fill = <T>(v: T): T => JSON.parse(JSON.stringify(v).replaceAll('{{good_run}}', goodRun));
    // Act
    const item = expected.record
      ? (
          await documents(db).send(
            new GetCommand({
              TableName: tableNames(s.stackEnv)[expected.record.table],
              Key: fill(expected.record.key),
              ConsistentRead: true,
            }),
          )
        ).Item
      : undefined;
    const left = expected.left_on
      ? (await browseQueue(broker, expected.left_on)).filter((h) => h.corpus_case === c.name)
      : [];
    // Assess
    expect(parkedFor(c, letters)).toBeUndefined();
    if (expected.record) expect(item).toMatchObject(fill(expected.record.has));
    if (expected.left_on) expect(left).toHaveLength(1);
  });

  it('completes the good run as if it had been alone', () => {
    // Prepare
    const pilots = [`${goodRun}-p01`, `${goodRun}-p02`];
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Run ${goodRun} Summary: completed`);
    expect(result.stdout).toMatch(/Slices: 40 done, 0 failed, of 40/);
    expect(records.run).toMatchObject({
      namespace: GOOD_NAMESPACE,
      completion: 'completed',
      total_stf_files: 8,
    });
    // The corpus went by while the run was being processed, not after it.
    expect(String(records.run?.completed_at) > lastSentAt).toBe(true);
    expect(records.stfs.map((f) => Number(f.sequence)).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(records.slices.map((x) => String(x.slice_key)).sort()).toEqual(expectedSliceKeys(records.stfs));
    expect(records.slices.every((x) => pilots.includes(String(x.pilot_id)))).toBe(true);
    expect(records.pilots.map((p) => [p.pilot_id, p.state])).toEqual(pilots.map((p) => [p, 'ended']));
  });

  it("records only the good namespace's messages under the good run", async () => {
    // Act
    const messages = await messagesOf(db, s.stackEnv, goodRun);
    // Assess
    expect(messages.length).toBeGreaterThan(40);
    expect(new Set(messages.map((m) => m.namespace ?? GOOD_NAMESPACE))).toEqual(new Set([GOOD_NAMESPACE]));
    expect(messages.filter((m) => m.refused !== undefined)).toEqual([]);
  });

  it('crashes nothing: the same runner and API serve on, and no handler failed', async () => {
    // Prepare
    const runnerLog = readFileSync(runnerDaemon(s.stateDir).logFile, 'utf8');
    // Act
    const status = await s.cli(['status', '--json']);
    // Assess
    expect(runnerPid).toBeDefined();
    expect(readPid(runnerDaemon(s.stateDir))).toBe(runnerPid);
    expect(isAlive(runnerPid as number)).toBe(true);
    expect(readPid(apiDaemon(s.stateDir))).toBeDefined();
    expect(status.code, status.stdout).toBe(0);
    expect(runnerLog).not.toContain('handler failed');
  });
});

/** The headers of the messages on a queue now, left where they are. */
async function browseQueue(broker: BrokerPort, queue: string): Promise<Record<string, string>[]> {
  const found: Record<string, string>[] = [];
  let end!: () => void;
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  const sub = broker.subscribe(`/queue/${queue}`, { ack: 'auto', browse: true }, (m) => {
    if (m.headers.browser === 'end') end();
    else found.push({ ...m.headers });
  });
  await ended;
  await sub.unsubscribe();
  return found;
}
