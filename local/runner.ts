import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
import { handlerQueue, type Route } from '#routes/route-table.ts';
import type { Logger } from '#runtime/log.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#runtime/mq-event.ts';
import { park } from '#runtime/park.ts';

export type MqHandler = (event: MqEvent) => Promise<unknown>;

export interface RunnerOptions {
  readonly broker: BrokerPort;
  readonly routes: readonly Route[];
  /** Resolves the handler of a route (the module `functions/<handler>/handler.ts` in the real runner). */
  readonly load: (route: Route) => Promise<MqHandler>;
  /** @default 100, Lambda's default batch size for Amazon MQ */
  readonly batchSize?: number;
  /**
   * The broker's redelivery limit (the local broker's redelivery policy, broker-config.ts). On a message's
   * last failure the runner parks it itself, with the error as its reason: the broker would park it too,
   * but without saying why. @default 6
   */
  readonly maximumRedeliveries?: number;
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface RunnerStats {
  invocations: number;
  messages: number;
  failedInvocations: number;
  /** Messages the runner parked in their dead-letter queue after their last failure. */
  parked: number;
}

export interface Runner {
  readonly stats: RunnerStats;
  /** Stops taking messages, lets running invocations finish, and leaves the broker connection open. */
  stop(): Promise<void>;
}

/**
 * The local stand-in for Lambda's Amazon MQ event source mappings: one consumer per handler queue, batches
 * of up to `batchSize` messages, one invocation at a time per handler. An idle handler is invoked as soon as
 * a message arrives; what arrives while it runs is its next batch. A quiet run waits for no batching window
 * (each hop of a control message would cost one), and under load batches grow as long as the handler takes.
 * A fixed window instead queued small batches behind each other: at 400 results/s and 5 ms, batches of 2
 * fell seconds behind, and 25 ms cost 50 ms before a run's first pilot started. A batch that throws is nacked as a
 * whole (no partial batch response on MQ) and the broker redelivers it, as for Lambda's poller. A message
 * failing for the last time (`maximumRedeliveries`) is parked in its dead-letter queue by the runner, with
 * the error as `dlq_reason`, where Lambda's poller would leave it to the broker, which records no reason.
 */
export async function startRunner(o: RunnerOptions): Promise<Runner> {
  const stats: RunnerStats = { invocations: 0, messages: 0, failedInvocations: 0, parked: 0 };
  const log = o.log ?? ((r) => console.log(JSON.stringify(r)));
  const settings: ConsumerSettings = {
    batchSize: o.batchSize ?? 100,
    maximumRedeliveries: o.maximumRedeliveries ?? 6,
  };
  const failures = new FailureCounts(FAILURES_REMEMBERED);
  const consumers = await Promise.all(
    o.routes.map(async (route) => {
      const handler = await o.load(route);
      return new BatchingConsumer(o.broker, route, handler, settings, failures, stats, log);
    }),
  );
  return {
    stats,
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
}

interface ConsumerSettings {
  readonly batchSize: number;
  readonly maximumRedeliveries: number;
}

/** Failed deliveries remembered at most: a message failing longer than that many others is parked by the broker. */
const FAILURES_REMEMBERED = 10_000;

/** Failed deliveries per broker message id, forgetting the oldest beyond `limit` entries. */
class FailureCounts {
  private readonly counts = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Counts a failed delivery; a first delivery (not redelivered) starts the count afresh. */
  fail(m: ReceivedMessage): number {
    const n = m.redelivered ? (this.counts.get(m.messageId) ?? 0) + 1 : 1;
    this.counts.delete(m.messageId);
    this.counts.set(m.messageId, n);
    if (this.counts.size > this.limit) this.counts.delete(this.counts.keys().next().value as string);
    return n;
  }

  forget(m: ReceivedMessage): void {
    this.counts.delete(m.messageId);
  }
}

/** park() logs through a Logger; the runner's log takes records. */
function recordLogger(
  log: (record: Record<string, unknown>) => void,
  base: Record<string, unknown> = {},
): Logger {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    log({ level, msg, ...base, ...fields });
  return {
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => recordLogger(log, { ...base, ...fields }),
  };
}

class BatchingConsumer {
  private pending: ReceivedMessage[] = [];
  private soon: NodeJS.Immediate | undefined;
  private busy = false;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly subscription: Subscription;

  constructor(
    private readonly broker: BrokerPort,
    private readonly route: Route,
    private readonly handler: MqHandler,
    private readonly settings: ConsumerSettings,
    private readonly failures: FailureCounts,
    private readonly stats: RunnerStats,
    private readonly log: (record: Record<string, unknown>) => void,
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
    const batch = this.pending.splice(0, this.settings.batchSize);
    this.busy = true;
    this.running = this.invoke(batch).finally(() => {
      this.busy = false;
      this.flush();
    });
  }

  private async invoke(batch: ReceivedMessage[]): Promise<void> {
    const receivedAt = Date.now();
    this.stats.invocations++;
    this.stats.messages += batch.length;
    try {
      await this.handler(mqEvent(batch.map((m) => toMqMessage(m, receivedAt))));
      for (const m of batch) {
        this.failures.forget(m);
        m.ack();
      }
    } catch (error) {
      this.stats.failedInvocations++;
      const text = describeError(error);
      this.log({
        level: 'error',
        msg: 'handler failed: batch returned to the broker for redelivery',
        handler: this.route.handler,
        messageIds: batch.map((m) => m.messageId),
        run_ids: [...new Set(batch.map((m) => m.headers.run_id))],
        error: text,
      });
      await Promise.all(batch.map((m) => this.giveBack(m, text)));
    }
  }

  /** Nacks a failed message for redelivery, or on its last failure parks it with the error as the reason. */
  private async giveBack(m: ReceivedMessage, error: string): Promise<void> {
    const deliveries = this.failures.fail(m);
    if (deliveries <= this.settings.maximumRedeliveries) {
      m.nack();
      return;
    }
    try {
      await park(this.broker, recordLogger(this.log), {
        queue: handlerQueue(this.route),
        body: m.body,
        // As the broker parks a message: without an expiry (a parked message waits for a person).
        headers: { ...parkedHeaders(m), expires: '0' },
        reason: `${this.route.name} handler failed ${deliveries} times, last: ${error}`,
        handler: this.route.name,
        messageId: m.messageId,
      });
      this.stats.parked++;
      this.failures.forget(m);
      // Only now: the parked copy is with the broker.
      m.ack();
    } catch (parkError) {
      // The broker parks it itself after this nack, without the reason (still in the log line above).
      this.log({
        level: 'error',
        msg: 'could not park a failed message: left to the broker',
        handler: this.route.handler,
        messageId: m.messageId,
        error: describeError(parkError),
      });
      m.nack();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // What was taken is handled: each invocation's end starts the next until none is left.
    this.flush();
    while (this.busy) await this.running;
    await this.subscription.unsubscribe();
  }
}

const describeError = (error: unknown): string =>
  error instanceof Error
    ? `${error.name !== 'Error' ? `${error.name}: ` : ''}${error.message}`
    : String(error);

/** Redelivery bookkeeping the broker's redelivery plugin adds; a replayed message must start afresh. */
const redeliveryHeaders = new Set(['scheduledJobId', 'redeliveryDelay', 'originalExpiration']);

/** The message's application headers, as a handler saw them (msg_type, run_id, namespace, ...). */
function parkedHeaders(m: ReceivedMessage): Record<string, string> {
  const { properties } = toMqMessage(m);
  return Object.fromEntries(Object.entries(properties).filter(([k]) => !redeliveryHeaders.has(k)));
}
