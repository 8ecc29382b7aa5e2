import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isAlive } from '#local/processes.ts';
import { testbed } from '../support/cli.ts';
import { testDir } from '../support/temp.ts';

describe('testbed up, status, down', () => {
  let env: Record<string, string>;
  let stateDir: string;
  beforeAll(async () => {
    stateDir = testDir('testbed-stack-');
    env = {
      TESTBED_STATE_DIR: stateDir,
      TESTBED_STOMP_PORT: String(await freePort()),
      TESTBED_DYNAMODB_PORT: String(await freePort()),
      TESTBED_API_PORT: String(await freePort()),
    };
  });
  afterAll(async () => {
    await testbed(['down'], env);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('brings broker, dynalite, runner and API up healthy, under a running supervisor', async () => {
    // Act
    const upResult = await testbed(['up'], env);
    const statusResult = await testbed(['status', '--json'], env);
    // Assess
    expect(upResult.code, upResult.stderr).toBe(0);
    const { services: rows } = JSON.parse(statusResult.stdout) as {
      services: { service: string; healthy: boolean; address?: string }[];
    };
    expect(rows.map((r) => [r.service, r.healthy])).toEqual([
      ['broker', true],
      ['dynalite', true],
      ['runner', true],
      ['api', true],
    ]);
    expect(rows[0]?.address).toBe(`stomp://127.0.0.1:${env.TESTBED_STOMP_PORT}`);
    expect(JSON.parse(statusResult.stdout).supervisor.running).toBe(true);
  });

  it('keeps the generated credentials readable by their owner only, and out of the logs', () => {
    // Prepare
    const credentials = JSON.parse(readFileSync(join(stateDir, 'credentials.json'), 'utf8')) as {
      password: string;
    };
    const logs = readdirSync(join(stateDir, 'logs')).map((f) =>
      readFileSync(join(stateDir, 'logs', f), 'utf8'),
    );
    // Act
    const mode = statSync(join(stateDir, 'credentials.json')).mode & 0o777;
    const xmlMode = statSync(join(stateDir, 'broker', 'activemq.xml')).mode & 0o777;
    // Assess
    expect(mode).toBe(0o600);
    expect(xmlMode).toBe(0o600);
    expect(logs.join('\n')).not.toContain(credentials.password);
  });

  it('refuses to start a second stack on a port already taken, naming the port', async () => {
    // Prepare
    const other = testDir('testbed-stack-');
    // Act
    const result = await testbed(['up', '--dynamodb-port', String(await freePort())], {
      ...env,
      TESTBED_STATE_DIR: other,
    });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`port ${env.TESTBED_STOMP_PORT} (broker STOMP) is already in use`);
    rmSync(other, { recursive: true, force: true });
  });

  it('leaves no process behind after down', async () => {
    // Prepare
    const pids = readdirSync(join(stateDir, 'run'))
      .filter((f) => f.endsWith('.pid'))
      .map((f) => Number(readFileSync(join(stateDir, 'run', f), 'utf8')));
    // Act
    const result = await testbed(['down'], env);
    // Assess
    expect(result.stdout).toContain('stopped: supervisor, api, runner, broker, dynalite');
    expect(pids).toHaveLength(5);
    expect(pids.filter(isAlive)).toEqual([]);
  });
});
