import { defined } from '#contract/fields.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { queryAll } from '#tables/pages.ts';
import { type Item, type Page, queryPage } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';

/** A message a handler took or refused, as recorded by `layers/messaging/message-log.ts`. */
export interface MessageRow {
  readonly run_id: string;
  readonly msg_type: string;
  readonly sender?: string;
  readonly namespace?: string;
  readonly execution_id?: string;
  readonly created_at: string;
  readonly recorded_at?: string;
  readonly handler?: string;
  /** Why the message was refused (parked in the dead-letter queue). */
  readonly refused?: string;
  /** The content (the whole body when refused), parsed when it was recorded whole. */
  readonly content?: unknown;
  readonly content_truncated?: boolean;
  /** What matters of the content, as every face shows it in columns: the STF file it is about… */
  readonly file?: string;
  readonly slice_id?: number;
  /** …its state (a slice's done/failed, a DAQ message's state)… */
  readonly state?: string;
  /** …for a result, processed_at − requested_at in ms… */
  readonly delay_ms?: number;
  /** …and its error: why it was refused, or the error a result reports. */
  readonly error?: string;
}

/** The fields of a message's content that the faces show as columns (see MessageRow). */
function contentColumns(msgType: string, content: unknown, refused: unknown) {
  const c =
    content !== null && typeof content === 'object' && !Array.isArray(content)
      ? (content as Record<string, unknown>)
      : {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const micros = (v: unknown) => {
    try {
      return typeof v === 'string' ? toEpochMicros(v) : undefined;
    } catch {
      return undefined;
    }
  };
  const [requested, processed] = [micros(c.requested_at), micros(c.processed_at)];
  return {
    file: str(c.filename) ?? str(c.file),
    slice_id: typeof c.slice_id === 'number' ? c.slice_id : undefined,
    state: str(c.state),
    delay_ms:
      msgType === 'slice_result' && requested !== undefined && processed !== undefined
        ? (processed - requested) / 1000
        : undefined,
    error: str(refused) ?? str(c.error),
  };
}

export function messageRow(m: Item): MessageRow {
  let content: unknown = m.content;
  if (typeof content === 'string' && m.content_truncated !== true) {
    try {
      content = JSON.parse(content);
    } catch {
      // A refused body that is not JSON stays text.
    }
  }
  const row = {
    run_id: String(m.run_id),
    msg_type: String(m.msg_type),
    sender: m.sender,
    namespace: m.namespace,
    execution_id: m.execution_id,
    created_at: String(m.created_at),
    recorded_at: m.recorded_at,
    handler: m.handler,
    refused: m.refused,
    content,
    content_truncated: m.content_truncated,
    ...contentColumns(String(m.msg_type), content, m.refused),
  };
  return defined(row) as unknown as MessageRow;
}

export interface MessageListParams {
  readonly runId: string;
  readonly msgType?: string;
  readonly sender?: string;
  /** Canonical timestamps bounding created_at (the sort key starts with it). */
  readonly since?: string;
  readonly until?: string;
  /** @default 'desc', newest first */
  readonly order?: 'asc' | 'desc';
  readonly limit: number;
  readonly next?: string;
}

/** A run's messages, newest first (oldest first with order asc): the time range is a key condition, type and sender a filter. */
export async function listMessages(c: MonitorContext, p: MessageListParams): Promise<Page<MessageRow>> {
  const values: Record<string, unknown> = { ':run': p.runId };
  let range = '';
  if (p.since !== undefined && p.until !== undefined) {
    range = ' AND msg_key BETWEEN :from AND :to';
    Object.assign(values, { ':from': p.since, ':to': `${p.until}\uffff` });
  } else if (p.since !== undefined) {
    range = ' AND msg_key >= :from';
    values[':from'] = p.since;
  } else if (p.until !== undefined) {
    range = ' AND msg_key <= :to';
    values[':to'] = `${p.until}\uffff`;
  }
  const filters: string[] = [];
  const names: Record<string, string> = {};
  if (p.msgType !== undefined) {
    filters.push('#msg_type = :msg_type');
    names['#msg_type'] = 'msg_type';
    values[':msg_type'] = p.msgType;
  }
  if (p.sender !== undefined) {
    filters.push('#sender = :sender');
    names['#sender'] = 'sender';
    values[':sender'] = p.sender;
  }
  const page = await queryPage(
    docOf(c),
    {
      TableName: c.tableNames.messages,
      KeyConditionExpression: `run_id = :run${range}`,
      ExpressionAttributeValues: values,
      ScanIndexForward: p.order === 'asc',
      ...(filters.length > 0 && { FilterExpression: filters.join(' AND '), ExpressionAttributeNames: names }),
    },
    { limit: p.limit, next: p.next, keys: ['run_id', 'msg_key'], partition: ['run_id', p.runId] },
  );
  return { items: page.items.map(messageRow), ...(page.next && { next: page.next }) };
}

/** The most message records one digest reads. */
export const MAX_DIGEST_READ = 20_000;
/** The DAQ broadcasts that mark a run's phases. */
export const eventTypes = ['run_imminent', 'start_run', 'pause_run', 'resume_run', 'end_run', 'run_stop'];

/** What a run's messages say in short: its DAQ events, refusals and senders. */
export interface MessageDigest {
  readonly events: { type: string; time: string }[];
  readonly refused: { time: string; msg_type: string; reason: string }[];
  readonly senders: Map<string, { messages: number; last_seen: string; types: Set<string> }>;
  readonly messages: number;
  readonly truncated: boolean;
}

/** Reads a run's message records (keys and a few fields only, up to MAX_DIGEST_READ) into a digest. */
export async function messageDigest(c: MonitorContext, runId: string): Promise<MessageDigest> {
  const { items, truncated } = await queryAll(
    docOf(c),
    {
      TableName: c.tableNames.messages,
      KeyConditionExpression: 'run_id = :run',
      ProjectionExpression: 'msg_type, sender, created_at, refused',
      ExpressionAttributeValues: { ':run': runId },
    },
    MAX_DIGEST_READ,
  );
  const events: MessageDigest['events'] = [];
  const refused: MessageDigest['refused'] = [];
  const senders: MessageDigest['senders'] = new Map();
  for (const m of items) {
    const type = String(m.msg_type);
    const time = String(m.created_at);
    if (typeof m.refused === 'string') refused.push({ time, msg_type: type, reason: m.refused });
    else if (eventTypes.includes(type)) events.push({ type, time });
    if (typeof m.sender === 'string') {
      const s = senders.get(m.sender) ?? { messages: 0, last_seen: time, types: new Set<string>() };
      s.messages++;
      s.types.add(type);
      if (time > s.last_seen) s.last_seen = time;
      senders.set(m.sender, s);
    }
  }
  return { events, refused, senders, messages: items.length, truncated };
}
