import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTables } from '#local/dynalite.ts';
import { readRun } from '#query/run-report.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { type CliResult, smallRun } from '../support/cli.ts';
import {
  expectedSliceKeys,
  type ReliabilityStack,
  reliabilityStack,
  summaryRunId,
  until,
} from './reliability-stack.ts';

interface Listed {
  id: string;
  handler: string;
  run_id?: string;
  msg_type?: string;
  reason?: string;
  parked_at?: string;
  original_queue: string;
}

// The fault is real: the stfs table the stf_gen handler writes is deleted through the DynamoDB API before
// the run (as if it had not been created, or were unreachable), so the handler fails on every delivery
// with DynamoDB's own ResourceNotFoundException, the broker redelivers each stf_gen 6 times a second apart,
// and the runner parks it on its last failure. Creating the table again removes the fault.
describe('A handler failing on every delivery, on the local stack', () => {
  let s: ReliabilityStack;
  let db: DynamoDBClient;
  let running: Promise<CliResult>;
  let runId: string;

  beforeAll(async () => {
    s = await reliabilityStack('dead-letters');
    const up = await s.cli(['up']);
    if (up.code !== 0) throw new Error(up.stderr);
    db = dynamoClient(s.stackEnv);
    await db.send(new DeleteTableCommand({ TableName: tableNames(s.stackEnv).stfs }));
  }, 120_000);

  afterAll(async () => {
    db?.destroy();
    await s?.down();
  });

  const list = async (...args: string[]): Promise<Listed[]> => {
    const r = await s.cli(['dlq', 'list', '--json', ...args]);
    if (r.code !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as { items: Listed[] }).items;
  };

  it('parks each stf_gen of the run in its dead-letter queue with the error, and testbed dlq list shows them', async () => {
    // Act
    running = s.cli(
      [
        ...smallRun,
        '--drain-timeout',
        '150',
        // The pilots wait for the replay rather than ending idle.
        '--set',
        'prompt_processing.transformer_idle_timeout=300',
      ],
      200_000,
    );
    const parked = await Promise.race([
      until(
        'the 8 stf_gen messages parked',
        async () => {
          const l = await list('--handler', 'stf_gen');
          return l.length >= 8 ? l : undefined;
        },
        90_000,
        1000,
      ).catch((error: Error) => {
        const log = join(s.stateDir, 'logs', 'runner.log');
        throw new Error(`${error.message}; the runner's log ends: ${readFileSync(log, 'utf8').slice(-4000)}`);
      }),
      // The run waits for the replay: a run that ends first has failed, and says why.
      running.then((r) => {
        throw new Error(`testbed run ended before the replay (${r.code}): ${r.stdout}${r.stderr}`);
      }),
    ]);
    runId = parked[0]?.run_id ?? '';
    const shown = await s.cli(['dlq', 'list', '--run', runId]);
    // Assess
    expect(parked).toHaveLength(8);
    for (const l of parked) {
      expect(l).toMatchObject({
        handler: 'stf_gen',
        msg_type: 'stf_gen',
        run_id: runId,
        original_queue: 'swf.handler.stf_gen',
      });
      expect(l.reason).toMatch(/^stf_gen handler failed 7 times, last: ResourceNotFoundException: /);
    }
    expect(shown.stdout).toMatch(new RegExp(`stf_gen +${runId} +ID:\\S+ +stf_gen handler failed 7 times`));
    expect(shown.stdout).toContain('8 parked message(s)');
  }, 150_000);

  it('completes the run once the table is back and testbed dlq replay has put the messages back', async () => {
    // Prepare
    await createTables(db, s.stackEnv);
    // Act
    const replay = await s.cli(['dlq', 'replay', '--run', runId]);
    const result = await running;
    const left = await list('--run', runId);
    const records = await readRun(db, tableNames(s.stackEnv), runId);
    // Assess
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('8 message(s) replayed');
    expect(result.code, result.stderr).toBe(0);
    expect(summaryRunId(result.stdout)).toBe(runId);
    expect(result.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(result.stdout).toMatch(/Slices: 40 done, 0 failed, of 40/);
    expect(left).toEqual([]);
    expect(records.stfs.map((f) => Number(f.sequence)).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(records.slices.map((x) => String(x.slice_key)).sort()).toEqual(expectedSliceKeys(records.stfs));
  }, 200_000);
});
