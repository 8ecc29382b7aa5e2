import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { createTables, localDynamoClient } from '#local/dynalite.ts';

/** An in-memory dynalite of our own with every table created, and the environment handlers read. */
export interface TestDynamo {
  readonly client: DynamoDBClient;
  readonly port: number;
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startTestDynamo(prefix = 'test-'): Promise<TestDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const env = { DYNAMODB_ENDPOINT: `http://127.0.0.1:${port}`, TABLE_PREFIX: prefix };
  const client = localDynamoClient(port);
  await createTables(client, env);
  return {
    client,
    port,
    env,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
