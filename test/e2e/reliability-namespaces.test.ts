import { readFileSync } from 'node:fs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pilotDaemon } from '#local/pilot-launcher.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { sliceDestination } from '#routes/destinations.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { type CliResult, smallRun } from '../support/cli.ts';
import {
  expectedSliceKeys,
  messagesOf,
  type ReliabilityStack,
  reliabilityStack,
  summaryRunId,
} from './reliability-stack.ts';

const NAMESPACES = ['alice-namespace', 'bob-namespace'] as const;

interface Side {
  readonly namespace: string;
  readonly result: CliResult;
  readonly runId: string;
  readonly records: RunRecords;
  readonly messages: Record<string, unknown>[];
}

// Two users' runs at once on one stack (one broker, one runner, one set of tables): two `testbed run`
// processes started together, each with its own --namespace.
describe('Two runs in two namespaces at once on one local stack', () => {
  let s: ReliabilityStack;
  let db: DynamoDBClient;
  let sides: Side[];

  beforeAll(async () => {
    s = await reliabilityStack('namespaces');
    const up = await s.cli(['up']);
    if (up.code !== 0) throw new Error(up.stderr);
    db = dynamoClient(s.stackEnv);
    const results = await Promise.all(
      NAMESPACES.map((namespace) =>
        s.cli(
          [
            ...smallRun,
            '--namespace',
            namespace,
            // Long enough per slice that both runs' slices are in the queue together, even on a loaded machine.
            '--set',
            'prompt_processing.slice_processing_time=0.3',
          ],
          180_000,
        ),
      ),
    );
    sides = await Promise.all(
      results.map(async (result, i) => {
        const runId = summaryRunId(result.stdout);
        return {
          namespace: NAMESPACES[i] as string,
          result,
          runId,
          records: await readRun(db, tableNames(s.stackEnv), runId),
          messages: await messagesOf(db, s.stackEnv, runId),
        };
      }),
    );
  }, 240_000);

  afterAll(async () => {
    db?.destroy();
    await s?.down();
  });

  it('completes both runs, as two runs', () => {
    // Assess
    for (const side of sides) {
      expect(side.result.code, side.result.stderr).toBe(0);
      expect(side.result.stdout).toContain(`Run ${side.runId} Summary: completed`);
      expect(side.result.stdout).toContain(`(namespace ${side.namespace})`);
      expect(side.result.stdout).toMatch(/Slices: 40 done, 0 failed, of 40/);
    }
    expect(sides[0]?.runId).not.toBe(sides[1]?.runId);
  });

  it('overlapped in time: each run was processing slices while the other was', () => {
    // Prepare
    const span = (side: Side) => {
      const times = side.records.slices.map((x) => String(x.processed_at)).sort();
      return [times[0] as string, times.at(-1) as string] as const;
    };
    const [a, b] = sides.map(span) as [readonly [string, string], readonly [string, string]];
    // Assess
    expect(a[0] < b[1] && b[0] < a[1]).toBe(true);
  });

  it("keeps each run's records to itself: its namespace, its STFs, its slices", () => {
    // Assess
    for (const side of sides) {
      expect(side.records.run).toMatchObject({ namespace: side.namespace, completion: 'completed' });
      expect(side.records.stfs.every((f) => String(f.filename).startsWith(`swf.${side.runId}.`))).toBe(true);
      expect(side.records.slices.map((x) => String(x.slice_key)).sort()).toEqual(
        expectedSliceKeys(side.records.stfs),
      );
    }
  });

  it("processes each run's slices only by that run's own pilots", () => {
    // Assess
    for (const side of sides) {
      const own = side.records.pilots.map((p) => String(p.pilot_id));
      expect(own.sort()).toEqual([`${side.runId}-p01`, `${side.runId}-p02`]);
      expect(side.records.pilots.every((p) => p.state === 'ended')).toBe(true);
      expect(side.records.slices.every((x) => own.includes(String(x.pilot_id)))).toBe(true);
    }
  });

  it("has each pilot read its own run's slice queue, where no other run's slice is", () => {
    // Assess
    for (const side of sides) {
      for (const pilot of side.records.pilots) {
        const log = readFileSync(pilotDaemon(s.stateDir, String(pilot.pilot_id)).logFile, 'utf8');
        const started = log
          .split('\n')
          .filter((l) => l.includes('transformer started'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(started.length).toBeGreaterThan(0);
        expect(new Set(started.map((l) => `${l.destination} ${l.selector}`))).toEqual(
          new Set([`${sliceDestination(side.runId, 'run')} undefined`]),
        );
      }
    }
  });

  it("records under each run only its own namespace's messages", () => {
    // Assess
    for (const side of sides) {
      expect(side.messages.length).toBeGreaterThan(40);
      expect(new Set(side.messages.map((m) => m.namespace))).toEqual(new Set([side.namespace]));
    }
  });
});
