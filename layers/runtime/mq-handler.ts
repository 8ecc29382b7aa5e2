import { ContractError, decodeMessage, type Message, type MsgType } from '#contract/messages.ts';
import { invocationLogger, type LambdaContext, type LogFields, type Logger } from '#log/logger.ts';
import { isTransient } from '#messaging/failures.ts';
import type { HandlerDeps } from '#messaging/handler-deps.ts';
import { recordMessages, type TakenMessage } from '#messaging/message-log.ts';
import { type MqEvent, type MqMessage, messageBody } from '#messaging/mq-event.ts';
import { park, type Refusal } from '#messaging/park.ts';

export interface BatchOutcome {
  readonly accepted: number;
  readonly refused: number;
  /** Accepted messages parked for a transient failure (`park` mode); absent when the batch went through. */
  readonly parked?: number;
}

/**
 * What a batch does whose domain function keeps failing for a transient reason (`isTransient`):
 * - `throw`: it fails like any error and its caller redelivers it (the local runner retries such failures
 *   itself without spending the redelivery budget);
 * - `park`: retried here, then each message is parked with `dlq_transient` for the scheduled replay
 *   (dead-letter-replay.ts). In AWS the poller would redeliver it and the broker park it without a
 *   reason, indistinguishable from poison.
 */
export type TransientFailures = 'throw' | 'park';
export const transientFailureModes: readonly TransientFailures[] = ['throw', 'park'];

/** The environment variable that chooses the mode (the CDK stack sets `park` on every function). */
export const TRANSIENT_FAILURES_ENV = 'TRANSIENT_FAILURES';

export function transientFailuresFrom(env: NodeJS.ProcessEnv = process.env): TransientFailures {
  const v = env[TRANSIENT_FAILURES_ENV] || 'throw';
  if (!transientFailureModes.includes(v as TransientFailures))
    throw new Error(
      `${TRANSIENT_FAILURES_ENV} must be one of ${transientFailureModes.join(', ')}, not "${v}"`,
    );
  return v as TransientFailures;
}

export interface MqHandlerOptions {
  /** @default TRANSIENT_FAILURES from the environment, else 'throw' */
  readonly transientFailures?: TransientFailures;
  /**
   * In `park` mode, the pauses before each retry of a batch failing for a transient reason; as many
   * retries as pauses. @default [1000, 3000, 6000]: 10 s, well inside the functions' 60 s timeout
   */
  readonly retryDelaysMs?: readonly number[];
  /** No retry starts after this long since the first attempt (slow failures, e.g. timeouts). @default 30000 */
  readonly retryBudgetMs?: number;
}

/**
 * Turns a domain function over parsed messages into a Lambda handler for Amazon MQ events.
 * A message the contract refuses is parked in the queue's dead-letter queue with the reason in a
 * `dlq_reason` header, and the rest of the batch goes on: throwing would make the broker redeliver
 * the good messages with it, six times, and then park them too. Errors of the domain function do
 * throw, so the whole batch is redelivered (no partial batch response on Amazon MQ), except transient
 * ones in `park` mode (see TransientFailures).
 */
