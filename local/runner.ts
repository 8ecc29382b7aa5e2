import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
import { handlerQueue, type Route } from '#routes/route-table.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#runtime/mq-event.ts';

export type MqHandler = (event: MqEvent) => Promise<unknown>;

export interface RunnerOptions {
  readonly broker: BrokerPort;
  readonly routes: readonly Route[];
  /** Resolves the handler of a route (the module `functions/<handler>/handler.ts` in the real runner). */
  readonly load: (route: Route) => Promise<MqHandler>;
  /** @default 100, Lambda's default batch size for Amazon MQ */
  readonly batchSize?: number;
  /** How long a partial batch waits for more messages. @default 5 */
  readonly batchWindowMs?: number;
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface RunnerStats {
  invocations: number;
  messages: number;
  failedInvocations: number;
}

export interface Runner {
  readonly stats: RunnerStats;
  /** Stops taking messages, lets running invocations finish, and leaves the broker connection open. */
  stop(): Promise<void>;
}

/**
 * The local stand-in for Lambda's Amazon MQ event source mappings: one consumer per handler queue, batches
 * of up to `batchSize` messages, one invocation at a time per handler. A batch that throws is nacked as a
 * whole (no partial batch response on MQ); the broker redelivers it and parks it in the dead-letter queue
 * after its redelivery limit, as Lambda's poller does.
 */
export async function startRunner(o: RunnerOptions): Promise<Runner> {
  const stats: RunnerStats = { invocations: 0, messages: 0, failedInvocations: 0 };
  const log = o.log ?? ((r) => console.log(JSON.stringify(r)));
  const batchSize = o.batchSize ?? 100;
  const windowMs = o.batchWindowMs ?? 5;
  const consumers = await Promise.all(
    o.routes.map(async (route) => {
      const handler = await o.load(route);
      return new BatchingConsumer(o.broker, route, handler, batchSize, windowMs, stats, log);
    }),
  );
  return {
    stats,
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
}

class BatchingConsumer {
  private pending: ReceivedMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly subscription: Subscription;

  constructor(
    broker: BrokerPort,
    private readonly route: Route,
    private readonly handler: MqHandler,
    private readonly batchSize: number,
    private readonly windowMs: number,
    private readonly stats: RunnerStats,
    private readonly log: (record: Record<string, unknown>) => void,
  ) {
    // Twice the batch: the next batch fills while the current one is being handled.
    this.subscription = broker.subscribe(
      `/queue/${handlerQueue(route)}`,
      { ack: 'client-individual', prefetch: 2 * batchSize },
      (m) => this.take(m),
    );
  }

  private take(m: ReceivedMessage): void {
    // Left unacked: the broker gives it to another consumer once this one unsubscribes.
    if (this.stopped) return;
    this.pending.push(m);
    if (this.pending.length >= this.batchSize) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.batchSize);
    this.running = this.running.then(() => this.invoke(batch));
    if (this.pending.length > 0) this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  private async invoke(batch: ReceivedMessage[]): Promise<void> {
    const receivedAt = Date.now();
    this.stats.invocations++;
    this.stats.messages += batch.length;
    try {
      await this.handler(mqEvent(batch.map((m) => toMqMessage(m, receivedAt))));
      for (const m of batch) m.ack();
    } catch (error) {
      this.stats.failedInvocations++;
      this.log({
        level: 'error',
        msg: 'handler failed: batch returned to the broker for redelivery',
        handler: this.route.handler,
        messageIds: batch.map((m) => m.messageId),
        run_ids: [...new Set(batch.map((m) => m.headers.run_id))],
        error: error instanceof Error ? error.message : String(error),
      });
      for (const m of batch) m.nack();
    }
  }

  async stop(): Promise<void> {
    this.flush();
    this.stopped = true;
    await this.running;
    await this.subscription.unsubscribe();
  }
}
