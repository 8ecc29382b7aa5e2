import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dynamodbEndpoint, resolveStack, stackPartNames } from '#local/stack.ts';
import { whyDynamoNotComingBack } from '#local/stack-dynamo.ts';
import { stackParts } from '#local/stack-parts.ts';
import { status } from '#local/stack-status.ts';
import { type SupervisorState, supervisorStateFile, whyNotComingBack } from '#local/supervisor.ts';
import { testDir } from '../../support/temp.ts';

const embedded = () => resolveStack({ stateDir: testDir('testbed-parts-') }, {});
const localstack = () =>
  resolveStack(
    { stateDir: testDir('testbed-parts-'), localstack: 'http://ls:4566' },
    { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' },
  );

/** Pid files naming this process: gone after each test, or the teardown would kill the test run. */
const ownPidFiles: string[] = [];
afterEach(() => {
  for (const f of ownPidFiles.splice(0)) rmSync(f, { force: true });
});

/** A supervisor's state as the running supervisor (this process) wrote it, running `parts`. */
function supervising(stateDir: string, parts: string[]): void {
  mkdirSync(join(stateDir, 'run'), { recursive: true });
  const pidFile = join(stateDir, 'run', 'supervisor.pid');
  ownPidFiles.push(pidFile);
  writeFileSync(pidFile, String(process.pid));
  const state: SupervisorState = {
    pid: process.pid,
    started_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    hups: 0,
    parts: Object.fromEntries(
      parts.map((n) => [n, { phase: 'running', healthy: true, restarts: 0, log: `${n}.log` }]),
    ),
  };
  writeFileSync(supervisorStateFile(stateDir), JSON.stringify(state));
}

describe("the stack's parts, decided by its mode", () => {
  it('are broker, dynalite, runner and API on the embedded stack, the runner waiting for broker and dynalite', () => {
    // Prepare
    const s = embedded();

    // Act
    const parts = stackParts(s);

    // Assess
    expect(stackPartNames(s)).toEqual(['broker', 'dynalite', 'runner', 'api']);
    expect(parts.map((p) => p.name)).toEqual(['broker', 'dynalite', 'runner', 'api']);
    expect(parts.find((p) => p.name === 'runner')?.needs).toEqual(['broker', 'dynalite']);
    expect(dynamodbEndpoint(s)).toBe(`http://127.0.0.1:${s.dynamodbPort}`);
  });

  it("have no dynalite in LocalStack mode: the runner waits for the broker alone and reads LocalStack's DynamoDB", () => {
    // Prepare
    const s = localstack();

    // Act
    const parts = stackParts(s);

    // Assess
    expect(stackPartNames(s)).toEqual(['broker', 'runner', 'api']);
    expect(parts.map((p) => p.name)).toEqual(['broker', 'runner', 'api']);
    expect(parts.find((p) => p.name === 'runner')?.needs).toEqual(['broker']);
    expect(dynamodbEndpoint(s)).toBe('http://127.0.0.1:9');
  });

  it('are the rows of the status, so a LocalStack stack shows no dynalite row', async () => {
    // Prepare
    const [e, l] = [embedded(), localstack()];

    // Act
    const [embeddedRows, localstackRows] = await Promise.all([status(e), status(l)]);

    // Assess
    expect(embeddedRows.map((r) => r.service)).toEqual(['broker', 'dynalite', 'runner', 'api']);
    expect(localstackRows.map((r) => [r.service, r.healthy])).toEqual([
      ['broker', false],
      ['runner', false],
      ['api', false],
    ]);
  });
});

describe("waiting for the stack's DynamoDB", () => {
  it('makes sense while the supervisor runs dynalite, and never for LocalStack, which it does not restart', () => {
    // Prepare
    const [e, l] = [embedded(), localstack()];
    supervising(e.stateDir, ['broker', 'dynalite', 'runner', 'api']);
    supervising(l.stateDir, ['broker', 'runner', 'api']);

    // Act
    const [forDynalite, forLocalStack] = [whyDynamoNotComingBack(e), whyDynamoNotComingBack(l)];

    // Assess
    expect(forDynalite).toBeUndefined();
    expect(forLocalStack).toBe(
      "it is LocalStack's (http://127.0.0.1:9), which the local stack does not restart: is LocalStack up?",
    );
    expect(whyNotComingBack(l.stateDir, 'dynalite')).toBe("dynalite is not one of the local stack's parts");
  });
});
