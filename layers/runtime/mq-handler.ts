import type { BrokerPort } from '#broker/port.ts';
import { ContractError, decodeMessage, type Message, type MsgType } from '#contract/messages.ts';
import type { Logger } from './log.ts';
import { recordMessages, type TakenMessage } from './message-log.ts';
import { type MqEvent, messageBody } from './mq-event.ts';
import { park, type Refusal } from './park.ts';

/** What every handler needs from its surroundings; the domain function gets more (tables, stores). */
export interface HandlerDeps {
  readonly broker: BrokerPort;
  readonly log: Logger;
}

export interface BatchOutcome {
  readonly accepted: number;
  readonly refused: number;
}

/**
 * Turns a domain function over parsed messages into a Lambda handler for Amazon MQ events.
 * A message the contract refuses is parked in the queue's dead-letter queue with the reason in a
 * `dlq_reason` header, and the rest of the batch goes on: throwing would make the broker redeliver
 * the good messages with it, six times, and then park them too. Errors of the domain function do
 * throw, so the whole batch is redelivered (no partial batch response on Amazon MQ).
 */
export function mqHandler<T extends MsgType, D extends HandlerDeps>(
  msgType: T,
  deps: () => Promise<D>,
  handle: (messages: Message<T>[], deps: D) => Promise<void>,
): (event: MqEvent) => Promise<BatchOutcome> {
  return async (event) => {
    const d = await deps();
    const accepted: Message<T>[] = [];
    const taken: TakenMessage[] = [];
    const refusals: Refusal[] = [];
    for (const m of event.messages) {
      try {
        const msg = decodeMessage(messageBody(m), { headers: m.properties, receivedAt: m.timestamp });
        if (msg.msg_type !== msgType)
          throw new ContractError(`msg_type "${msg.msg_type}" sent to the ${msgType} handler`);
        accepted.push(msg as Message<T>);
        taken.push({ m, message: msg });
      } catch (error) {
        if (!(error instanceof ContractError)) throw error;
        taken.push({ m, refused: error.reason });
        refusals.push({
          queue: m.destination.physicalName,
          body: messageBody(m).toString('utf8'),
          headers: m.properties,
          reason: error.reason,
          handler: msgType,
          messageId: m.messageID,
        });
      }
    }
    // Recorded for the monitor beside the handling, which its failure never stops (see recordMessages).
    const recording = recordMessages(d, msgType, taken);
    if (accepted.length > 0) await handle(accepted, d).finally(() => recording);
    await recording;
    // Parked only once the batch has succeeded: a failed batch comes back whole, refusals with it.
    for (const r of refusals) await park(d.broker, d.log, r);
    return { accepted: accepted.length, refused: refusals.length };
  };
}
