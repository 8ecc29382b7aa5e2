import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import { toMqMessage } from '#messaging/mq-event.ts';
import { REPLAYS_HEADER, TRANSIENT_HEADER } from '#messaging/park.ts';
import { deadLetterQueue, routes } from '#routes/route-table.ts';

// Putting parked messages back: by hand (`testbed dlq replay`, local/dead-letters.ts) and, for messages parked
// after a transient failure (mqHandler in AWS), automatically with back-off (the scheduled pilot watchdog).

/** How long a browse or a move may wait for the broker's next message before giving up. */
const QUIET_MS = 10_000;

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

/** Where a parked message was consumed from: as parked by us, as the broker records it, or the DLQ's name. */
export function originalQueue(queue: string, h: Readonly<Record<string, string>>): string {
  if (h.dlq_original_destination) return h.dlq_original_destination.replace(/^\/queue\//, '');
  const original = h['original-destination'];
  if (original?.startsWith('/queue/')) return original.slice('/queue/'.length);
  return queue.replace(/^DLQ\./, '');
}

/** The broker's redelivery bookkeeping and the browse marker: never sent on with a message. */
const brokerHeader = (name: string): boolean =>
  name.startsWith('AMQ_SCHEDULED_') ||
  ['scheduledJobId', 'redeliveryDelay', 'originalExpiration', 'browser'].includes(name);

/** The headers a replayed message is sent with: its application headers (msg_type, run_id, ...), no dlq_*. */
export function replayHeaders(m: ReceivedMessage): Record<string, string> {
  const { properties } = toMqMessage(m);
  return Object.fromEntries(
    Object.entries(properties).filter(([name]) => !name.startsWith('dlq_') && !brokerHeader(name)),
  );
}

/** Where `moveMessages` sends a message's copy, and with which headers. */
export interface MoveTarget {
  readonly destination: string;
  readonly headers: Record<string, string>;
}

/** A JMS selector string literal. */
export const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** Ids per consumer selector: a selector of a few hundred ids stays small. */
const IDS_PER_SELECTOR = 200;

/**
 * Takes the messages with these ids off the queue, each acked only once the broker has confirmed its copy
 * where `to` says (a crash in between leaves a duplicate, never a loss: handlers take duplicates). Returns
 * the ids moved; one taken by someone else meanwhile is not among them.
 */
export async function moveMessages(
  broker: BrokerPort,
  queue: string,
  ids: readonly string[],
  to: (m: ReceivedMessage) => MoveTarget,
): Promise<Set<string>> {
  const moved = new Set<string>();
  for (let i = 0; i < ids.length; i += IDS_PER_SELECTOR)
    for (const id of await moveSome(broker, queue, ids.slice(i, i + IDS_PER_SELECTOR), to)) moved.add(id);
  return moved;
}

async function moveSome(
  broker: BrokerPort,
  queue: string,
  ids: readonly string[],
  to: (m: ReceivedMessage) => MoveTarget,
): Promise<Set<string>> {
  const wanted = new Set(ids);
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
    { ack: 'client-individual', selector, prefetch: wanted.size },
    async (m) => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, QUIET_MS);
      // Never nacked: ActiveMQ drops a message that fails in a dead-letter queue. Left unacked, it stays.
      if (!wanted.has(m.messageId) || moved.has(m.messageId)) return;
      try {
        const target = to(m);
        await broker.publish(target.destination, m.body, target.headers);
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

/** A parked message back to the queue it was consumed from, without the dlq_* headers (plus `extra`). */
export function backToItsQueue(
  queue: string,
  m: ReceivedMessage,
  extra: Record<string, string> = {},
): MoveTarget {
  return {
    destination: `/queue/${originalQueue(queue, m.headers)}`,
    headers: { ...replayHeaders(m), ...extra },
  };
}

/** When and how often a message parked after a transient failure is put back. */
export interface ReplayPolicy {
  /** The wait after parking before the first replay; it doubles with every replay (1, 2, 4, ... minutes). */
  readonly firstDelayMs: number;
  /** Replays at most; a message parked again after the last one stays parked. */
  readonly maxReplays: number;
}

/** 8 replays over about four hours: an outage longer than that needs a person (`testbed dlq`). */
export const replayPolicy: ReplayPolicy = { firstDelayMs: 60_000, maxReplays: 8 };

export type ReplayDecision =
  /** Put it back now, carrying `replays` (this replay included). */
  | { readonly action: 'replay'; readonly replays: number }
  /** Its back-off has not passed: not before `dueAt` (epoch ms). */
  | { readonly action: 'wait'; readonly dueAt: number }
  /** Its replays are spent: it stays parked, for a person. */
  | { readonly action: 'give-up'; readonly replays: number }
  /** Not parked for a transient failure (poison, refused input, parked by the broker): never touched. */
  | { readonly action: 'leave' };

/** What the scheduled replay does with a parked message, from its headers alone, at `nowMs`. */
export function replayDecision(
  headers: Readonly<Record<string, string>>,
  nowMs: number,
  policy: ReplayPolicy = replayPolicy,
): ReplayDecision {
  if (headers[TRANSIENT_HEADER] !== 'true') return { action: 'leave' };
  const count = headers[REPLAYS_HEADER] ?? '0';
  // A count we did not write is taken as spent: an unreadable count must not mean endless replays.
  const replays = /^\d{1,4}$/.test(count) ? Number(count) : policy.maxReplays;
  if (replays >= policy.maxReplays) return { action: 'give-up', replays };
  const dueAt = parkedAtMs(headers) + policy.firstDelayMs * 2 ** replays;
  return nowMs >= dueAt ? { action: 'replay', replays: replays + 1 } : { action: 'wait', dueAt };
}

/** When it was parked; a message without a readable time is due at once (its replays still bound it). */
function parkedAtMs(headers: Readonly<Record<string, string>>): number {
  try {
    return toEpochMicros(headers.dlq_refused_at ?? '') / 1000;
  } catch {
    return 0;
  }
}

/** One parked message the scheduled replay acted on. */
export interface ReplayedLetter {
  /** The dead-letter queue (without `/queue/`). */
  readonly queue: string;
  /** Its id in the dead-letter queue. */
  readonly id: string;
  readonly handler: string;
  readonly run_id?: string;
  /** Replays including this one (replayed), or spent (given up). */
  readonly replays: number;
}

export interface TransientReplayOutcome {
  /** Put back on their handler queue. */
  readonly replayed: ReplayedLetter[];
  /** Left parked for good, their replays spent: logged once, when this pass marked them so. */
  readonly givenUp: ReplayedLetter[];
  /** Parked for a transient failure, their back-off not yet passed. */
  readonly waiting: number;
  /** Due, but gone from their queue before they could be moved (another pass took them). */
  readonly missed: number;
}

export interface TransientReplayOptions {
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** @default replayPolicy: 1, 2, 4, ... minutes, 8 replays */
  readonly policy?: ReplayPolicy;
}

const handlerOf = (queue: string, h: Readonly<Record<string, string>>): string =>
  h.dlq_handler ?? queue.replace(/^DLQ\.swf\.handler\./, '');

/**
 * One pass of the automatic replay: browses every handler's dead-letter queue for messages parked after a
 * transient failure (`dlq_transient: true`), puts those whose back-off has passed back on their handler queue
 * with `dlq_replays` counted up, and logs each. One whose replays are spent is parked again in its
 * dead-letter queue without `dlq_transient` (so later passes, and their logs, pass it by) and logged as given
 * up. Anything parked without `dlq_transient` is never touched. Overlapping passes are safe: each message is
 * consumed by one of them.
 */
export async function replayTransientDeadLetters(
  broker: BrokerPort,
  log: Logger,
  o: TransientReplayOptions = {},
): Promise<TransientReplayOutcome> {
  const now = o.now ?? Date.now;
  const policy = o.policy ?? replayPolicy;
  const queues = routes.map(deadLetterQueue);
  const browsed = await Promise.all(
    queues.map(async (queue) => ({
      queue,
      parked: await browseQueue(broker, queue, `${TRANSIENT_HEADER} = 'true'`),
    })),
  );
  const replayed: ReplayedLetter[] = [];
  const givenUp: ReplayedLetter[] = [];
  let waiting = 0;
  let missed = 0;
  for (const { queue, parked } of browsed) {
    const due = new Map<string, { m: ReceivedMessage; d: Extract<ReplayDecision, { replays: number }> }>();
    for (const m of parked) {
      const d = replayDecision(m.headers, now(), policy);
      if (d.action === 'wait') waiting++;
      else if (d.action !== 'leave') due.set(m.messageId, { m, d });
    }
    const moved = await moveMessages(broker, queue, [...due.keys()], (m) => {
      const { d } = due.get(m.messageId) as { d: Extract<ReplayDecision, { replays: number }> };
      // The count travels with the message, so that parking it again (park()) keeps it.
      return d.action === 'replay'
        ? backToItsQueue(queue, m, { [REPLAYS_HEADER]: String(d.replays) })
        : givenUpTarget(queue, m, d.replays, now());
    });
    for (const [id, { m, d }] of due) {
      if (!moved.has(id)) {
        missed++;
        continue;
      }
      const l: ReplayedLetter = {
        queue,
        id,
        handler: handlerOf(queue, m.headers),
        ...(m.headers.run_id !== undefined && { run_id: m.headers.run_id }),
        replays: d.replays,
      };
      const fields = {
        run_id: l.run_id,
        handler: l.handler,
        replays: l.replays,
        reason: m.headers.dlq_reason,
      };
      if (d.action === 'replay') {
        replayed.push(l);
        log.info('parked message replayed after a transient failure', { ...fields, message_id: id, queue });
      } else {
        givenUp.push(l);
        log.warn('parked message given up: its transient failure outlasted its replays', {
          ...fields,
          message_id: id,
          queue,
        });
      }
    }
  }
  return { replayed, givenUp, waiting, missed };
}

function givenUpTarget(queue: string, m: ReceivedMessage, replays: number, nowMs: number): MoveTarget {
  const { properties } = toMqMessage(m);
  const kept = Object.entries(properties).filter(
    ([name]) => name !== TRANSIENT_HEADER && !brokerHeader(name),
  );
  return {
    destination: `/queue/${queue}`,
    headers: {
      ...Object.fromEntries(kept),
      expires: '0',
      dlq_reason: `${replays} automatic replays spent; ${properties.dlq_reason ?? ''}`.slice(0, 1000),
      dlq_given_up_at: fromEpochMicros(Math.round(nowMs * 1000)),
    },
  };
}
