import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBroker } from '#broker/stomp-broker.ts';
import { browseQueue, deadLetterQueues } from '#local/dead-letters.ts';
import { freePort } from '#local/processes.ts';
import { resolveStack, stackEnvironment } from '#local/stack.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { destinations, sliceDestination, splitDestination } from '#routes/destinations.ts';
import { handlerQueue, routes } from '#routes/route-table.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { type CliResult, smallRun, testbed } from '../support/cli.ts';
import { testDir } from '../support/temp.ts';

describe('testbed run prompt_processing on the local stack', () => {
  let env: Record<string, string>;
  let result: CliResult;
  let records: RunRecords;
  let runId: string;

  beforeAll(async () => {
    const stateDir = testDir('testbed-workflow-');
    env = {
      TESTBED_STATE_DIR: stateDir,
      TESTBED_STOMP_PORT: String(await freePort()),
      TESTBED_DYNAMODB_PORT: String(await freePort()),
      TESTBED_API_PORT: String(await freePort()),
    };
    result = await testbed([...smallRun], env, 180_000);
    runId = /Run (\d+) Summary/.exec(result.stdout)?.[1] ?? '';
    const stackEnv = stackEnvironment(resolveStack({ stateDir: env.TESTBED_STATE_DIR }, env));
    records = await readRun(dynamoClient(stackEnv), tableNames(stackEnv), runId);
  }, 200_000);

  afterAll(async () => {
    await testbed(['down'], env);
    rmSync(env.TESTBED_STATE_DIR as string, { recursive: true, force: true });
  });

  it('completes and prints the summary', () => {
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(result.stdout).toMatch(/Slices: 40 done, 0 failed, of 40/);
    expect(result.stdout).toMatch(/Delay \(processed_at − requested_at\): p50 [\d.]+ ms/);
  });

  it('registers every STF with the checksum of the file on disk', () => {
    // Prepare
    const stfs = records.stfs;
    // Act
    const mismatched = stfs.filter((s) => adlerChecksum(readFileSync(String(s.url))) !== s.checksum);
    // Assess
    expect(stfs.map((s) => s.sequence).sort((a, b) => Number(a) - Number(b))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(mismatched).toEqual([]);
  });

  it('closes the dataset and the one task of the run', () => {
    // Assess
    expect(records.run).toMatchObject({
      dataset: `swf.${runId}.run`,
      dataset_state: 'closed',
      task_state: 'closed',
      completion: 'completed',
      phase: 'completed',
      total_stf_files: 8,
    });
    expect(typeof records.run?.task_id).toBe('number');
  });

  it('records exactly one result for every slice', () => {
    // Prepare
    const expected = records.stfs.flatMap((s) =>
      Array.from({ length: Number(s.slice_count) }, (_, i) => `${s.filename}#${String(i).padStart(4, '0')}`),
    );
    // Act
    const recorded = records.slices.map((s) => String(s.slice_key));
    // Assess
    expect(recorded.sort()).toEqual(expected.sort());
    expect(records.slices.every((s) => s.state === 'done' && typeof s.processed_at === 'string')).toBe(true);
  });

  it("leaves no message in any handler queue, the slice queues (the run's own, the shared one) or a dead-letter queue", async () => {
    // Prepare
    const stackEnv = stackEnvironment(resolveStack({ stateDir: env.TESTBED_STATE_DIR }, env));
    const broker = await connectBroker({
      url: stackEnv.BROKER_URL as string,
      ...readCredentials(stackEnv.BROKER_CREDENTIALS_FILE as string),
      log: () => {},
    });
    const queues = [
      ...routes.map(handlerQueue),
      splitDestination(destinations.slices).name,
      splitDestination(sliceDestination(runId, 'run')).name,
      ...deadLetterQueues(),
    ];
    // Act
    const left = await Promise.all(
      queues.map(async (q) => [q, (await browseQueue(broker, q)).length] as const),
    );
    await broker.close();
    // Assess
    expect(left.filter(([, n]) => n > 0)).toEqual([]);
    // Each handler queue and its dead-letter queue; both slice queues, and their two dead-letter queues.
    expect(left).toHaveLength(2 * routes.length + 4);
  });

  it('ends every pilot of the run', () => {
    // Assess
    expect(records.pilots.map((p) => p.pilot_id).sort()).toEqual([`${runId}-p01`, `${runId}-p02`]);
    expect(records.pilots.every((p) => p.state === 'ended')).toBe(true);
  });
});
