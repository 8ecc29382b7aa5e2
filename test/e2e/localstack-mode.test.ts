import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkflow } from '#config/workflow.ts';
import { isAlive, portAccepts } from '#local/processes.ts';
import { routes } from '#routes/route-table.ts';
import { closeEnvironment } from '#runtime/env.ts';
import { tables } from '#tables/definitions.ts';
import { outputKeys } from '../../lib/outputs.ts';
import { testbed } from '../support/cli.ts';
import { startTestDynamo, type TestDynamo } from '../support/dynamo.ts';
import { type LambdaEndpoint, startLambdaEndpoint } from '../support/lambda-endpoint.ts';
import { pidIn, stopTestStack, type TestStack, testStack } from '../support/local-stack.ts';
import { startTestS3, type TestS3 } from '../support/s3.ts';

// The LocalStack stack's names (lib/localstack-stack.ts names its functions otherwise: the outputs tell).
const stackName = 'SwfTestbedLocal';
const functionOf = (handler: string) => `SwfTestbedLocal-${handler}`;
/** The run of both stacks: 3 STFs at once, one pilot. */
const RUN_ARGS = ['--no-realtime', '--stf-count', '3', '--physics-period-count', '1', '--workers', '1'];

/**
 * A summary's counts: STF files, slices, pilots, and the messages recorded by type, bar heartbeats (one per
 * pilot every 5 s: their number follows the run's length, not its work).
 */
function summaryCounts(summary: string): string[] {
  return summary
    .split('\n')
    .filter((line) => /STF files:|Slices:|── (?!transformer_heartbeat)[a-z_]+: \d+$/.test(line))
    .map((line) => line.replace(/^[\s│├└─]+/, ''));
}

/**
 * `testbed up --localstack` and `testbed run --target aws` as with LocalStack, against stand-ins for its
 * endpoints: the stand-in Invoke and DescribeStacks endpoint (the functions' handler modules, run in this
 * process as LocalStack's containers would), dynalite for DynamoDB and s3rver for S3, reached through the
 * SDK's per-service endpoint settings, and the real broker of `testbed up`.
 */
