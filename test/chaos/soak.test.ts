import { readFileSync } from 'node:fs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import {
  type CliProcess,
  eventually,
  isRunning,
  onlyRun,
  pilotPids,
  rssMb,
  runnerPid,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

const stfs = 400;
const slicesPerStf = 50;
const pilots = 4;
/** Flat memory: no process ends this much above where it started, nor above `ceilingMb`. */
const growthLimitMb = 150;
const ceilingMb = 400;
/** The longest the run may go without completing another STF before it counts as stalled. */
const stallLimitS = 60;

interface Memory {
  readonly name: string;
  readonly pid: number;
  startMb: number;
  endMb: number;
  /** VmHWM: the most the process ever held resident. */
  peakMb: number;
}

/** Peak resident memory (VmHWM) in MB. */
const peakMb = (pid: number): number =>
  Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

// Minutes long, and its memory figures want the machine to itself: `npm run test:chaos` runs it, `npm test` leaves it out.
describe(`Soak: ${stfs * slicesPerStf} slices through the local stack with ${pilots} pilots`, () => {
  let s: TestStack;
  let cli: CliProcess;
  let exit: { code: number; stdout: string; stderr: string };
  let records: RunRecords;
  let runId: string;
  const memory = new Map<number, Memory>();
  const progress = { longestStillS: 0, samples: 0 };
  let durationS = 0;

  /** One sample of every process's RSS: the first is its start, the latest its end. */
  const sample = (name: string, pid: number) => {
    try {
      const rss = rssMb(pid);
      const peak = peakMb(pid);
      const m = memory.get(pid);
      if (m) Object.assign(m, { endMb: rss, peakMb: peak });
      else memory.set(pid, { name, pid, startMb: rss, endMb: rss, peakMb: peak });
    } catch {
      // exited between the listing and the read: its last sample stands
    }
  };

  beforeAll(async () => {
    s = await testStack('testbed-chaos-soak-');
    const dir = s.stack.stateDir;
    const started = Date.now();
    // Prepare: as fast as it goes, no processing time.
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
        String(pilots),
        '--set',
        `prompt_processing.slices_per_stf=${slicesPerStf}`,
        '--set',
        'prompt_processing.slice_processing_time=0',
        '--drain-timeout',
        '600',
      ],
      s.env,
    );
    // Start: once every pilot has announced itself (its transformer_start is recorded), loaded and connected.
    runId = String(
      (await eventually('the run opened', async () => (await onlyRun(s.stackEnv))?.run_id, 120_000, 200)) ??
        '',
    );
    await eventually(
      `${pilots} pilots running`,
      async () => {
        const { Items } = await documents(dynamoClient(s.stackEnv)).send(
          new QueryCommand({
            TableName: tableNames(s.stackEnv).pilots,
            KeyConditionExpression: 'run_id = :r',
            ExpressionAttributeValues: { ':r': runId },
            ConsistentRead: true,
          }),
        );
        return (Items ?? []).filter((p) => p.state === 'running').length === pilots;
      },
      120_000,
      100,
    );

    // Act: sample every second until the CLI has its report; note the longest time without a completed STF.
    let completed = -1;
    let lastProgress = Date.now();
    while (isRunning(cli.child)) {
      const runner = runnerPid(dir);
      if (runner !== undefined) sample('runner', runner);
      for (const [id, pid] of pilotPids(dir)) sample(`transformer ${id}`, pid);
      const run = await onlyRun(s.stackEnv);
      const done = (run?.completed_stfs as Set<number> | undefined)?.size ?? 0;
      if (done !== completed) {
        completed = done;
        lastProgress = Date.now();
      } else if (run?.completion !== 'completed') {
        progress.longestStillS = Math.max(progress.longestStillS, (Date.now() - lastProgress) / 1000);
      }
      progress.samples++;
      await Promise.race([cli.done, new Promise((r) => setTimeout(r, 1000))]);
    }
    exit = await cli.done;
    durationS = (Date.now() - started) / 1000;
    const runner = runnerPid(dir);
    if (runner !== undefined) sample('runner', runner);
    records = await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId);
  }, 900_000);

  afterAll(async () => {
    if (cli && isRunning(cli.child)) cli.child.kill('SIGKILL');
    await stopTestStack(s);
  });

  it('completes without a stall, every slice recorded once', () => {
    // Prepare
    const slices = stfs * slicesPerStf;
    console.log(
      `soak: ${slices} slices in ${durationS.toFixed(0)} s (stack start included), longest time without a ` +
        `completed STF ${progress.longestStillS.toFixed(1)} s over ${progress.samples} samples`,
    );
    // Assess
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(exit.stdout).toContain(`Slices: ${slices} done, 0 failed, of ${slices}`);
    expect(records.stfs).toHaveLength(stfs);
    expect(new Set(records.slices.map((x) => String(x.slice_key))).size).toBe(slices);
    expect(records.slices).toHaveLength(slices);
    expect(progress.longestStillS).toBeLessThan(stallLimitS);
    expect(records.pilots.map((p) => [p.state, p.attempts])).toEqual(
      Array.from({ length: pilots }, () => ['ended', 1]),
    );
  });

  it(`keeps the memory of the runner and the transformers flat (end < start + ${growthLimitMb} MB, < ${ceilingMb} MB)`, () => {
    // Prepare
    const rows = [...memory.values()].map((m) => ({
      process: m.name,
      pid: m.pid,
      'start RSS (MB)': Math.round(m.startMb),
      'end RSS (MB)': Math.round(m.endMb),
      'peak RSS (MB)': Math.round(m.peakMb),
      'growth (MB)': Math.round(m.endMb - m.startMb),
    }));
    console.table(rows);
    // Assess
    expect(rows.map((r) => r.process).sort()).toEqual([
      'runner',
      ...Array.from({ length: pilots }, (_, i) => `transformer ${runId}-p0${i + 1}`),
    ]);
    for (const m of memory.values()) {
      expect(m.endMb, `${m.name}: end RSS`).toBeLessThan(m.startMb + growthLimitMb);
      expect(m.endMb, `${m.name}: end RSS`).toBeLessThan(ceilingMb);
    }
  });
});
