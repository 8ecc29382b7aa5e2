import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type BatchWriteCommandOutput } from '@aws-sdk/lib-dynamodb';
import { defined } from '#contract/fields.ts';
import type { Message } from '#contract/messages.ts';
import { fromEpochMicros, nowTimestamp } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import { documents } from '#tables/documents.ts';
import { type MqMessage, messageBody } from './mq-event.ts';

/** How much of a message's content the record keeps: enough to read, bounded for DynamoDB's 400 KB items. */
export const CONTENT_LIMIT = 4096;
/** The partition of refused messages that name no run. */
export const NO_RUN = '-';

/** One message a handler took (`message`) or refused (`refused`, the reason). */
export interface TakenMessage {
  readonly m: MqMessage;
  readonly message?: Message;
  readonly refused?: string;
}

/** What recording needs; handlers whose deps lack the tables (unit tests) record nothing. */
interface RecorderDeps {
  readonly log: Logger;
  readonly db?: DynamoDBClient;
  readonly tableNames?: Readonly<Partial<Record<'messages' | 'lookups', string>>>;
}

type Item = Record<string, unknown>;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const idOf = (v: unknown): string | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : text(v);

/**
 * The messages item: keyed `<created_at>#<msg_type>#<hash of the body>`, so a redelivered or repeated
 * message writes the same item again and the partition reads in time order.
 */
export function messageItem(t: TakenMessage, handler: string, recordedAt: string): Item {
  const body = messageBody(t.m).toString('utf8');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  const common = {
    handler,
    recorded_at: recordedAt,
    broker_message_id: t.m.messageID,
    redelivered: t.m.redelivered || undefined,
  };
  const bounded = (s: string) =>
    s.length > CONTENT_LIMIT
      ? { content: s.slice(0, CONTENT_LIMIT), content_truncated: true }
      : { content: s };
  if (t.message) {
    const msg = t.message;
    const content = msg.content as Record<string, unknown>;
    return defined<Item>({
      run_id: msg.run_id,
      msg_key: `${msg.created_at}#${msg.msg_type}#${hash}`,
      msg_type: msg.msg_type,
      sender: msg.sender,
      namespace: msg.namespace,
      execution_id: text(content.execution_id) ?? text(msg.execution_id),
      task_id: typeof content.task_id === 'number' ? content.task_id : undefined,
      created_at: msg.created_at,
      ...bounded(JSON.stringify(content)),
      ...common,
    });
  }
  // A refused body may be anything: take what the headers, or a body that parses, say of it.
  let peek: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      peek = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the reason says so.
  }
  const headers = t.m.properties;
  const msgType = text(headers.msg_type) ?? text(peek.msg_type) ?? handler;
  const createdAt = Number.isFinite(t.m.timestamp)
    ? fromEpochMicros(Math.round(t.m.timestamp * 1000))
    : recordedAt;
  const runId = idOf(headers.run_id) ?? idOf(peek.run_id);
  return defined<Item>({
    run_id: runId !== undefined && /^\d+$/.test(runId) ? runId : NO_RUN,
    msg_key: `${createdAt}#${msgType}#${hash}`,
    msg_type: msgType,
    sender: text(peek.sender),
    namespace: text(headers.namespace) ?? text(peek.namespace),
    created_at: createdAt,
    refused: t.refused ?? 'refused',
    ...bounded(body),
    ...common,
  });
}

/** Lookup items (execution id or task id -> run) the accepted messages carry, one per key. */
export function lookupItems(taken: readonly TakenMessage[]): Item[] {
  const items = new Map<string, Item>();
  for (const { message: msg } of taken) {
    if (!msg) continue;
    const content = msg.content as Record<string, unknown>;
    const executionId = text(content.execution_id) ?? text(msg.execution_id);
    if (executionId !== undefined)
      items.set(
        `execution:${executionId}`,
        defined<Item>({ lookup: `execution:${executionId}`, run_id: msg.run_id, namespace: msg.namespace }),
      );
    if (typeof content.task_id === 'number')
      items.set(`task:${content.task_id}`, { lookup: `task:${content.task_id}`, run_id: msg.run_id });
  }
  return [...items.values()];
}

const WRITE_LIMIT = 25;
const MAX_ATTEMPTS = 6;

/**
 * Records what a handler took, with one batch write per 25 items. Monitoring never stops the data flow: a
 * failure is logged, not thrown (a redelivered batch records again, under the same keys).
 */
export async function recordMessages(
  deps: RecorderDeps,
  handler: string,
  taken: readonly TakenMessage[],
): Promise<void> {
  const messages = deps.tableNames?.messages;
  const lookups = deps.tableNames?.lookups;
  if (!deps.db || !messages || !lookups || taken.length === 0) return;
  try {
    const recordedAt = nowTimestamp();
    const byKey = new Map<string, Item>();
    for (const t of taken) {
      const item = messageItem(t, handler, recordedAt);
      byKey.set(`${item.run_id} ${item.msg_key}`, item);
    }
    const requests = [
      ...[...byKey.values()].map((Item) => ({ table: messages, Item })),
      ...lookupItems(taken).map((Item) => ({ table: lookups, Item })),
    ];
    const chunks: (typeof requests)[] = [];
    for (let i = 0; i < requests.length; i += WRITE_LIMIT) chunks.push(requests.slice(i, i + WRITE_LIMIT));
    await Promise.all(chunks.map((chunk) => writeChunk(deps.db as DynamoDBClient, chunk)));
  } catch (error) {
    deps.log.warn('messages not recorded for the monitor', {
      handler,
      messages: taken.length,
      run_ids: [...new Set(taken.map((t) => t.message?.run_id).filter(Boolean))],
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

async function writeChunk(
  db: DynamoDBClient,
  chunk: readonly { table: string; Item: Item }[],
): Promise<void> {
  let pending: BatchWriteCommandOutput['UnprocessedItems'] = {};
  for (const { table, Item } of chunk) {
    pending[table] = [...(pending[table] ?? []), { PutRequest: { Item } }];
  }
  for (let attempt = 1; pending && Object.keys(pending).length > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS) throw new Error(`items still unwritten after ${MAX_ATTEMPTS} attempts`);
    if (attempt > 1)
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(1_000, 25 * 2 ** attempt)));
    const out: BatchWriteCommandOutput = await documents(db).send(
      new BatchWriteCommand({ RequestItems: pending }),
    );
    pending = out.UnprocessedItems;
  }
}
