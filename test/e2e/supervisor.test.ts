import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, portAccepts } from '#local/processes.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { smallRun, testbed } from '../support/cli.ts';
import {
  eventually,
  logRecords,
  pidIn,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

interface ServiceRow {
  service: string;
  pid?: number;
  healthy: boolean;
  phase?: string;
  restarts?: number;
  last_restart?: { at: string; reason: string; signal?: string; exit_code?: number };
  message?: string;
  detail?: string;
}

/** `testbed status --json`'s rows, by service. */
async function services(s: TestStack): Promise<Map<string, ServiceRow>> {
  const result = await testbed(['status', '--json'], s.env);
  const { services: rows } = JSON.parse(result.stdout) as { services: ServiceRow[] };
  return new Map(rows.map((r) => [r.service, r]));
}

const pidFile = (s: TestStack, part: string) => join(s.stack.stateDir, 'run', `${part}.pid`);

/** Listens on a port, as a stray process holding a part's port would. */
async function occupy(port: number): Promise<net.Server> {
  return eventually('the port occupied', async () => {
    const server = net.createServer((socket) => socket.destroy());
    return new Promise<net.Server | undefined>((resolve) => {
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  });
}

describe('The supervised local stack', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await testStack('testbed-supervisor-');
    // A short back-off keeps the crash loop below short; the policy is the same.
    Object.assign(s.env, { TESTBED_RESTART_BACKOFF_MS: '200' });
    const result = await testbed(['up'], s.env);
    if (result.code !== 0) throw new Error(result.stderr);
  }, 180_000);
  afterAll(async () => {
    await stopTestStack(s);
  });

  it('keeps the tables and records of dynalite across its restart', async () => {
    // Prepare
    const doc = documents(dynamoClient(s.stackEnv));
    const counters = tableNames(s.stackEnv).counters;
    await doc.send(new PutCommand({ TableName: counters, Item: { counter: 'supervisor-test', value: 7 } }));
    const before = pidIn(pidFile(s, 'dynalite')) as number;
    // Act
    process.kill(before, 'SIGKILL');
    const row = await eventually(
      'dynalite back',
      async () => {
        const r = (await services(s)).get('dynalite');
        return r?.healthy && r.pid !== before ? r : undefined;
      },
      90_000,
      500,
    );
    const { Item } = await eventually('the record read', () =>
      doc
        .send(
          new GetCommand({ TableName: counters, Key: { counter: 'supervisor-test' }, ConsistentRead: true }),
        )
        .catch(() => undefined),
    );
    // Assess
    expect(row.restarts).toBe(1);
    expect(row.last_restart?.signal).toBe('SIGKILL');
    expect(Item?.value).toBe(7);
  }, 120_000);

  it.each(['broker', 'runner', 'api'])(
    'restarts the %s killed with SIGKILL by itself, logs it and shows the restart in testbed status',
    async (part) => {
      // Prepare
      const before = pidIn(pidFile(s, part)) as number;
      // Act
      process.kill(before, 'SIGKILL');
      const row = await eventually(
        `${part} back`,
        async () => {
          const r = (await services(s)).get(part);
          return r?.healthy && r.phase === 'running' && r.pid !== before ? r : undefined;
        },
        120_000,
        500,
      );
      // Assess
      expect(row.restarts).toBe(1);
      expect(row.last_restart).toMatchObject({ reason: 'killed by SIGKILL', signal: 'SIGKILL' });
      expect(isAlive(row.pid as number)).toBe(true);
      const supervisorLog = logRecords(join(s.stack.stateDir, 'logs', 'supervisor.log'));
      expect(supervisorLog.filter((l) => l.message === 'restarting' && l.part === part)).toHaveLength(1);
      const ownLog = logRecords(row.detail as string);
      expect(ownLog.filter((l) => l.message === 'restarted by the supervisor')).toHaveLength(1);
    },
    150_000,
  );

  it('leaves a part that keeps crashing down, naming its log in testbed status and on stderr of testbed run', async () => {
    // Prepare: the API's port taken by another process, so each start of the API fails.
    const before = pidIn(pidFile(s, 'api')) as number;
    process.kill(before, 'SIGKILL');
    const squatter = await occupy(s.stack.apiPort);
    try {
      // Act
      const row = await eventually(
        'the API left down',
        async () => {
          const r = (await services(s)).get('api');
          return r?.phase === 'left-down' ? r : undefined;
        },
        120_000,
        500,
      );
      const run = await testbed([...smallRun], s.env);
      // Assess
      const log = join(s.stack.stateDir, 'logs', 'api.log');
      expect(row.message).toContain('api keeps crashing: left down after 5 restarts');
      expect(row.message).toContain(log);
      expect(row.healthy).toBe(false);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('api keeps crashing');
      expect(run.stderr).toContain(log);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  }, 180_000);

  it('starts a part left down again on testbed up once its cause is gone, and a second up starts nothing new', async () => {
    // Act
    const first = await testbed(['up'], s.env);
    const pids = () => ['broker', 'dynalite', 'runner', 'api', 'supervisor'].map((p) => pidIn(pidFile(s, p)));
    const afterFirst = pids();
    const second = await testbed(['up'], s.env);
    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect((await services(s)).get('api')?.healthy).toBe(true);
    expect(afterFirst.every((p) => p !== undefined)).toBe(true);
    expect(pids()).toEqual(afterFirst);
  }, 180_000);

  it('stops the supervisor first on testbed down and leaves nothing running', async () => {
    // Prepare
    const dir = join(s.stack.stateDir, 'run');
    const pids = readdirSync(dir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => Number(readFileSync(join(dir, f), 'utf8')));
    // Act
    const result = await testbed(['down'], s.env);
    const listening = await Promise.all(
      [s.stack.stompPort, s.stack.dynamodbPort, s.stack.apiPort].map((p) => portAccepts(p)),
    );
    // Assess
    expect(result.stdout).toContain('stopped: supervisor, api, runner, broker, dynalite');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(listening).toEqual([false, false, false]);
  }, 60_000);
});