export function mqHandler<T extends MsgType, D extends HandlerDeps>(
  msgType: T,
  deps: () => Promise<D>,
  handle: (messages: Message<T>[], deps: D) => Promise<void>,
  options: MqHandlerOptions = {},
): (event: MqEvent, context?: LambdaContext) => Promise<BatchOutcome> {
  const mode = options.transientFailures ?? transientFailuresFrom();
  const delays = options.retryDelaysMs ?? [1000, 3000, 6000];
  const budgetMs = options.retryBudgetMs ?? 30_000;
  return async (event, context) => {
    const shared = await deps();
    const accepted: Message<T>[] = [];
    const acceptedRaw: MqMessage[] = [];
    const taken: TakenMessage[] = [];
    const refusals: Refusal[] = [];
    for (const m of event.messages) {
      try {
        const msg = decodeMessage(messageBody(m), { headers: m.properties, receivedAt: m.timestamp });
        if (msg.msg_type !== msgType)
          throw new ContractError(`msg_type "${msg.msg_type}" sent to the ${msgType} handler`);
        accepted.push(msg as Message<T>);
        acceptedRaw.push(m);
        taken.push({ m, message: msg });
      } catch (error) {
        if (!(error instanceof ContractError)) throw error;
        taken.push({ m, refused: error.reason });
        refusals.push(refusalOf(m, error.reason, msgType));
      }
    }
    // The batch's lines carry the invocation (request id, cold start), the handler and the run it is about.
    const log = invocationLogger(shared.log, context, { handler: msgType, ...runKeys(accepted) });
    const d = { ...shared, log };
    // Recorded for the monitor beside the handling, which its failure never stops (see recordMessages).
    const recording = recordMessages(d, msgType, taken);
    let stalled: { error: unknown; attempts: number } | undefined;
    if (accepted.length > 0) {
      const attempt = () => handle(accepted, d);
      stalled = await (mode === 'park'
        ? retryTransient(attempt, delays, budgetMs, d.log)
        : attempt().then(() => undefined)
      ).finally(() => recording);
    }
    await recording;
    // Parked only once the batch has succeeded (or is given up as stalled): a failed batch comes back whole.
    for (const r of refusals) await park(d.broker, d.log, r);
    if (!stalled) return { accepted: accepted.length, refused: refusals.length };
    // A park that fails (the broker away too) throws: the poller's redelivery takes over, and what was
    // parked already comes back as a duplicate, which handlers absorb.
    const reason = `${msgType} handler failed ${stalled.attempts} times for a transient reason, last: ${errorText(stalled.error)}`;
    for (const m of acceptedRaw)
      await park(d.broker, d.log, { ...refusalOf(m, reason, msgType), transient: true });
    return { accepted: accepted.length, refused: refusals.length, parked: acceptedRaw.length };
  };
}

/** What a message says of its run. */
interface AboutRun {
  readonly run_id: string;
  readonly namespace?: string;
  readonly [field: string]: unknown;
  readonly content: Readonly<Record<string, unknown>>;
}

/** `run_id`, `execution_id` and `namespace` of a batch of one run; `run_ids` of a batch of several. */
function runKeys(messages: readonly AboutRun[]): LogFields {
  const runIds = [...new Set(messages.map((m) => m.run_id))];
  if (runIds.length !== 1) return runIds.length > 1 ? { run_ids: runIds } : {};
  const first = (pick: (m: AboutRun) => unknown) =>
    messages.map(pick).find((v): v is string => typeof v === 'string' && v !== '');
  const executionId = first((m) => m.execution_id ?? m.content.execution_id);
  const namespace = first((m) => m.namespace);
  return {
    run_id: runIds[0],
    ...(executionId !== undefined && { execution_id: executionId }),
    ...(namespace !== undefined && { namespace }),
  };
}

const refusalOf = (m: MqMessage, reason: string, handler: string): Refusal => ({
  queue: m.destination.physicalName,
  body: messageBody(m).toString('utf8'),
  headers: m.properties,
  reason,
  handler,
  messageId: m.messageID,
});

/**
 * Runs `attempt`, again after each pause while it fails for a transient reason; resolves with the last
 * such error once the pauses or the budget are spent. Any other error is thrown at once.
 */
async function retryTransient(
  attempt: () => Promise<void>,
  delays: readonly number[],
  budgetMs: number,
  log: Logger,
): Promise<{ error: unknown; attempts: number } | undefined> {
  const started = Date.now();
  for (let attempts = 1; ; attempts++) {
    try {
      await attempt();
      return undefined;
    } catch (error) {
      if (!isTransient(error)) throw error;
      const pause = delays[attempts - 1];
      if (pause === undefined || Date.now() - started + pause > budgetMs) return { error, attempts };
      log.warn('batch failed for a transient reason: retried', {
        attempt: attempts,
        retry_in_ms: pause,
        error,
      });
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

const errorText = (error: unknown): string =>
  error instanceof Error
    ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`
    : String(error);
