import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#local/processes.ts';
import { projectRoot } from '#local/state.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { testbed } from '../../support/cli.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { EXECUTION, FOREIGN_EXECUTION, FOREIGN_RUN, RUN, seedForeignRun, seedRun } from '../monitor/seed.ts';

/** `testbed` on a dynalite of our own, with the local stack's table names (prefix testbed-) and no stack. */
const cliOn = (dynamo: TestDynamo, extra: Record<string, string> = {}) => {
  const env = {
    TESTBED_STATE_DIR: testDir('testbed-cli-'),
    TESTBED_DYNAMODB_PORT: String(dynamo.port),
    ...extra,
  };
  return (...args: string[]) => testbed(args, env);
};

/** A loopback port nothing listens on (taken and given back at once). */
const closedPort = await freePort();

const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
  version: string;
};

describe('the CLI teaches its use', () => {
  let dynamo: TestDynamo;
  let cli: ReturnType<typeof cliOn>;
  beforeAll(async () => {
    dynamo = await startTestDynamo('testbed-');
    await seedRun(dynamo);
    await seedForeignRun(dynamo);
    // A result as a transformer sends it: the table shows its file, slice, state and delay.
    await documents(dynamo.client).send(
      new PutCommand({
        TableName: tableNames(dynamo.env).messages,
        Item: {
          run_id: RUN,
          msg_key: '2025-03-01T10:00:18.000000Z#slice_result#18',
          msg_type: 'slice_result',
          sender: `${RUN}-p02`,
          created_at: '2025-03-01T10:00:18.000000Z',
          content: JSON.stringify({
            filename: `swf.${RUN}.000002.stf`,
            slice_id: 3,
            state: 'done',
            requested_at: '2025-03-01T10:00:17.000000Z',
            processed_at: '2025-03-01T10:00:17.250000Z',
          }),
        },
      }),
    );
    cli = cliOn(dynamo);
  });
  afterAll(() => dynamo.stop());

  it("prints package.json's version for --version", async () => {
    // Act
    const r = await cli('--version');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('lists the environment variables and an example in the root help', async () => {
    // Act
    const r = await cli('--help');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    for (const name of [
      'TESTBED_STATE_DIR',
      'TESTBED_STOMP_PORT',
      'TESTBED_DYNAMODB_PORT',
      'TESTBED_API_PORT',
    ])
      expect(r.stdout).toContain(name);
    expect(r.stdout).toContain('Examples:\n  $ testbed run prompt_processing');
  });

  it.each([
    ['up', '$ testbed up'],
    ['down', '$ testbed down'],
    ['status', '$ testbed status 100010'],
    ['runs', '$ testbed runs --namespace alice'],
    ['messages', '$ testbed messages --run 100010 --type slice_result'],
    ['stf-files', '$ testbed stf-files --run 100010'],
    ['slices', '$ testbed slices --run 100010'],
    ['logs', '$ testbed logs --level warn'],
    ['tasks', '$ testbed tasks 1000042'],
    ['mcp', '$ testbed mcp'],
  ])('shows an example and the defaults in the help of testbed %s', async (command, example) => {
    // Act
    const r = await cli(command, '--help');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.slice(r.stdout.indexOf('\nExamples:\n'))).toContain(`\n  ${example}`);
    expect(r.stdout).toContain('(default .testbed)');
  });

  it('lists the runs newest first with testbed runs, as {items, next} with --json', async () => {
    // Act
    const [json, text] = await Promise.all([cli('runs', '--json'), cli('runs')]);
    // Assess
    expect(json.code, json.stderr).toBe(0);
    const page = JSON.parse(json.stdout) as { items: { run_id: string }[]; next?: string };
    expect(page.items.map((r) => r.run_id)).toEqual([FOREIGN_RUN, RUN, '100499']);
    expect(page.next).toBeUndefined();
    expect(text.stdout.split('\n')[0]).toMatch(/^run_id\s+execution_id\s+namespace\s+status/);
    expect(text.stdout).toMatch(new RegExp(`\n${RUN}\\s+${EXECUTION}\\s+alice\\s+running`));
  });

  it('filters testbed runs by namespace and status, and says what was asked when none match', async () => {
    // Act
    const [alice, none] = await Promise.all([
      cli('runs', '--namespace', 'alice', '--json'),
      cli('runs', '--namespace', 'alice', '--status', 'completed'),
    ]);
    // Assess
    expect(JSON.parse(alice.stdout).items.map((r: { run_id: string }) => r.run_id)).toEqual([RUN]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout.trim()).toBe('no completed runs in namespace alice');
  });

  it('takes a run number in testbed status, as it takes the execution id', async () => {
    // Act
    const [byRun, byExecution] = await Promise.all([
      cli('status', FOREIGN_RUN),
      cli('status', FOREIGN_EXECUTION),
    ]);
    // Assess
    expect(byRun.code, byRun.stderr).toBe(0);
    expect(byRun.stdout).toBe(byExecution.stdout);
    expect(byRun.stdout).toContain('├── Slices: 5 done, 1 failed, of 6');
  });

  it.each([
    [['status', '999999'], 'testbed: run 999999 not found: testbed runs lists the known runs'],
    [['messages', '--run', '999999'], 'testbed: run 999999 not found: testbed runs lists the known runs'],
    [
      ['status', 'prompt_processing-nobody-0001'],
      'testbed: execution prompt_processing-nobody-0001 not found: testbed runs lists the known runs and their executions',
    ],
    [
      ['status', '100499'],
      'testbed: run 100499 has no execution (no DAQ simulator started it): testbed messages --run 100499 shows what it got',
    ],
  ])('says where to look instead when %j finds nothing to show', async (args, line) => {
    // Act
    const r = await cli(...args);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(line);
  });

  it.each([
    [['messages', '--run', 'abc'], 'testbed: --run: expected digits, got "abc"'],
    [['slices', '--run', RUN, '--execution', EXECUTION], 'testbed: give --run or --execution'],
    [['messages', '--run', RUN, '--limit', '5000'], 'testbed: --limit: 5000 is over the maximum of 1000'],
  ])('speaks of the options, not the query parameters, when refusing %j', async (args, line) => {
    // Act
    const r = await cli(...args);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(line);
    expect(r.stderr).not.toMatch(/run_id|execution_id|msg_type/);
  });

  it('says which messages were asked for, and the types the run has, when none match', async () => {
    // Act
    const r = await cli('messages', '--run', RUN, '--type', 'bogus_type');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(
      `no bogus_type messages in run ${RUN} (it has end_run, run_imminent, slice_result, start_run, stf_gen, stf_ready)`,
    );
  });

  it.each([
    [['stf-files', '--run', '100499', '--status', 'done'], 'no done STF files in run 100499'],
    [
      ['slices', '--execution', EXECUTION, '--status', 'failed', '--stf', 'swf.x.stf'],
      `no failed slice results of swf.x.stf in execution ${EXECUTION}`,
    ],
  ])('says what was asked when %j lists nothing', async (args, line) => {
    // Act
    const r = await cli(...args);
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(line);
  });

  it('shows the file, slice, state and delay of a result in testbed messages, in one time style', async () => {
    // Act
    const r = await cli('messages', '--run', RUN, '--type', 'slice_result');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    const [header, , ...rows] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^created_at\s+msg_type\s+sender\s+file\s+slice_id\s+state\s+delay_ms\s+refused$/);
    expect(rows[0]).toMatch(
      new RegExp(
        `^2025-03-01T10:00:18\\.000Z\\s+slice_result\\s+${RUN}-p02\\s+swf\\.${RUN}\\.000002\\.stf\\s+3\\s+done\\s+250$`,
      ),
    );
    expect(r.stdout).not.toContain('{');
  });

  it('shows the file a log line is about in testbed logs', async () => {
    // Prepare: the runner's log in a state folder of this test's own.
    const dir = testDir('testbed-cli-logs-');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const line = (fields: Record<string, unknown>) =>
      JSON.stringify({ level: 'INFO', timestamp: '2025-03-01T10:00:05.000Z', run_id: RUN, ...fields });
    writeFileSync(
      join(dir, 'logs', 'runner.log'),
      `${line({ message: 'STF sliced', filename: `swf.${RUN}.000001.stf` })}\n${line({ message: 'run started' })}\n`,
    );
    // Act
    const r = await cliOn(dynamo, { TESTBED_STATE_DIR: dir })('logs', '--run', RUN);
    // Assess
    expect(r.code, r.stderr).toBe(0);
    const [header, , ...rows] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^time\s+level\s+source\s+run_id\s+file\s+msg$/);
    expect(rows).toHaveLength(2);
    expect(rows.find((l) => l.endsWith('STF sliced'))).toMatch(
      new RegExp(
        `^2025-03-01T10:00:05\\.000Z\\s+info\\s+runner\\.log\\s+${RUN}\\s+swf\\.${RUN}\\.000001\\.stf\\s+STF sliced$`,
      ),
    );
  });

  it('says a stopped stack is not up and how to start it, and exits 1', async () => {
    // Act
    const r = await cli('status');
    // Assess
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^service\s+state\s+pid/);
    expect(r.stderr.trim()).toBe(
      'the local stack is not up: testbed up starts it (testbed run prompt_processing does too)',
    );
  });
});

describe('testbed run --target aws without a network', () => {
  it.each([
    [
      'a name that does not resolve',
      'http://nonexistent.invalid',
      'nonexistent.invalid (its name does not resolve)',
    ],
    ['a refused connection', `http://127.0.0.1:${closedPort}`, '127.0.0.1 (the connection was refused)'],
  ])(
    'says in one sentence what could not be reached, and what to check, on %s',
    async (_, endpoint, what) => {
      // Prepare: credentials and region given, an endpoint that cannot answer (no traffic leaves the machine).
      const env = {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'example',
        AWS_REGION: 'us-east-1',
        AWS_MAX_ATTEMPTS: '1',
      };
      // Act
      const r = await testbed(['run', 'prompt_processing', '--target', 'aws'], env);
      // Assess
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(
        `testbed: could not reach AWS at ${what}: check the network connection and any proxy, AWS_REGION, ` +
          'and AWS_ENDPOINT_URL if set',
      );
      expect(r.stderr).not.toMatch(/^\s+at /m);
    },
  );
});
