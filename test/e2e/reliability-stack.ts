import { rmSync } from 'node:fs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { freePort } from '#local/processes.ts';
import { resolveStack, type StackConfig, stackEnvironment } from '#local/stack.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import { testDir } from '../support/temp.ts';

/** A local stack of the reliability tests' own: its state folder and free ports, driven through the CLI. */
export interface ReliabilityStack {
  /** What `testbed` is run with: TESTBED_STATE_DIR and the ports. */
  readonly env: Record<string, string>;
  readonly stateDir: string;
  readonly stack: StackConfig;
  /** The environment handlers get (BROKER_URL, DYNAMODB_ENDPOINT, TABLE_PREFIX, ...). */
  readonly stackEnv: Record<string, string>;
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** A broker connection with the stack's credentials, closed by `down`. */
  connect(name: string): Promise<BrokerPort>;
  /** `testbed down`, and the state folder removed. */
  down(): Promise<void>;
}

export async function reliabilityStack(prefix: string): Promise<ReliabilityStack> {
  const stateDir = testDir(`testbed-${prefix}-`);
  const env = {
    TESTBED_STATE_DIR: stateDir,
    TESTBED_STOMP_PORT: String(await freePort()),
    TESTBED_DYNAMODB_PORT: String(await freePort()),
    TESTBED_API_PORT: String(await freePort()),
  };
  const stack = resolveStack({ stateDir }, env);
  const stackEnv = stackEnvironment(stack);
  const ports: BrokerPort[] = [];
  return {
    env,
    stateDir,
    stack,
    stackEnv,
    cli: (args, timeoutMs) => testbed(args, env, timeoutMs),
    async connect(name) {
      const port = await connectBroker({
        url: stackEnv.BROKER_URL as string,
        ...readCredentials(stackEnv.BROKER_CREDENTIALS_FILE as string),
        name,
        log: () => {},
      });
      ports.push(port);
      return port;
    },
    async down() {
      await Promise.all(ports.map((p) => p.close()));
      await testbed(['down'], env);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns something other than undefined. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The run number in `testbed run`'s summary. */
export const summaryRunId = (stdout: string): string => /Run (\d+) Summary/.exec(stdout)?.[1] ?? '';

/** `<filename>#<slice id>` of every slice the STFs were cut into. */
export const expectedSliceKeys = (stfs: readonly Record<string, unknown>[]): string[] =>
  stfs
    .flatMap((s) =>
      Array.from({ length: Number(s.slice_count) }, (_, i) => `${s.filename}#${String(i).padStart(4, '0')}`),
    )
    .sort();

/** The message log of a run: every message a handler took or refused under that run number. */
export async function messagesOf(
  db: DynamoDBClient,
  stackEnv: Record<string, string>,
  runId: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents(db).send(
      new QueryCommand({
        TableName: tableNames(stackEnv).messages,
        KeyConditionExpression: 'run_id = :r',
        ExpressionAttributeValues: { ':r': runId },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
