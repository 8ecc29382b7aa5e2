import { appendFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { physicalTableName, type TableName, tables } from '#tables/definitions.ts';
import { readCredentials } from './credentials.ts';
import { createLogger, type Logger } from './log.ts';

/**
 * Adapters built from the environment, once per process: a Lambda execution environment or the local
 * runner (where every handler shares them). Locally the runner sets BROKER_URL, BROKER_CREDENTIALS_FILE,
 * DYNAMODB_ENDPOINT and TABLE_PREFIX; in AWS the stack sets BROKER_URL, BROKER_SECRET_ARN and TABLE_*.
 */
export interface Environment {
  readonly broker: BrokerPort;
  readonly db: DynamoDBClient;
  readonly tableNames: Record<TableName, string>;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
}

let shared: Promise<Environment> | undefined;

export function environment(env: NodeJS.ProcessEnv = process.env): Promise<Environment> {
  shared ??= build(env).catch((error) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

async function build(env: NodeJS.ProcessEnv): Promise<Environment> {
  // A process with a terminal of its own (the CLI running the DAQ simulator) logs to a file instead.
  const file = env.TESTBED_LOG_FILE;
  const write = file ? (line: string) => appendFileSync(file, `${line}\n`) : undefined;
  const log = createLogger({ service: env.AWS_LAMBDA_FUNCTION_NAME ?? 'testbed' }, write);
  const broker = await connectBroker({
    url: required(env, 'BROKER_URL'),
    ...(await brokerCredentials(env)),
    log: (l) => log.info(l),
  });
  return { broker, db: dynamoClient(env), tableNames: tableNames(env), log, env };
}

export function tableNames(env: NodeJS.ProcessEnv = process.env): Record<TableName, string> {
  return Object.fromEntries(
    (Object.keys(tables) as TableName[]).map((t) => [t, physicalTableName(t, env)]),
  ) as Record<TableName, string>;
}

export function dynamoClient(env: NodeJS.ProcessEnv = process.env): DynamoDBClient {
  const endpoint = env.DYNAMODB_ENDPOINT;
  if (!endpoint) return new DynamoDBClient({});
  // The local emulator takes any credentials, but the SDK wants some.
  return new DynamoDBClient({
    endpoint,
    region: env.AWS_REGION ?? 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

async function brokerCredentials(env: NodeJS.ProcessEnv): Promise<{ user: string; password: string }> {
  const file = env.BROKER_CREDENTIALS_FILE;
  if (file) return readCredentials(file);
  const secretArn = required(env, 'BROKER_SECRET_ARN');
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const secret = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  const parsed = JSON.parse(secret.SecretString ?? '{}') as { username?: string; password?: string };
  if (!parsed.username || !parsed.password)
    throw new Error(`secret ${secretArn}: expected {"username", "password"}`);
  return { user: parsed.username, password: parsed.password };
}

function required(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key];
  if (!v) throw new Error(`environment variable ${key} is not set`);
  return v;
}

/** Closes what `environment()` opened, for processes that end (the CLI, tests); Lambda never calls it. */
export async function closeEnvironment(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await (await current.catch(() => undefined))?.broker.close();
}
