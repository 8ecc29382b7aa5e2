import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
import { createLogger, type Logger } from '#log/logger.ts';
import { awaitedDependency } from '#messaging/failures.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import { handlerQueue, type Route } from '#routes/route-table.ts';
import { BatchRetries, defaultRetryPolicy, type RetryPolicy } from './retry-policy.ts';

export type MqHandler = (event: MqEvent) => Promise<unknown>;

export interface RunnerOptions {
  readonly broker: BrokerPort;
  readonly routes: readonly Route[];
  /** Resolves the handler of a route (the module `functions/<handler>/handler.ts` in the real runner). */
  readonly load: (route: Route) => Promise<MqHandler>;
  /** @default 100, Lambda's default batch size for Amazon MQ */
  readonly batchSize?: number;
  /** Redeliveries of a failing batch before its messages are parked. @default 6, Lambda's */
  readonly maximumRedeliveries?: number;
  /** The rest of the retry policy (delays, back-off); `maximumRedeliveries` above wins. @default defaultRetryPolicy */
  readonly retry?: Partial<RetryPolicy>;
  /** @default JSON lines on stdout */
  readonly log?: Logger;
}

export interface RunnerStats {
  invocations: number;
  messages: number;
  failedInvocations: number;
  /** Failed invocations waited out as transient, without spending a redelivery. */
  transientFailures: number;
  /** Messages the runner parked in their dead-letter queue after their last failure. */
  parked: number;
}

export interface Runner {
  readonly stats: RunnerStats;
  /**
   * Stops taking messages and lets running invocations finish, for at most `graceMs`. A batch waiting for
   * its retry is given up at once, unacked, and so is what still runs after `graceMs`: the broker hands
   * both to the next consumer. Leaves the broker connection open. @default graceMs no limit
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The local stand-in for Lambda's Amazon MQ event source mappings: one consumer per handler queue, batches
 * of up to `batchSize` messages, one invocation at a time per handler. An idle handler is invoked as soon as
 * a message arrives; what arrives while it runs is its next batch. A quiet run waits for no batching window
 * (each hop of a control message would cost one), and under load batches grow as long as the handler takes.
 * A fixed window instead queued small batches behind each other: at 400 results/s and 5 ms, batches of 2
 * fell seconds behind, and 25 ms cost 50 ms before a run's first pilot started.
 *
 * A batch that throws is retried whole (no partial batch response on MQ) by the runner itself, its messages
 * held unacked meanwhile: the broker's redelivery plugin deadlocked Debian's 5.17 (broker-config.ts), and a
 * runner that dies mid-retry leaves them to the broker all the same. When and how often: retry-policy.ts.
 * On the last failure each message is parked in its dead-letter queue with the error as `dlq_reason`,
 * where Lambda's poller would leave it to the broker, which records no reason.
 */
export async function startRunner(o: RunnerOptions): Promise<Runner> {
  const stats: RunnerStats = {
    invocations: 0,
    messages: 0,
    failedInvocations: 0,
    transientFailures: 0,
    parked: 0,
  };
  const log = o.log ?? createLogger({ service: 'runner' });
  const settings: ConsumerSettings = {
    batchSize: o.batchSize ?? 100,
    retry: {
      ...defaultRetryPolicy,
      ...o.retry,
      ...(o.maximumRedeliveries !== undefined && { maximumRedeliveries: o.maximumRedeliveries }),
    },
  };
  const consumers = await Promise.all(
    o.routes.map(async (route) => {
      const handler = await o.load(route);
      return new BatchingConsumer(o.broker, route, handler, settings, stats, log);
    }),
  );
  return {
    stats,
    async stop(graceMs = Number.POSITIVE_INFINITY) {
      const deadline = Date.now() + graceMs;
      await Promise.all(consumers.map((c) => c.stop(deadline)));
    },
  };
}

interface ConsumerSettings {
  readonly batchSize: number;
  readonly retry: RetryPolicy;
}

class BatchingConsumer {
  private pending: ReceivedMessage[] = [];
  private soon: NodeJS.Immediate | undefined;
  private busy = false;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private deadline = Number.POSITIVE_INFINITY;
  /** Ends the wait before a retry at once (stop()). */
  private wake: (() => void) | undefined;
  private readonly subscription: Subscription;

  constructor(
    private readonly broker: BrokerPort,
    private readonly route: Route,
    private readonly handler: MqHandler,
    private readonly settings: ConsumerSettings,
    private readonly stats: RunnerStats,
    private readonly log: Logger,
  ) {
    // Twice the batch: the next batch fills while the current one is being handled.
    this.subscription = broker.subscribe(
      `/queue/${handlerQueue(route)}`,
      { ack: 'client-individual', prefetch: 2 * settings.batchSize },
      (m) => this.take(m),
    );
  }

