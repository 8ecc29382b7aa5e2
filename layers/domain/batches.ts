import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { documents } from '#tables/documents.ts';
import { type DomainDeps, settleAll } from './deps.ts';

// DynamoDB's limits per BatchGetItem and BatchWriteItem request.
const GET_LIMIT = 100;
const WRITE_LIMIT = 25;
const MAX_ATTEMPTS = 8;

/** The items of these keys that exist (strongly consistent reads), with the given fields only. */
export async function getAll(
  deps: DomainDeps,
  table: string,
  allKeys: readonly Record<string, unknown>[],
  fields: readonly string[],
): Promise<Record<string, unknown>[]> {
  const doc = documents(deps.db);
  const names = Object.fromEntries(fields.map((f, i) => [`#f${i}`, f]));
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < allKeys.length; i += GET_LIMIT) {
    let keys: Record<string, unknown>[] | undefined = allKeys.slice(i, i + GET_LIMIT);
    for (let attempt = 1; keys && keys.length > 0; attempt++) {
      if (attempt > MAX_ATTEMPTS)
        throw new Error(`${table}: ${keys.length} keys still unread after ${MAX_ATTEMPTS} attempts`);
      if (attempt > 1) await backoff(attempt);
      const out: BatchGetCommandOutput = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: {
              Keys: keys,
              ConsistentRead: true,
              ProjectionExpression: Object.keys(names).join(', '),
              ExpressionAttributeNames: names,
            },
          },
        }),
      );
      items.push(...(out.Responses?.[table] ?? []));
      keys = out.UnprocessedKeys?.[table]?.Keys;
    }
  }
  return items;
}

export type PutRequest = { PutRequest: { Item: Record<string, unknown> } };

/** Puts every item, unconditionally, retrying what DynamoDB leaves unprocessed. */
export async function putAll(
  deps: DomainDeps,
  table: string,
  requests: readonly PutRequest[],
): Promise<void> {
  const doc = documents(deps.db);
  const chunks: PutRequest[][] = [];
  for (let i = 0; i < requests.length; i += WRITE_LIMIT) chunks.push(requests.slice(i, i + WRITE_LIMIT));
  await settleAll(
    chunks.map(async (chunk) => {
      let pending: readonly unknown[] | undefined = chunk;
      for (let attempt = 1; pending && pending.length > 0; attempt++) {
        if (attempt > MAX_ATTEMPTS) {
          throw new Error(`${table}: ${pending.length} items still unwritten after ${MAX_ATTEMPTS} attempts`);
        }
        if (attempt > 1) await backoff(attempt);
        const out: BatchWriteCommandOutput = await doc.send(
          new BatchWriteCommand({ RequestItems: { [table]: pending as PutRequest[] } }),
        );
        pending = out.UnprocessedItems?.[table];
      }
    }),
  );
}

/** Exponential back-off with full jitter, as AWS advises for unprocessed batch items. */
const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2_000, 25 * 2 ** attempt)));
