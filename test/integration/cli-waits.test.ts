import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testbed } from '../support/cli.ts';
import {
  eventually,
  pidIn,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

describe('The CLI through a DynamoDB outage', () => {
  let s: TestStack;
  const pidOf = (part: string) => pidIn(join(s.stack.stateDir, 'run', `${part}.pid`)) as number;
  beforeAll(async () => {
    s = await testStack('testbed-cli-waits-');
    const result = await testbed(['up'], s.env);
    if (result.code !== 0) throw new Error(result.stderr);
  }, 180_000);
  afterAll(async () => {
    for (const part of ['supervisor', 'dynalite']) {
      const pid = pidIn(join(s.stack.stateDir, 'run', `${part}.pid`));
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    }
    await stopTestStack(s);
  });

  it('has testbed messages wait while dynalite is killed, and answer once the supervisor restarted it', async () => {
    // Prepare: the supervisor paused, so that dynalite stays away until the test lets it restart.
    const supervisor = pidOf('supervisor');
    process.kill(supervisor, 'SIGSTOP');
    process.kill(pidOf('dynalite'), 'SIGKILL');
    // Act
    const cli = spawnTestbed(['messages'], s.env);
    await eventually(
      'testbed messages waiting',
      () => cli.lines.some((l) => l.stream === 'stderr' && l.text.startsWith('waiting for DynamoDB…')),
      60_000,
    );
    process.kill(supervisor, 'SIGCONT');
    const result = await cli.done;
    // Assess
    expect(result.stderr).toContain(
      `waiting for DynamoDB… (connect ECONNREFUSED 127.0.0.1:${s.stack.dynamodbPort})`,
    );
    expect(result.stderr).toContain('DynamoDB is back');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('no runs yet');
  }, 120_000);

  it('has testbed status wait while dynalite is stopped (SIGSTOP), and answer once it goes on', async () => {
    // Prepare
    const dynalite = pidOf('dynalite');
    process.kill(dynalite, 'SIGSTOP');
    // Act
    const cli = spawnTestbed(['status', '--json'], s.env);
    await eventually(
      'testbed status waiting',
      () => cli.lines.some((l) => l.stream === 'stderr' && l.text.startsWith('waiting for DynamoDB…')),
      60_000,
    );
    process.kill(dynalite, 'SIGCONT');
    const result = await cli.done;
    // Assess
    const { services } = JSON.parse(result.stdout) as { services: { service: string; healthy: boolean }[] };
    expect(result.code, result.stderr).toBe(0);
    expect(services.find((r) => r.service === 'dynalite')?.healthy).toBe(true);
  }, 120_000);

  it('has testbed messages fail at once, saying testbed up, when no stack is up', async () => {
    // Prepare
    await testbed(['down'], s.env);
    // Act
    const result = await testbed(['messages'], s.env, 30_000);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('DynamoDB does not answer');
    expect(result.stderr).toContain('testbed up');
  }, 60_000);
});
