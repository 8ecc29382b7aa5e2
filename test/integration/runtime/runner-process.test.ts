import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { browseQueue } from '#local/dead-letters.ts';
import { createTables, localDynamoClient, startDynalite, stopDynalite } from '#local/dynalite.ts';
import { freePort, portAccepts } from '#local/processes.ts';
import { runnerReadyFile } from '#local/stack-parts.ts';
import { credentialsFile, projectRoot } from '#local/state.ts';
import { destinations } from '#routes/destinations.ts';
import { deadLetterQueue, routes } from '#routes/route-table.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { eventually } from '../../support/local-stack.ts';
import { testDir } from '../../support/temp.ts';

/** How many messages a queue holds, browsed to its end (they stay). */
const depth = async (port: BrokerPort, queue: string): Promise<number> =>
  (await browseQueue(port, queue)).length;

/** local/runner-main.ts as `testbed up` starts it, its JSON log lines kept. */
interface RunnerProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  exit: Promise<number | null>;
}

let nextRun = 100_700;

describe('Process: the local runner (local/runner-main.ts)', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  let stateDir: string;
  let dynamoPort: number;
  let db: DynamoDBClient;
  const env = { TABLE_PREFIX: 'runner-process-' };
  let running: RunnerProcess | undefined;

  const dynamoUp = async () => {
    await startDynalite(stateDir, dynamoPort);
  };
  const dynamoDown = async () => {
    await stopDynalite(stateDir);
  };

  async function startRunnerProcess(): Promise<RunnerProcess> {
    const ready = runnerReadyFile(stateDir);
    rmSync(ready, { force: true });
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'local/runner-main.ts')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        ...env,
        BROKER_URL: broker.url,
        BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
        DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
        TESTBED_STATE_DIR: stateDir,
        TESTBED_WATCHDOG_INTERVAL_S: '0',
        TESTBED_LOG_FILE: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    for (const stream of [child.stdout, child.stderr])
      stream?.on('data', (chunk: Buffer) =>
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)),
      );
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const r = { child, lines, exit };
    running = r;
    await eventually('the runner ready', () => existsSync(ready) || child.exitCode !== null, 60_000);
    if (child.exitCode !== null) throw new Error(`the runner exited: ${lines.join('\n')}`);
    return r;
  }

  const waits = (r: RunnerProcess) => r.lines.filter((l) => l.includes('waiting for DynamoDB…')).length;

  async function sendStfs(runId: string, count: number): Promise<void> {
    for (let seq = 1; seq <= count; seq++) {
      const m = encodeMessage(
        makeMessage('stf_gen', runId, {
          filename: `swf.${runId}.${String(seq).padStart(6, '0')}.stf`,
          sequence: seq,
        }),
      );
      await port.publish(destinations.epic, m.body, m.headers);
    }
  }

  const registered = async (runId: string): Promise<number> =>
    (
      await documents(db).send(
        new QueryCommand({
          TableName: tableNames(env).stfs,
          KeyConditionExpression: 'run_id = :r',
          ExpressionAttributeValues: { ':r': runId },
          ConsistentRead: true,
        }),
      )
    ).Items?.length ?? 0;

  beforeAll(async () => {
    broker = await startTestBroker();
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    stateDir = testDir('testbed-runner-process-');
    mkdirSync(join(stateDir, 'run'), { recursive: true });
    dynamoPort = await freePort();
    await dynamoUp();
    db = localDynamoClient(dynamoPort);
    await createTables(db, env);
  });
  /** Thaws a broker a test froze; one it stopped has no process left to thaw. */
  const thaw = () => {
    try {
      process.kill(broker.pid, 'SIGCONT');
    } catch {}
  };

  afterEach(async () => {
    thaw();
    running?.child.kill('SIGKILL');
    await running?.exit;
    running = undefined;
  });
  afterAll(async () => {
    await port?.close();
    await dynamoDown();
    await broker?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('registers every STF sent while DynamoDB was away once it is back, and parks nothing', async () => {
    // Prepare
    const runner = await startRunnerProcess();
    const runId = String(nextRun++);
    await dynamoDown();
    // Act
    await sendStfs(runId, 20);
    await eventually('the runner waiting for DynamoDB', () => waits(runner) >= 2, 60_000);
    await dynamoUp();
    await eventually('every STF registered', async () => (await registered(runId)) === 20, 60_000);
    // Assess
    const parked = await Promise.all(routes.map((r) => depth(port, deadLetterQueue(r))));
    expect(parked.reduce((a, b) => a + b, 0)).toBe(0);
    expect(waits(runner)).toBeGreaterThanOrEqual(2);
    expect(runner.lines.some((l) => l.includes('handler failed'))).toBe(false);
  }, 120_000);

  it.each([
    ['frozen with SIGSTOP', () => process.kill(broker.pid, 'SIGSTOP')],
    ['stopped', () => broker.kill()],
  ])(
    'exits on SIGTERM while waiting out DynamoDB and the broker is %s',
    async (_, disturb) => {
      // Prepare: a batch in back-off, then the broker gone silent
      if (!(await portAccepts(broker.stompPort))) await broker.start();
      const runner = await startRunnerProcess();
      await dynamoDown();
      await sendStfs(String(nextRun++), 3);
      await eventually('the runner waiting for DynamoDB', () => waits(runner) >= 1, 60_000);
      await disturb();
      // Act
      runner.child.kill('SIGTERM');
      const code = await Promise.race([
        runner.exit,
        new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000)),
      ]);
      // Assess
      expect(code).toBe(0);
      expect(runner.lines.some((l) => l.includes('runner stopped'))).toBe(true);
      // For the next test: DynamoDB back, the broker thawed or started again.
      thaw();
      await dynamoUp();
      if (!(await portAccepts(broker.stompPort))) await broker.start();
    },
    90_000,
  );
});
