import {
  type DynamoDBDocumentClient,
  paginateQuery,
  paginateScan,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

export type Item = Record<string, unknown>;

/** What a read of every page gave: `truncated` says the cap was reached and items may follow. */
export interface AllItems<T> {
  readonly items: T[];
  readonly truncated: boolean;
}

type Unpaged<I> = Omit<I, 'Limit' | 'ExclusiveStartKey'>;

/** DynamoDB's own page bound is 1 MB; a capped read also asks for at most this many items a page. */
const MAX_PAGE_ITEMS = 1000;
const ALL = Number.POSITIVE_INFINITY;

/** The paginator's settings: a capped read asks for no more items a page than it keeps. */
const pager = (client: DynamoDBDocumentClient, cap: number) => ({
  client,
  pageSize: Number.isFinite(cap) ? Math.min(MAX_PAGE_ITEMS, cap) : undefined,
});

/** Every item a Query matches, up to `cap` (default: all of them). */
export const queryAll = <T = Item>(
  doc: DynamoDBDocumentClient,
  input: Unpaged<QueryCommandInput>,
  cap = ALL,
) => collect<T>(paginateQuery(pager(doc, cap), { ...input }), cap);

/** Every item a Scan reads, up to `cap` (default: all of them). */
export const scanAll = <T = Item>(doc: DynamoDBDocumentClient, input: Unpaged<ScanCommandInput>, cap = ALL) =>
  collect<T>(paginateScan(pager(doc, cap), { ...input }), cap);

async function collect<T>(
  pages: AsyncIterable<{ Items?: Item[]; LastEvaluatedKey?: Item }>,
  cap: number,
): Promise<AllItems<T>> {
  const items: T[] = [];
  for await (const page of pages) {
    items.push(...((page.Items ?? []) as T[]));
    if (items.length > cap) return { items: items.slice(0, cap), truncated: true };
    // DynamoDB gives LastEvaluatedKey whenever a page is full, even when nothing follows: capped then too.
    if (items.length === cap) return { items, truncated: page.LastEvaluatedKey !== undefined };
  }
  return { items, truncated: false };
}
