import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { defined } from '#contract/fields.ts';
import { fromEpochMicros } from '#contract/timestamps.ts';
import { destinations, runSlicesDeadLetterQueue, splitDestination } from '#routes/destinations.ts';
import { deadLetterQueue, routes } from '#routes/route-table.ts';
import {
  backToItsQueue,
  browseQueue,
  literal,
  moveMessages,
  originalQueue,
  replayHeaders,
} from '#runtime/dead-letter-replay.ts';

export { browseQueue, replayHeaders };

// `testbed dlq list|replay`: what was parked in the dead-letter queues, and putting it back. A message is
// parked with a reason by a handler (refused input, mqHandler and the domain's refuse()) or by the local
// runner (a handler that failed on every delivery); the broker parks what the runner could not, without one.

/**
 * The slice queues' dead-letter queues, the shared queue's and the one of every run's own queue: transformers
 * park there the slices they cannot take.
 */
const slicesDeadLetterQueues = [
  `DLQ.${splitDestination(destinations.slices).name}`,
  runSlicesDeadLetterQueue,
];
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
  return [...routes.map(deadLetterQueue), ...slicesDeadLetterQueues];
}

function queuesOf(handler: string | undefined): string[] {
  if (handler === undefined) return deadLetterQueues();
  const name = handler.replaceAll('-', '_');
  if (name === TRANSFORMER) return slicesDeadLetterQueues;
  const route = routes.find((r) => r.name === name);
  if (!route) {
    const known = [...routes.map((r) => r.name), TRANSFORMER].join(', ');
    throw new Error(`no handler "${handler}": one of ${known}`);
  }
  return [deadLetterQueue(route)];
}

function selectorOf(f: DeadLetterFilter): string | undefined {
  const terms = [
    ...(f.runId !== undefined ? [`run_id = ${literal(f.runId)}`] : []),
    ...(f.id !== undefined ? [`JMSMessageID = ${literal(f.id)}`] : []),
  ];
  return terms.length > 0 ? terms.join(' AND ') : undefined;
}

/** Lists the parked messages the filter selects, newest first, as every list; the queues keep them. */
export async function listDeadLetters(
  broker: BrokerPort,
  filter: DeadLetterFilter = {},
): Promise<DeadLetter[]> {
  const selector = selectorOf(filter);
  const found = await Promise.all(queuesOf(filter.handler).map((q) => browse(broker, q, selector)));
  return found.flat().sort((a, b) => {
    const [ta, tb] = [a.parked_at ?? '', b.parked_at ?? ''];
    return ta === tb ? 0 : ta < tb ? 1 : -1;
  });
}

async function browse(broker: BrokerPort, queue: string, selector?: string): Promise<DeadLetter[]> {
  return (await browseQueue(broker, queue, selector)).map((m) => deadLetter(queue, m));
}

function deadLetter(queue: string, m: ReceivedMessage): DeadLetter {
  const h = m.headers;
  const handler = slicesDeadLetterQueues.includes(queue) ? TRANSFORMER : (h.dlq_handler ?? handlerOf(queue));
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

export interface ReplayOutcome {
  /** What went back to its queue. */
  readonly replayed: DeadLetter[];
  /** Listed but not replayed (taken by someone else meanwhile, or refused by the broker). */
  readonly missed: DeadLetter[];
  /** A browse shows a few hundred messages per queue at most (ActiveMQ's maxBrowsePageSize): replay again. */
  readonly moreMayRemain: boolean;
}

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
    const moved = await moveMessages(
      broker,
      queue,
      listed.map((l) => l.id),
      (m) => backToItsQueue(queue, m),
    );
    for (const letter of listed) (moved.has(letter.id) ? replayed : missed).push(letter);
  }
  return { replayed, missed, moreMayRemain };
}