  private take(m: ReceivedMessage): void {
    // Left unacked: the broker gives it to another consumer once this one unsubscribes.
    if (this.stopped) return;
    this.pending.push(m);
    // After the other messages of this socket read, not one invocation each.
    if (!this.busy) this.soon ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    clearImmediate(this.soon);
    this.soon = undefined;
    if (this.busy || this.pending.length === 0) return;
    // Past the stop deadline what was taken stays unacked, for the next consumer.
    if (this.stopped && Date.now() >= this.deadline) return;
    const batch = this.pending.splice(0, this.settings.batchSize);
    this.busy = true;
    this.running = this.invoke(batch).finally(() => {
      this.busy = false;
      this.flush();
    });
  }

  /** Invokes the handler until the batch succeeds or is parked, or the runner stops (then it stays unacked). */
  private async invoke(batch: ReceivedMessage[]): Promise<void> {
    const retries = new BatchRetries(this.settings.retry);
    for (let attempt = 0; ; attempt++) {
      const error = await this.attempt(batch, attempt > 0);
      if (error === undefined) return;
      const verdict = retries.failed(error);
      if (!verdict.retry) {
        const text = describeError(error);
        await Promise.all(batch.map((m) => this.park(m, verdict.failures, text)));
        return;
      }
      if (verdict.transient) this.stats.transientFailures++;
      const fields = {
        handler: this.route.handler,
        retry_in_ms: verdict.delayMs,
        messageIds: batch.map((m) => m.messageId),
        run_ids: [...new Set(batch.map((m) => m.headers.run_id))],
        error,
      };
      if (verdict.transient) this.log.warn(`waiting for ${awaitedDependency(error)}…`, fields);
      else this.log.error('handler failed: batch held for redelivery', fields);
      if (this.stopped || !(await this.pause(verdict.delayMs))) return;
    }
  }

  /** One invocation: acks the batch when the handler returns; returns what it threw otherwise. */
  private async attempt(batch: ReceivedMessage[], again: boolean): Promise<unknown> {
    const receivedAt = Date.now();
    this.stats.invocations++;
    this.stats.messages += batch.length;
    try {
      const messages = batch.map((m) => {
        const message = toMqMessage(m, receivedAt);
        // A retry is a redelivery to the handler, as the broker's would be.
        return again ? { ...message, redelivered: true } : message;
      });
      await this.handler(mqEvent(messages));
    } catch (error) {
      this.stats.failedInvocations++;
      return error ?? new Error('the handler threw nothing');
    }
    for (const m of batch) m.ack();
    return undefined;
  }

  /** Waits before a retry; false when stop() ended the wait. */
  private pause(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(true);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(false);
      };
    });
  }

  /** Parks a message after its last failure, with the error as the reason, and acks it. */
  private async park(m: ReceivedMessage, failures: number, error: string): Promise<void> {
    try {
      await park(this.broker, this.log, {
        queue: handlerQueue(this.route),
        body: m.body,
        // As the broker parks a message: without an expiry (a parked message waits for a person).
        headers: { ...parkedHeaders(m), expires: '0' },
        reason: `${this.route.name} handler failed ${failures} times, last: ${error}`,
        handler: this.route.name,
        messageId: m.messageId,
      });
      this.stats.parked++;
      // Only now: the parked copy is with the broker.
      m.ack();
    } catch (parkError) {
      // Without the redelivery plugin a NACK parks it at once, but without the reason (in the log line).
      this.log.error('could not park a failed message: left to the broker', {
        handler: this.route.handler,
        messageId: m.messageId,
        error: parkError,
      });
      m.nack();
    }
  }

  async stop(deadline: number): Promise<void> {
    this.stopped = true;
    this.deadline = deadline;
    this.wake?.();
    // What was taken is handled until the deadline: each invocation's end starts the next.
    this.flush();
    while (this.busy && Date.now() < deadline) await Promise.race([this.running, sleepUntil(deadline)]);
    // A stopped or frozen broker never confirms: a second past the deadline is enough.
    await Promise.race([this.subscription.unsubscribe(), sleepUntil(Math.max(deadline, Date.now() + 1000))]);
  }
}

/** Resolves at `deadline` (never, for an infinite one), without keeping the process alive. */
const sleepUntil = (deadline: number): Promise<void> =>
  Number.isFinite(deadline)
    ? new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref())
    : new Promise(() => {});

const describeError = (error: unknown): string =>
  error instanceof Error
    ? `${error.name !== 'Error' ? `${error.name}: ` : ''}${error.message}`
    : String(error);

/** Bookkeeping an older broker's redelivery plugin added; a replayed message must start afresh. */
const redeliveryHeaders = new Set(['scheduledJobId', 'redeliveryDelay', 'originalExpiration']);

/** The message's application headers, as a handler saw them (msg_type, run_id, namespace, ...). */
function parkedHeaders(m: ReceivedMessage): Record<string, string> {
  const { properties } = toMqMessage(m);
  return Object.fromEntries(Object.entries(properties).filter(([k]) => !redeliveryHeaders.has(k)));
}