describe('LocalStack mode, end to end against stand-ins', () => {
  let s: TestStack;
  let dynamo: TestDynamo;
  let s3: TestS3;
  let lambda: LambdaEndpoint;
  let awsEnv: Record<string, string>;
  const savedEnv: Record<string, string | undefined> = {};
  /** The summary of the same run on the embedded stack, before the LocalStack environment is set. */
  let embeddedSummary: string;

  beforeAll(async () => {
    const embedded = await testStack('localstack-e2e-embedded-');
    try {
      embeddedSummary = (await testbed(['run', 'prompt_processing', ...RUN_ARGS], embedded.env, 110_000))
        .stdout;
    } finally {
      await stopTestStack(embedded);
    }
    s = await testStack('localstack-e2e-');
    // The local runtime's table names (testbed-<name>), as the LocalStack stack names its tables.
    [dynamo, s3] = await Promise.all([startTestDynamo('testbed-'), startTestS3()]);
    const handlers = [...new Set(routes.map((r) => r.handler))].filter((h) => h !== 'adjuster-worker');
    const outputs: Record<string, string> = {
      [outputKeys.daqFunction]: functionOf('daq-simulator'),
      ...Object.fromEntries(handlers.map((h) => [outputKeys.handlerFunction(h), functionOf(h)])),
      ...Object.fromEntries(
        (Object.keys(tables) as (keyof typeof tables)[]).map((t) => [outputKeys.table(t), `testbed-${t}`]),
      ),
    };
    lambda = await startLambdaEndpoint(
      Object.fromEntries(['daq-simulator', ...handlers].map((h) => [functionOf(h), h])),
      { [stackName]: outputs },
    );
    awsEnv = {
      ...s3.env,
      AWS_ENDPOINT_URL: lambda.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.env.DYNAMODB_ENDPOINT as string,
    };
    // What the functions see in LocalStack: the broker, the tables, the STF bucket.
    const functionEnv = {
      ...awsEnv,
      BROKER_URL: s.stackEnv.BROKER_URL as string,
      BROKER_CREDENTIALS_FILE: s.stackEnv.BROKER_CREDENTIALS_FILE as string,
      ...dynamo.env,
      STF_STORE: `s3://${s3.bucket}`,
    };
    for (const key of Object.keys(functionEnv)) savedEnv[key] = process.env[key];
    Object.assign(process.env, functionEnv);
  }, 240_000);

  afterAll(async () => {
    // The functions' broker connection, in this process, before the broker goes.
    await closeEnvironment();
    await stopTestStack(s);
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await Promise.all([lambda?.stop(), s3?.stop(), dynamo?.stop()]);
  }, 120_000);

  it('completes a run started with testbed run --target aws, every slice recorded', async () => {
    // Prepare
    const up = await testbed(['up', '--localstack', lambda.url], { ...s.env, ...awsEnv });
    expect(up.code, up.stderr).toBe(0);

    // Act
    const run = await testbed(
      ['run', 'prompt_processing', '--target', 'aws', '--stack', stackName, ...RUN_ARGS],
      { ...s.env, ...awsEnv },
      170_000,
    );

    // Assess
    expect(run.stdout, run.stderr).toMatch(/Summary: completed/);
    // The embedded stack's counts for the same workflow: every slice of the 3 STFs done, none failed.
    const expected = 3 * loadWorkflow('prompt_processing').promptProcessing.slices_per_stf;
    expect(run.stdout).toContain(`Slices: ${expected} done, 0 failed, of ${expected}`);
    // The same counts as the same run on the embedded stack.
    expect(summaryCounts(embeddedSummary)).toContain(`Slices: ${expected} done, 0 failed, of ${expected}`);
    expect(summaryCounts(run.stdout)).toEqual(summaryCounts(embeddedSummary));
    // The STFs are in the bucket, not in the embedded stack's folder: the pilots read them from S3.
    const listed = await new S3Client({ forcePathStyle: true }).send(
      new ListObjectsV2Command({ Bucket: s3.bucket }),
    );
    expect(listed.Contents?.map((o) => o.Key).filter((k) => k?.endsWith('.stf'))).toHaveLength(3);
    expect(existsSync(s.stackEnv.STF_STORE as string)).toBe(false);
    // The functions ran here, invoked by the runner and the CLI; the pilots read the STFs from s3rver.
    expect(lambda.invocations.map((i) => i.functionName)).toContain(functionOf('slice-result'));
  }, 175_000);

  it("runs no dynalite: the supervisor's parts are broker, runner and API, and dynalite's port is free", async () => {
    // Act
    const supervised = JSON.parse(readFileSync(join(s.stack.stateDir, 'run', 'supervisor.json'), 'utf8'));

    // Assess
    expect(Object.keys(supervised.parts)).toEqual(['broker', 'runner', 'api']);
    expect(pidIn(join(s.stack.stateDir, 'run', 'dynalite.pid'))).toBeUndefined();
    expect(await portAccepts(s.stack.dynamodbPort)).toBe(false);
  });

  it('shows in testbed status that the handlers are in LocalStack, and what its health check answered', async () => {
    // Act
    const status = await testbed(['status', '--json'], s.env);

    // Assess
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout);
    expect(shown.handlers).toEqual({
      mode: 'localstack',
      address: `LocalStack ${lambda.url} (stack ${stackName})`,
      healthy: false,
      // The stand-in has no health check: LocalStack's answers with its version and services.
      message: 'health answered HTTP 404',
    });
    // No dynalite row: the parts that run, all healthy.
    expect(shown.services.map((r: { service: string; healthy: boolean }) => [r.service, r.healthy])).toEqual([
      ['broker', true],
      ['runner', true],
      ['api', true],
    ]);
    // The executions are read from LocalStack's DynamoDB (the stand-in), where the run was recorded.
    expect(shown.executions.map((e: { status: string }) => e.status)).toEqual(['completed']);
  }, 175_000);

  it('says the stack is up in text, without a dynalite line', async () => {
    // Act
    const status = await testbed(['status'], s.env);

    // Assess
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^handlers: LocalStack /m);
    expect(status.stdout).not.toContain('dynalite');
    expect(status.stdout).toContain('Latest executions');
  }, 175_000);

  it('stops with testbed down what runs, and leaves no process of the stack behind', async () => {
    // Prepare
    const run = join(s.stack.stateDir, 'run');
    const pids = ['supervisor', 'broker', 'runner', 'api'].map((p) => pidIn(join(run, `${p}.pid`)));

    // Act
    const down = await testbed(['down'], s.env);

    // Assess
    expect(down.code, down.stderr).toBe(0);
    // Pilots, if one still ends, are named between runner and broker; dynalite is not.
    expect(down.stdout).toMatch(/^stopped: supervisor, api, runner(, pilot [^,]+)*, broker$/m);
    expect(pids.every((pid) => pid !== undefined)).toBe(true);
    expect(pids.filter((pid) => pid !== undefined && isAlive(pid))).toEqual([]);
  }, 175_000);
});
