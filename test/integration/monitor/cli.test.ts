import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summary } from '#local/summary.ts';
import { runSummary } from '#query/run-summary.ts';
import { testbed } from '../../support/cli.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { context, FOREIGN_EXECUTION, FOREIGN_RUN, seedForeignRun, seedRun } from './seed.ts';

/** `testbed` on a dynalite of our own, with the local stack's table names (prefix testbed-). */
const cliOn = (dynamo: TestDynamo) => {
  const env = { TESTBED_STATE_DIR: testDir('testbed-cli-'), TESTBED_DYNAMODB_PORT: String(dynamo.port) };
  return (...args: string[]) => testbed(args, env);
};

describe("the CLI's words to a newcomer", () => {
  let dynamo: TestDynamo;
  let cli: ReturnType<typeof cliOn>;
  beforeAll(async () => {
    dynamo = await startTestDynamo('testbed-');
    await seedRun(dynamo);
    await seedForeignRun(dynamo);
    cli = cliOn(dynamo);
  });
  afterAll(() => dynamo.stop());

  it.each([['messages'], ['stf-files'], ['slices']])(
    'lists the latest run for `testbed %s` without a run, and says which',
    async (command) => {
      // Act
      const [latest, chosen] = await Promise.all([
        cli(command, '--json'),
        cli(command, '--run', FOREIGN_RUN, '--json'),
      ]);
      // Assess
      expect(latest.code, latest.stderr).toBe(0);
      expect(latest.stderr.trim()).toBe(`run ${FOREIGN_RUN} (latest; give --run to choose)`);
      expect(JSON.parse(latest.stdout)).toEqual(JSON.parse(chosen.stdout));
      expect(JSON.parse(latest.stdout).items.length).toBeGreaterThan(0);
    },
  );

  it('shows the result hosts of a run served by foreign pilots in `testbed status EXECUTION`', async () => {
    // Act
    const status = await cli('status', FOREIGN_EXECUTION);
    // Assess
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('├── Slices: 5 done, 1 failed, of 6');
    expect(status.stdout).toContain('├── Pilots: none (no pilots started by the worker adjuster)');
    expect(status.stdout).toContain(
      [
        '├── Result hosts:',
        '│   ├── eic-node-1: 4 done, 0 failed',
        '│   └── eic-node-2: 1 done, 1 failed',
      ].join('\n'),
    );
  });

  it("prints a foreign run's summary with its result hosts and no pilots of ours", async () => {
    // Prepare
    const run = await runSummary(context(dynamo), FOREIGN_RUN);
    // Act
    const text = summary(run);
    // Assess
    expect(text).toContain('├── Pilots: none (no pilots started by the worker adjuster)');
    expect(text).toContain('│   ├── eic-node-1: 4 done, 0 failed');
    expect(text).toContain('├── Slices: 5 done, 1 failed, of 6');
    expect(text).toMatch(/Delay \(processed_at − requested_at\): p50 [\d.]+ ms/);
  });

  it('prints a dash, not 0.0 ms, for the delays of a run without results', async () => {
    // Prepare: run 100499 has no slice results.
    const run = await runSummary(context(dynamo), '100499');
    // Act
    const text = summary(run);
    // Assess
    expect(text).toContain('├── Delay (processed_at − requested_at): –\n');
    expect(text).toContain('├── Queue wait (processing_start_at − requested_at): –\n');
    expect(text).toContain('└── First result after the first slice: –');
    expect(text).not.toContain('0.0 ms');
  });
});

describe('the CLI before any run', () => {
  let dynamo: TestDynamo;
  beforeAll(async () => {
    dynamo = await startTestDynamo('testbed-');
  });
  afterAll(() => dynamo.stop());

  it('says there is no run yet and how to start one, rather than an error', async () => {
    // Act
    const r = await cliOn(dynamo)('slices');
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('no runs yet: testbed run prompt_processing');
  });
});
