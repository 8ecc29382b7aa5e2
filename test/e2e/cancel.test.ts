import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '#local/state.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { testbed } from '../support/cli.ts';
import {
  type CliProcess,
  eventually,
  pilotPids,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

/** A run paced in real time (20 STFs, one per second), long enough to be stopped half-way. */
const longRun = (namespace: string) => [
  'run',
  'prompt_processing',
  '--realtime',
  '--stf-count',
  '20',
  '--physics-period-count',
  '1',
  '--workers',
  '1',
  '--namespace',
  namespace,
  '--set',
  'simulation.stf_interval=1',
];

describe('Stopping a run: Ctrl-C on testbed run, testbed cancel', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await testStack('testbed-cancel-');
    const up = await testbed(['up'], s.env);
    expect(up.code, up.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await stopTestStack(s);
  });

  /** The run of a namespace (each test has its own), once the handlers have opened it. */
  const runOf = async (namespace: string) => {
    const { Items = [] } = await documents(dynamoClient(s.stackEnv)).send(
      new ScanCommand({ TableName: tableNames(s.stackEnv).runs, ConsistentRead: true }),
    );
    return Items.find((r) => r.namespace === namespace && r.task_id !== undefined);
  };

  /** Until the run has a pilot of ours running and its first STF registered. */
  const underWay = (namespace: string, cli: CliProcess) =>
    eventually(
      `run of ${namespace} under way`,
      async () => {
        const run = await runOf(namespace);
        const pilots = [...pilotPids(s.stack.stateDir).keys()].filter((p) => p.startsWith(`${run?.run_id}-`));
        return run && run.registered_stfs?.size > 0 && pilots.length > 0 && run;
      },
      60_000,
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${cli.lines.map((l) => l.text).join('\n')}`);
    });

  const pilotsOf = (runId: string) =>
    [...pilotPids(s.stack.stateDir).keys()].filter((p) => p.startsWith(`${runId}-`));

  it('cancels the run on Ctrl-C without a terminal, and the summary says so', async () => {
    // Prepare
    const cli = spawnTestbed(longRun('cancel-sigint'), s.env);
    const run = await underWay('cancel-sigint', cli);
    // Act
    cli.child.kill('SIGINT');
    const { code, stdout, stderr } = await cli.done;
    // Assess
    expect(code, stderr).toBe(130);
    expect(stderr).toContain(`cancelling run ${run.run_id}`);
    expect(stdout).toMatch(new RegExp(`Run ${run.run_id} Summary: NOT COMPLETED \\(cancelled\\)`));
    const after = await runOf('cancel-sigint');
    expect(after).toMatchObject({ task_state: 'cancelled', dataset_state: 'closed' });
    expect(after?.registered_stfs.size).toBeLessThan(20);
    expect(pilotsOf(String(run.run_id))).toEqual([]);
  }, 120_000);

  it('asks on a terminal, and leaves the run going when told so', async () => {
    // Prepare: `script` gives the command a terminal; Ctrl-C is the terminal's interrupt character.
    const command = [process.execPath, join(projectRoot, 'bin', 'testbed.js'), ...longRun('cancel-tty')]
      .map((w) => `'${w}'`)
      .join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { ...process.env, ...s.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      screen += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const cli = { lines: [] } as unknown as CliProcess;
    const run = await underWay('cancel-tty', cli);
    // Act
    child.stdin.write('\x03');
    await eventually('the question', () => screen.includes(`Cancel run ${run.run_id}?`), 10_000);
    child.stdin.write('n\r');
    const code = await exited;
    // Assess: the DAQ simulator (in the command) ended the run; the run was not cancelled.
    expect(code, screen).toBe(130);
    expect(screen).toContain(`run ${run.run_id} goes on: testbed status ${run.run_id} follows it`);
    const after = await runOf('cancel-tty');
    expect(after?.cancelled_at).toBeUndefined();
    expect(after?.total_stf_files).toBe(20);
  }, 120_000);

  it('cancels a run another command follows, by its execution id', async () => {
    // Prepare
    const cli = spawnTestbed(longRun('cancel-command'), s.env);
    const run = await underWay('cancel-command', cli);
    // Act
    const cancel = await testbed(['cancel', String(run.execution_id), '--reason', 'wrong settings'], s.env);
    const followed = await cli.done;
    const again = await testbed(['cancel', String(run.run_id)], s.env);
    // Assess
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(
      new RegExp(
        `^run ${run.run_id} cancelled at \\S+ \\(wrong settings\\): task cancelled, dataset closed, pilots stopped`,
      ),
    );
    expect(followed.code).toBe(1);
    expect(followed.stdout).toContain('NOT COMPLETED (cancelled)');
    expect(followed.stdout).toContain('wrong settings');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(wrong settings)');
    expect(pilotsOf(String(run.run_id))).toEqual([]);
  }, 120_000);

  it('refuses to cancel a run that completed or does not exist', async () => {
    // Prepare
    const done = await testbed(
      ['run', 'prompt_processing', '--no-realtime', '--stf-count', '1', '--physics-period-count', '1'],
      s.env,
      120_000,
    );
    const runId = /Run (\d+) Summary: completed/.exec(done.stdout)?.[1];
    expect(runId, done.stdout + done.stderr).toBeDefined();
    // Act
    const completed = await testbed(['cancel', String(runId)], s.env);
    const unknown = await testbed(['cancel', '999999'], s.env);
    // Assess
    expect(completed.code).toBe(1);
    expect(completed.stdout).toMatch(new RegExp(`^run ${runId} completed at \\S+: nothing to cancel`));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/run 999999 not found/);
  }, 150_000);

  it('refuses a run without STFs before it starts anything', async () => {
    // Act
    const refused = await testbed(['run', 'prompt_processing', '--stf-count', '0'], s.env);
    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'testbed: simulation.stf_count = 0: the run would have no STF to process; give 1 or more',
    );
    expect(await runOf('')).toBeUndefined();
  });

  it('says before a run without pilots of ours what will happen, and after it why it did not complete', async () => {
    // Act
    const run = await testbed(
      [
        'run',
        'prompt_processing',
        '--no-realtime',
        '--stf-count',
        '1',
        '--physics-period-count',
        '1',
        '--workers',
        '0',
        '--drain-timeout',
        '2',
      ],
      s.env,
      120_000,
    );
    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('prompt_processing.target_worker_count = 0: no pilot of ours starts');
    expect(run.stdout).toMatch(/Summary: NOT COMPLETED/);
    expect(run.stdout).toMatch(/Why not completed:[\s\S]*pilot/);
  }, 120_000);
});
