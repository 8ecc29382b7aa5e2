import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import type { PilotRecord } from '#domain/pilot-records.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import {
  type CliProcess,
  eventually,
  isRunning,
  logRecords,
  pilotPids,
  type Seen,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
  watchResults,
} from '../support/local-stack.ts';

const stfs = 60;
const slicesPerStf = 5;
const expectedSlices = stfs * slicesPerStf;

describe('A run whose transformers are each killed once, mid-slice', () => {
  let s: TestStack;
  let cli: CliProcess;
  let watch: { broker: BrokerPort; seen: Seen[] };
  let exit: { code: number; stdout: string; stderr: string };
  let records: RunRecords;
  let runId: string;
  const kills: { pilotId: string; pid: number; at: number; replacedRunningAt?: number }[] = [];

  const pilotRecord = async (pilotId: string): Promise<PilotRecord | undefined> => {
    const { Items } = await documents(dynamoClient(s.stackEnv)).send(
      new QueryCommand({
        TableName: tableNames(s.stackEnv).pilots,
        KeyConditionExpression: 'run_id = :r AND pilot_id = :p',
        ExpressionAttributeValues: { ':r': runId, ':p': pilotId },
        ConsistentRead: true,
      }),
    );
    return Items?.[0] as PilotRecord | undefined;
  };
  const resultsOf = (pilotId: string) =>
    watch.seen.filter((m) => m.msg.msg_type === 'slice_result' && m.msg.content?.pilot_id === pilotId);

  beforeAll(async () => {
    s = await testStack('testbed-chaos-kill-');
    // Prepare: slices of ~200 ms, heartbeats every second, two pilots.
    cli = spawnTestbed(
      [
        'run',
        'prompt_processing',
        '--no-realtime',
        '--stf-count',
        String(stfs),
        '--physics-period-count',
        '1',
        '--workers',
        '2',
        '--set',
        `prompt_processing.slices_per_stf=${slicesPerStf}`,
        '--set',
        'prompt_processing.slice_processing_time=0.2',
        '--set',
        'prompt_processing.heartbeat_interval=1',
        '--drain-timeout',
        '180',
      ],
      s.env,
    );
    watch = await watchResults(s);

    // Act: each pilot, once it works, is killed some 80 ms after a result of its own, holding its next slice.
    for (const slot of [1, 2]) {
      const pilotId = await eventually(
        `pilot p0${slot} working`,
        () => {
          const ids = new Set(
            watch.seen
              .filter((m) => m.msg.msg_type === 'slice_result')
              .map((m) => String(m.msg.content?.pilot_id)),
          );
          return [...ids].find((id) => id.endsWith(`-p0${slot}`) && resultsOf(id).length >= 3);
        },
        90_000,
      );
      runId = pilotId.replace(/-p\d+$/, '');
      const before = resultsOf(pilotId).length;
      await eventually(`a fresh result of ${pilotId}`, () => resultsOf(pilotId).length > before, 10_000, 5);
      await new Promise((r) => setTimeout(r, 80));
      const pid = pilotPids(s.stack.stateDir).get(pilotId);
      if (pid === undefined) throw new Error(`no pid file for ${pilotId}`);
      process.kill(pid, 'SIGKILL');
      const kill: (typeof kills)[number] = { pilotId, pid, at: Date.now() };
      kills.push(kill);
      await eventually(
        `${pilotId} replaced and running`,
        async () => {
          const p = await pilotRecord(pilotId);
          return p?.attempts === 2 && p.state === 'running';
        },
        60_000,
        50,
      );
      kill.replacedRunningAt = Date.now();
    }
    exit = await cli.done;
    records = await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId);
  }, 300_000);

  afterAll(async () => {
    if (cli && isRunning(cli.child)) cli.child.kill('SIGKILL');
    await watch?.broker.close();
    await stopTestStack(s);
  });

  it('completes, with every slice done', () => {
    // Assess
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(exit.stdout).toContain(`Slices: ${expectedSlices} done, 0 failed, of ${expectedSlices}`);
  });

  it('records exactly one result for every slice the STFs were cut into', () => {
    // Prepare
    const expected = records.stfs.flatMap((f) =>
      Array.from({ length: Number(f.slice_count) }, (_, i) => `${f.filename}#${String(i).padStart(4, '0')}`),
    );
    // Act
    const recorded = records.slices.map((x) => String(x.slice_key));
    // Assess
    expect(records.stfs).toHaveLength(stfs);
    expect(expected).toHaveLength(expectedSlices);
    expect(recorded.sort()).toEqual(expected.sort());
    expect(records.slices.filter((x) => x.state !== 'done')).toEqual([]);
  });

  it('hands the slice each killed pilot held to another transformer', () => {
    // Prepare
    const results = watch.seen.filter((m) => m.msg.msg_type === 'slice_result');
    // Act
    const redelivered = results.filter((m) => m.msg.content?.redelivered === true);
    const keys = new Set(results.map((m) => `${m.msg.content?.filename}#${m.msg.content?.slice_id}`));
    // Assess
    console.log(
      `pilot-killed: ${results.length} slice_result messages seen for ${keys.size} slices, ` +
        `${redelivered.length} of them for redelivered slices (${redelivered.map((m) => `${m.msg.content?.filename}#${m.msg.content?.slice_id} by ${m.msg.content?.pilot_id}`).join(', ')})`,
    );
    expect(redelivered.length).toBeGreaterThanOrEqual(kills.length);
    for (const kill of kills) {
      const after = redelivered.filter((m) => m.at > kill.at);
      expect(after.length, `a redelivered slice after ${kill.pilotId} was killed`).toBeGreaterThan(0);
    }
  });

  it('marks each killed pilot lost and replaces it in its slot as attempt 2, which ends with the run', () => {
    // Prepare
    const log = logRecords(join(s.stack.stateDir, 'logs', 'runner.log'));
    const at = (r: Record<string, unknown>) => Date.parse(String(r.timestamp));
    // Act
    const rows = kills.map((k) => {
      const lost = log.find((r) => r.message === 'pilot lost' && r.pilot_id === k.pilotId);
      const started = log.find(
        (r) => r.message === 'pilot started' && r.pilot_id === k.pilotId && r.attempt === 2,
      );
      return {
        pilot: k.pilotId,
        'killed (pid)': k.pid,
        'lost after (s)': lost ? (at(lost) - k.at) / 1000 : undefined,
        why: lost?.why,
        'attempt 2 started after (s)': started ? (at(started) - k.at) / 1000 : undefined,
        'attempt 2 running after (s)': ((k.replacedRunningAt ?? Number.NaN) - k.at) / 1000,
      };
    });
    console.table(rows);
    // Assess
    expect(kills.map((k) => k.pilotId).sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    for (const row of rows) expect(row).toMatchObject({ why: 'gone' });
    expect(rows.every((r) => typeof r['attempt 2 started after (s)'] === 'number')).toBe(true);
    const pilots = records.pilots.map((p) => ({ id: p.pilot_id, attempts: p.attempts, state: p.state }));
    expect(pilots.sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual([
      { id: `${runId}-p01`, attempts: 2, state: 'ended' },
      { id: `${runId}-p02`, attempts: 2, state: 'ended' },
    ]);
  });
});
