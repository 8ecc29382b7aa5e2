import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Item } from '#tables/pages.ts';

export type { Item };

/** Every list query returns at most this many items per page. */
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
/** DynamoDB calls one page may make when a filter drops items: a page may come back short, with `next`. */
const MAX_CALLS_PER_PAGE = 10;

/** One page of a list: `next` (opaque) asks for the following page and is absent on the last one. */
export interface Page<T> {
  readonly items: T[];
  readonly next?: string;
}

/** A request the monitor cannot answer as asked: `status` is the HTTP status every face maps it to. */
export class QueryError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

export const badRequest = (message: string) => new QueryError(400, message);
export const notFound = (message: string) => new QueryError(404, message);

/** The opaque `next` token: base64url of DynamoDB's LastEvaluatedKey (or of a log cursor). */
export function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a token and checks it names exactly `keys`, each a string (every key here is a string). */
export function decodeToken(token: string | undefined, keys: readonly string[]): Item | undefined {
  if (token === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('next: not a token this query returned');
  }
  const ok =
    decoded !== null &&
    typeof decoded === 'object' &&
    !Array.isArray(decoded) &&
    Object.keys(decoded).length === keys.length &&
    keys.every((k) => typeof (decoded as Item)[k] === 'string');
  if (!ok) throw badRequest('next: not a token this query returned');
  return decoded as Item;
}

type QueryInput = Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>;

/** A Limit for a filtered read: Limit counts the items read, not those the filter keeps. */
const FILTERED_READ = 100;

/**
 * One page of a Query: exactly `limit` items when that many remain, and `next` only when an item follows.
 * It reads one item more than it gives (DynamoDB returns LastEvaluatedKey whenever Limit is reached, even
 * when nothing follows), and the token is the key of the last item given. `keys` are the table's key names;
 * `partition` is the queried partition key value, which the token must name too (a token of another
 * partition is refused). With a filter that drops most items, a page may end short after
 * MAX_CALLS_PER_PAGE reads, with `next` where it stopped.
 */
export async function queryPage(
  doc: DynamoDBDocumentClient,
  input: QueryInput,
  o: {
    limit: number;
    next?: string;
    keys: readonly string[];
    partition: [string, string];
    /** A filter DynamoDB cannot apply (on a computed field), applied before the page is counted. */
    keep?: (item: Item) => boolean;
  },
): Promise<Page<Item>> {
  let start = decodeToken(o.next, o.keys);
  if (start && start[o.partition[0]] !== o.partition[1])
    throw badRequest('next: the token belongs to another query');
  const filtered = input.FilterExpression !== undefined || o.keep !== undefined;
  const items: Item[] = [];
  for (let call = 0; call < MAX_CALLS_PER_PAGE && items.length <= o.limit; call++) {
    const missing = o.limit + 1 - items.length;
    const out = await doc.send(
      new QueryCommand({
        ...input,
        Limit: filtered ? Math.max(missing, FILTERED_READ) : missing,
        ExclusiveStartKey: start,
      }),
    );
    const read = (out.Items ?? []) as Item[];
    items.push(...(o.keep ? read.filter(o.keep) : read));
    start = out.LastEvaluatedKey;
    if (!start) break;
  }
  if (items.length > o.limit) {
    const given = items.slice(0, o.limit);
    const last = given[given.length - 1] as Item;
    return { items: given, next: encodeToken(Object.fromEntries(o.keys.map((k) => [k, last[k]]))) };
  }
  return { items, ...(start && { next: encodeToken(start) }) };
}
