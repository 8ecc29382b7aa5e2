import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { physicalTableName, type TableName, tables } from '#tables/definitions.ts';
import { type Daemon, isAlive, portAccepts, readPid, startDaemon, stopDaemon, waitFor } from './processes.ts';

const dynaliteCli = createRequire(import.meta.url).resolve('dynalite/cli.js');

export const dynaliteDaemon = (stateDir: string): Daemon => ({
  name: 'dynalite',
  pidFile: join(stateDir, 'run', 'dynalite.pid'),
  logFile: join(stateDir, 'logs', 'dynalite.log'),
});

/**
 * dynalite on loopback, its LevelDB under the state folder (not in memory): a restart keeps the tables and
 * their items. Resolves when it answers.
 */
export async function startDynalite(stateDir: string, port: number): Promise<number> {
  const d = dynaliteDaemon(stateDir);
  const child = startDaemon(d, process.execPath, [
    dynaliteCli,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--path',
    join(stateDir, 'dynalite'),
    '--createTableMs',
    '0',
    '--deleteTableMs',
    '0',
    '--updateTableMs',
    '0',
  ]);
  const pid = child.pid as number;
  await waitFor(`dynalite (127.0.0.1:${port})`, () => portAccepts(port), {
    alive: () => isAlive(pid),
    logFile: d.logFile,
  });
  return pid;
}

export const stopDynalite = (stateDir: string): Promise<boolean> => stopDaemon(dynaliteDaemon(stateDir));
export const dynalitePid = (stateDir: string): number | undefined => readPid(dynaliteDaemon(stateDir));

/**
 * A client for a local emulator (dynalite on loopback at `where` if a port, else the endpoint given, such as
 * LocalStack's): any credentials do, but the SDK insists on some. `requestTimeoutMs` makes a stopped
 * (SIGSTOP) or wedged emulator a timeout rather than a wait without end; `maxAttempts` 1 leaves retrying to
 * the caller (the CLI says it waits).
 */
export function localDynamoClient(
  where: number | string,
  o: {
    requestTimeoutMs?: number;
    maxAttempts?: number;
    /** LocalStack keeps tables per region. @default local */
    region?: string;
  } = {},
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: typeof where === 'number' ? `http://127.0.0.1:${where}` : where,
    region: o.region ?? 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...(o.maxAttempts !== undefined && { maxAttempts: o.maxAttempts }),
    ...(o.requestTimeoutMs !== undefined && {
      requestHandler: {
        requestTimeout: o.requestTimeoutMs,
        connectionTimeout: o.requestTimeoutMs,
        // Without it the SDK only warns and goes on waiting.
        throwOnRequestTimeout: true,
      },
    }),
  });
}

/** Creates every table of the definitions that does not exist yet (on-demand, as in AWS). */
export async function createTables(
  client: DynamoDBClient,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  const created: string[] = [];
  for (const name of Object.keys(tables) as TableName[]) {
    const def = tables[name];
    const TableName = physicalTableName(name, env);
    if (existing.has(TableName)) continue;
    const keys = [def.partitionKey, ...('sortKey' in def ? [def.sortKey] : [])];
    await client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: keys.map((k) => ({ AttributeName: k, AttributeType: 'S' })),
        KeySchema: keys.map((k, i) => ({ AttributeName: k, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
      }),
    );
    created.push(TableName);
  }
  return created;
}
