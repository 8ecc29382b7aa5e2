import type { BrokerPort } from '#broker/port.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import type { Logger } from './log.ts';

export interface Refusal {
  /** The handler queue the message came from (without `/queue/`). */
  readonly queue: string;
  readonly body: string;
  /** The message's application headers, kept so a replay routes it as before. */
  readonly headers: Record<string, string>;
  readonly reason: string;
  readonly handler: string;
  readonly messageId?: string;
}

/** Parks a refused message in its queue's dead-letter queue with the reason: refused, never lost. */
export async function park(broker: BrokerPort, log: Logger, r: Refusal): Promise<void> {
  const dlq = `/queue/DLQ.${r.queue}`;
  await broker.publish(dlq, r.body, {
    ...r.headers,
    // A parked message waits for a person: it must not expire like the message it was.
    expires: '0',
    dlq_reason: r.reason.slice(0, 1000),
    dlq_original_destination: r.queue,
    dlq_handler: r.handler,
    dlq_refused_at: nowTimestamp(),
    ...(r.messageId !== undefined && { dlq_original_message_id: r.messageId }),
  });
  log.warn('message refused and parked', {
    messageId: r.messageId,
    run_id: r.headers.run_id,
    handler: r.handler,
    reason: r.reason,
    dlq,
  });
}
