import type { BrokerPort } from '#broker/port.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import { deadLetterQueueOf } from '#routes/destinations.ts';

/** Marks a message parked because a part it needs was away (isTransient), not because it is poison. */
export const TRANSIENT_HEADER = 'dlq_transient';
/** How many times the scheduled replay has put the message back (layers/runtime/dead-letter-replay.ts). */
export const REPLAYS_HEADER = 'dlq_replays';

export interface Refusal {
  /** The handler queue the message came from (without `/queue/`). */
  readonly queue: string;
  readonly body: string;
  /** The message's application headers, kept so a replay routes it as before. */
  readonly headers: Record<string, string>;
  readonly reason: string;
  readonly handler: string;
  readonly messageId?: string;
  /**
   * The handler failed on unavailable infrastructure, not on the message: parked with `dlq_transient: true`,
   * which the scheduled replay takes back to the queue. @default false (poison: it waits for a person)
   */
  readonly transient?: boolean;
}

/** Parks a refused message in its queue's dead-letter queue with the reason: refused, never lost. */
export async function park(broker: BrokerPort, log: Logger, r: Refusal): Promise<void> {
  const dlq = `/queue/${deadLetterQueueOf(r.queue)}`;
  await broker.publish(dlq, r.body, {
    // Only the replay count of an earlier parking travels on: a stale dlq_transient must not mark poison.
    ...Object.fromEntries(
      Object.entries(r.headers).filter(([k]) => !k.startsWith('dlq_') || k === REPLAYS_HEADER),
    ),
    // A parked message waits for a person: it must not expire like the message it was.
    expires: '0',
    dlq_reason: r.reason.slice(0, 1000),
    dlq_original_destination: r.queue,
    dlq_handler: r.handler,
    dlq_refused_at: nowTimestamp(),
    ...(r.messageId !== undefined && { dlq_original_message_id: r.messageId }),
    ...(r.transient && { [TRANSIENT_HEADER]: 'true' }),
  });
  const fields = {
    messageId: r.messageId,
    run_id: r.headers.run_id,
    handler: r.handler,
    reason: r.reason,
    dlq,
  };
  if (r.transient)
    log.warn('message parked after a transient failure: it is replayed automatically', {
      ...fields,
      replays: Number(r.headers[REPLAYS_HEADER] ?? 0),
    });
  else log.warn('message refused and parked', fields);
}
