import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { cloudWatchLogSource } from './cloudwatch-logs.ts';
import { localLogSource } from './log-files.ts';
import { emptyLogSource, type LogSource } from './logs.ts';

/** What every query reads through: the tables, the log source and a clock. */
export interface MonitorContext {
  readonly db: DynamoDBClient;
  readonly tableNames: Readonly<Record<TableName, string>>;
  readonly logs: LogSource;
  /** Epoch ms; "lost" pilots are judged against it. @default Date.now */
  readonly now?: () => number;
}

export const docOf = (c: MonitorContext): DynamoDBDocumentClient => documents(c.db);
export const nowMs = (c: MonitorContext): number => (c.now ?? Date.now)();

/**
 * The context from the environment: the local stack's (TESTBED_STATE_DIR, DYNAMODB_ENDPOINT, TABLE_PREFIX)
 * reads the log files under the state folder; in AWS, LOG_GROUPS (comma-separated) names the log groups.
 */
export function monitorContext(env: NodeJS.ProcessEnv = process.env): MonitorContext {
  const groups = (env.LOG_GROUPS ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  const logs =
    groups.length > 0
      ? cloudWatchLogSource({ logGroups: groups })
      : env.TESTBED_STATE_DIR
        ? localLogSource(join(env.TESTBED_STATE_DIR, 'logs'))
        : emptyLogSource;
  return { db: dynamoClient(env), tableNames: tableNames(env), logs };
}
