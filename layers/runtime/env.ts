import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { type Logger, loggerFromEnv } from '#log/logger.ts';
import { physicalTableName, type TableName, tables } from '#tables/definitions.ts';
import { brokerFromEnv } from './broker-env.ts';

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
  const log = loggerFromEnv({ service: serviceName(env) }, env);
  const broker = await brokerFromEnv(env, log);
  return { broker, db: dynamoClient(env), tableNames: tableNames(env), log, env };
}

/** The function's name in its log lines and metrics: the handler the stack names it after, else Lambda's. */
export const serviceName = (env: NodeJS.ProcessEnv = process.env, otherwise = 'testbed'): string =>
  env.POWERTOOLS_SERVICE_NAME ?? env.AWS_LAMBDA_FUNCTION_NAME ?? otherwise;

export function tableNames(env: NodeJS.ProcessEnv = process.env): Record<TableName, string> {
  return Object.fromEntries(
    (Object.keys(tables) as TableName[]).map((t) => [t, physicalTableName(t, env)]),
  ) as Record<TableName, string>;
}

/**
 * Bounded waits: without them a request to a DynamoDB that stopped answering hangs until the Lambda times out;
 * with them it fails as a transient error (layers/messaging/failures.ts), which is retried.
 */
const requestHandler = { connectionTimeout: 3_000, requestTimeout: 20_000, throwOnRequestTimeout: true };

export function dynamoClient(env: NodeJS.ProcessEnv = process.env): DynamoDBClient {
  const endpoint = env.DYNAMODB_ENDPOINT;
  if (!endpoint) return new DynamoDBClient({ requestHandler });
  // The local emulator takes any credentials, but the SDK wants some.
  return new DynamoDBClient({
    requestHandler,
    endpoint,
    region: env.AWS_REGION ?? 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Closes what `environment()` opened, for processes that end (the CLI, tests); Lambda never calls it. */
export async function closeEnvironment(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await (await current.catch(() => undefined))?.broker.close();
}
