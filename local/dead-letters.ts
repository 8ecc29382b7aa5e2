import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { fromEpochMicros } from '#contract/timestamps.ts';
import { destinations, splitDestination } from '#routes/destinations.ts';
import { deadLetterQueue, routes } from '#routes/route-table.ts';
import { toMqMessage } from '#runtime/mq-event.ts';

// `testbed dlq list|replay`: what was parked in the dead-letter queues, and putting it back. A message is
// parked with a reason by a handler (refused input, mqHandler and the domain's refuse()) or by the local
// runner (a handler that failed on every delivery); the broker parks what the runner could not, without one.

/** The slices queue's dead-letter queue: transformers that nack a slice leave it there. */
const slicesDeadLetterQueue = `DLQ.${splitDestination(destinations.slices).name}`;
/** What `--handler` calls the transformers, the consumers of the slices queue. */
const TRANSFORMER = 'transformer';

/** One parked message, as `testbed dlq list` shows it. */
export interface DeadLetter {
  /** The dead-letter queue (without `/queue/`). */
  readonly queue: string;
  /** The broker's id of the parked message: what `replay --id` takes. */
  readonly id: string;
  /** The id the message had before it was parked, when a handler or the runner parked a copy. */
  readonly original_id?: string;
  /** The name of the handler that refused it (its message type, or `headerless`), or `transformer` for slices. */
  readonly handler: string;
  readonly run_id?: string;
  readonly msg_type?: string;
  readonly namespace?: string;
  /** Why it was parked; absent when the broker parked it after its redeliveries (no reason recorded). */
  readonly reason?: string;
  /** When it was parked (`dlq_refused_at`), else when the broker last sent it. */
  readonly parked_at?: string;
  /** The queue a replay sends it to (without `/queue/`). */
  readonly original_queue: string;
  /** Body size in bytes. */
  readonly size: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface DeadLetterFilter {
  /** A handler by name or folder name (`stf_gen`, `stf-gen`, `headerless`), or `transformer` for slices. */
  readonly handler?: string;
  readonly runId?: string;
  /** A parked message's id, as listed. */
  readonly id?: string;
}

/** Every dead-letter queue: one per handler queue of the route table, and the slices queue's. */
export function deadLetterQueues(): string[] {
  return [...routes.map(deadLetterQueue), slicesDeadLetterQueue];
}

function queuesOf(handler: string | undefined): string[] {
  if (handler === undefined) return deadLetterQueues();
  const name = handler.replaceAll('-', '_');
  if (name === TRANSFORMER) return [slicesDeadLetterQueue];
  const route = routes.find((r) => r.name === name);
  if (!route) {
    const known = [...routes.map((r) => r.name), TRANSFORMER].join(', ');
    throw new Error(`no handler "${handler}": one of ${known}`);
  }
  return [deadLetterQueue(route)];
}

/** A JMS selector string literal. */
const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;

function selectorOf(f: DeadLetterFilter): string | undefined {
  const terms = [
    ...(f.runId !== undefined ? [`run_id = ${literal(f.runId)}`] : []),
    ...(f.id !== undefined ? [`JMSMessageID = ${literal(f.id)}`] : []),
  ];
  return terms.length > 0 ? terms.join(' AND ') : undefined;
}

/** Lists the parked messages the filter selects, oldest first; the queues keep them. */
export async function listDeadLetters(
  broker: BrokerPort,
  filter: DeadLetterFilter = {},
): Promise<DeadLetter[]> {
  const selector = selectorOf(filter);
  const found = await Promise.all(queuesOf(filter.handler).map((q) => browse(broker, q, selector)));
  return found.flat().sort((a, b) => (a.parked_at ?? '').localeCompare(b.parked_at ?? ''));
}

/** How long a browse or a replay may wait for the broker's next message before giving up. */
const QUIET_MS = 10_000;

async function browse(broker: BrokerPort, queue: string, selector?: string): Promise<DeadLetter[]> {
  return (await browseQueue(broker, queue, selector)).map((m) => deadLetter(queue, m));
}

/** The messages on a queue now, without taking them (ActiveMQ ends a browse with `browser: end`). */
export async function browseQueue(
  broker: BrokerPort,
  queue: string,
  selector?: string,
): Promise<ReceivedMessage[]> {
  const messages: ReceivedMessage[] = [];
  let done!: () => void;
  let failed!: (error: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  let timer = setTimeout(() => failed(new Error(`${queue}: the broker did not finish a browse`)), QUIET_MS);
  const sub = broker.subscribe(`/queue/${queue}`, { ack: 'auto', browse: true, selector }, (m) => {
    clearTimeout(timer);
    if (m.headers.browser === 'end') {
      done();
      return;
    }
    messages.push(m);
    timer = setTimeout(() => failed(new Error(`${queue}: the broker did not finish a browse`)), QUIET_MS);
  });
  try {
    await Promise.all([sub.ready, ended]);
  } finally {
    clearTimeout(timer);
    await sub.unsubscribe();
  }
  return messages;
}

function deadLetter(queue: string, m: ReceivedMessage): DeadLetter {
  const h = m.headers;
  const handler = queue === slicesDeadLetterQueue ? TRANSFORMER : (h.dlq_handler ?? handlerOf(queue));
  const brokerTime = Number(h.timestamp);
  return defined({
    queue,
    id: m.messageId,
    original_id: h.dlq_original_message_id,
    handler,
    run_id: h.run_id,
    msg_type: h.msg_type,
    namespace: h.namespace,
    reason: h.dlq_reason,
    parked_at:
      h.dlq_refused_at ??
      (Number.isSafeInteger(brokerTime) && brokerTime > 0 ? fromEpochMicros(brokerTime * 1000) : undefined),
    original_queue: originalQueue(queue, h),
    size: Buffer.byteLength(m.body),
    body: m.body,
    headers: h,
  });
}

/** `DLQ.swf.handler.stf_gen` -> `stf_gen` */
const handlerOf = (queue: string): string => queue.replace(/^DLQ\.swf\.handler\./, '');

/** Where the message was consumed from: as parked by us, as the broker records it, or the DLQ's name. */
function originalQueue(queue: string, h: Readonly<Record<string, string>>): string {
  if (h.dlq_original_destination) return h.dlq_original_destination.replace(/^\/queue\//, '');
  const original = h['original-destination'];
  if (original?.startsWith('/queue/')) return original.slice('/queue/'.length);
  return queue.replace(/^DLQ\./, '');
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Bookkeeping of the parking and of the broker's redeliveries: a replayed message starts afresh. */
const parkingHeader = (name: string): boolean =>
  name.startsWith('dlq_') ||
  name.startsWith('AMQ_SCHEDULED_') ||
  ['scheduledJobId', 'redeliveryDelay', 'originalExpiration', 'browser'].includes(name);

/** The headers a replayed message is sent with: its application headers (msg_type, run_id, ...), no dlq_*. */
export function replayHeaders(m: ReceivedMessage): Record<string, string> {
  const { properties } = toMqMessage(m);
  return Object.fromEntries(Object.entries(properties).filter(([name]) => !parkingHeader(name)));
}

export interface ReplayOutcome {
  /** What went back to its queue. */
  readonly replayed: DeadLetter[];
  /** Listed but not replayed (taken by someone else meanwhile, or refused by the broker). */
  readonly missed: DeadLetter[];
  /** A browse shows a few hundred messages per queue at most (ActiveMQ's maxBrowsePageSize): replay again. */
  readonly moreMayRemain: boolean;
}

/** Ids per consumer selector: a selector of a few hundred ids stays small. */
const IDS_PER_SELECTOR = 200;
/** ActiveMQ's default maxBrowsePageSize: a browse that returns this many may have stopped short. */
export const BROWSE_PAGE = 400;

/**
 * Puts the parked messages the filter selects back on the queues they were consumed from, without the
 * dlq_* headers. Only the messages listed when the replay starts are moved, each acked from its dead-letter
 * queue once the broker has confirmed its copy on the original queue (a crash in between leaves a
 * duplicate, never a loss: handlers take duplicates). One that fails again is parked again, under a new id.
 */
export async function replayDeadLetters(
  broker: BrokerPort,
  filter: DeadLetterFilter = {},
): Promise<ReplayOutcome> {
  const selector = selectorOf(filter);
  const replayed: DeadLetter[] = [];
  const missed: DeadLetter[] = [];
  let moreMayRemain = false;
  for (const queue of queuesOf(filter.handler)) {
    const listed = await browse(broker, queue, selector);
    if (listed.length >= BROWSE_PAGE) moreMayRemain = true;
    for (let i = 0; i < listed.length; i += IDS_PER_SELECTOR) {
      const chunk = listed.slice(i, i + IDS_PER_SELECTOR);
      const moved = await move(broker, queue, chunk);
      for (const letter of chunk) (moved.has(letter.id) ? replayed : missed).push(letter);
    }
  }
  return { replayed, missed, moreMayRemain };
}

/** Takes the listed messages off the queue, each after its copy is on its original queue; returns their ids. */
async function move(broker: BrokerPort, queue: string, letters: readonly DeadLetter[]): Promise<Set<string>> {
  const wanted = new Set(letters.map((l) => l.id));
  const moved = new Set<string>();
  let settled = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let quiet = setTimeout(finish, QUIET_MS);
  const selector = `JMSMessageID IN (${[...wanted].map(literal).join(', ')})`;
  const sub = broker.subscribe(
    `/queue/${queue}`,
    { ack: 'client-individual', selector, prefetch: letters.length },
    async (m) => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, QUIET_MS);
      // Never nacked: ActiveMQ drops a message that fails in a dead-letter queue. Left unacked, it stays.
      if (!wanted.has(m.messageId) || moved.has(m.messageId)) return;
      try {
        await broker.publish(`/queue/${originalQueue(queue, m.headers)}`, m.body, replayHeaders(m));
        m.ack();
        moved.add(m.messageId);
      } finally {
        if (++settled >= wanted.size) finish();
      }
    },
  );
  try {
    await sub.ready;
    await finished;
  } finally {
    clearTimeout(quiet);
    await sub.unsubscribe();
  }
  return moved;
}
