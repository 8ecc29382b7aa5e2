import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
// Types only: the contract (and zod, ~15 MB of a pilot's memory) loads on the rare paths that need it.
import type { ContentInput, Message } from '#contract/messages.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import { canonicalSlice } from '#contract/wire.ts';
import type { Logger } from '#log/logger.ts';
import { toMqMessage } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import type { SlicePayloads } from './payloads.ts';

/** Who the transformer is, as its messages say (every slice_result among them). */
export interface TransformerIdentity {
  readonly hostname: string;
  readonly id: string;
  readonly pilot_id: string;
  readonly task_id?: number;
  readonly attempt?: number;
}

/** What handling one slice uses of its transformer. */
export interface SliceHandling {
  readonly broker: BrokerPort;
  readonly log: Logger;
  readonly payloads: SlicePayloads;
  readonly identity: TransformerIdentity;
  /** Publishes the slice_result; fails only when the broker connection is closed or refuses it. */
  readonly report: (content: ContentInput<'slice_result'>) => Promise<void>;
  /** The queue the slices come from (without `/queue/`): a refused one is parked as from there. */
  readonly queue: string;
}

/**
 * Runs a slice's payload and reports its slice_result, then acks the slice: what became of it is `done` or
 * `failed` (as reported), or `parked` when it could not be read or reported.
 */
export async function handleSlice(
  m: ReceivedMessage,
  h: SliceHandling,
): Promise<'done' | 'failed' | 'parked'> {
  const processingStartAt = nowTimestamp();
  let slice: Message<'slice'>;
  try {
    slice = canonicalSlice(m.body, m.headers) ?? (await fullyDecodedSlice(m));
  } catch (error) {
    // Without a readable slice there is nothing to report against, now or on any redelivery: park it.
    await giveUp(m, h, `unreadable slice: ${(error as Error).message}`);
    return 'parked';
  }
  const c = slice.content;
  const outcome = await h.payloads.run(c);
  const processedAt = nowTimestamp();
  try {
    await h.report({
      requested_at: slice.created_at,
      processing_start_at: processingStartAt,
      processed_at: processedAt,
      state: outcome.state,
      ...(outcome.state === 'failed' ? { error: outcome.error } : {}),
      ...h.identity,
      filename: c.filename,
      slice_id: c.slice_id,
      start: c.start,
      end: c.end,
      // Upstream's requests carry an id their results answer to.
      ...(c.req_id !== undefined && { req_id: c.req_id }),
      ...(outcome.state === 'done' ? { result: outcome.result } : {}),
      // Its delay includes an earlier delivery (a pilot that died or stopped holding it).
      ...(m.redelivered && { redelivered: true }),
    });
  } catch (error) {
    // publish() waits out a lost connection, so it fails only when closed or refused by the broker.
    h.log.error('slice_result not sent', {
      filename: c.filename,
      slice_id: c.slice_id,
      error: (error as Error).message,
    });
    await giveUp(m, h, `slice_result not sent: ${(error as Error).message}`);
    return 'parked';
  }
  m.ack();
  if (outcome.state === 'failed')
    h.log.warn('slice failed', { filename: c.filename, slice_id: c.slice_id, error: outcome.error });
  return outcome.state;
}

/**
 * Parks a slice this transformer cannot finish in the slice queue's dead-letter queue with the reason,
 * then acks it. Never a NACK: without the broker's redelivery plugin ActiveMQ parks a nacked message at
 * once with no reason. If even parking fails (the connection is closed), the slice stays unacked and
 * the broker hands it to another transformer.
 */
async function giveUp(m: ReceivedMessage, h: SliceHandling, reason: string): Promise<void> {
  try {
    await park(h.broker, h.log, {
      queue: h.queue,
      body: m.body,
      headers: toMqMessage(m).properties,
      reason,
      handler: 'transformer',
      messageId: m.messageId,
    });
    m.ack();
  } catch (error) {
    h.log.error('slice not parked: left to the broker for redelivery', {
      messageId: m.messageId,
      reason,
      error: (error as Error).message,
    });
  }
}

/** The contract, loaded on first use: a pilot that only sees canonical slices never needs zod. */
export const contract = () => import('#contract/messages.ts');

/** The contract's decoding, for slices in any other form; throws ContractError for what it refuses. */
async function fullyDecodedSlice(m: ReceivedMessage): Promise<Message<'slice'>> {
  const { decodeMessage, ContractError } = await contract();
  const msg = decodeMessage(m.body, {
    headers: m.headers,
    receivedAt: Number(m.headers.timestamp) || Date.now(),
  });
  if (msg.msg_type !== 'slice') throw new ContractError(`msg_type "${msg.msg_type}" on the slice queue`);
  return msg;
}
