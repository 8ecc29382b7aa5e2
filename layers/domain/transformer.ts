import { hostname as osHostname } from 'node:os';
import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
// Types only: the contract (and zod, ~15 MB of a pilot's memory) loads on the rare paths that need it.
import type { ContentInput, Message } from '#contract/messages.ts';
import { integerOf, numberOf } from '#contract/numbers.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import { canonicalSlice, stompHeaders } from '#contract/wire.ts';
import type { Logger } from '#log/logger.ts';
import { toMqMessage } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import { destinations, splitDestination } from '#routes/destinations.ts';
import { type PayloadSettings, SlicePayloads } from './payloads.ts';

/** Who the transformer is and how it works; `transformerConfigFromEnv` reads it from a pilot's environment. */
export interface TransformerConfig extends PayloadSettings {
  readonly runId: string;
  readonly pilotId: string;
  readonly taskId?: number;
  /** Slices are selected by run_id and, when set, by namespace. */
  readonly namespace?: string;
  /** Tells restarts of one pilot id apart in the pilots table. */
  readonly attempt?: number;
  // stfStore, sliceProcessingTime and the payload command: PayloadSettings (payloads.ts).
  /** Seconds between heartbeats. @default 5 */
  readonly heartbeatInterval?: number;
  /** Seconds without a slice before the transformer ends itself; 0 never. @default 60 */
  readonly idleTimeout?: number;
  /** @default os.hostname() */
  readonly hostname?: string;
  /** @default process.pid */
  readonly pid?: number;
}

export interface TransformerDeps {
  readonly broker: BrokerPort;
  readonly log: Logger;
}

export interface TransformerSummary {
  readonly slicesDone: number;
  readonly slicesFailed: number;
  /** `stop_transformer`, `sigterm`, `idle_timeout`, or what the caller of stop() gave. */
  readonly reason: string;
}

export interface Transformer {
  readonly stats: { readonly slicesDone: number; readonly slicesFailed: number };
  /** Resolves once transformer_end has been published (the transformer stopped for any reason). */
  readonly ended: Promise<TransformerSummary>;
  /** Stops taking slices, finishes the current one, sends transformer_end. Later calls return the same. */
  stop(reason: string): Promise<TransformerSummary>;
}

const positiveOr = (v: string | undefined, fallback: number): number => {
  const n = numberOf(v);
  return n !== undefined && n >= 0 ? n : fallback;
};

/** The pilot's environment, as the worker adjuster's launcher sets it. */
export function transformerConfigFromEnv(env: NodeJS.ProcessEnv): TransformerConfig {
  const runId = env.RUN_ID;
  if (!runId) throw new Error('environment variable RUN_ID is not set: the pilot does not know its run');
  const taskId = integerOf(env.TASK_ID);
  const attempt = integerOf(env.PILOT_ATTEMPT);
  return {
    runId,
    pilotId: env.PILOT_ID || `${runId}-p00`,
    ...(taskId !== undefined && { taskId }),
    ...(env.NAMESPACE && { namespace: env.NAMESPACE }),
    ...(attempt !== undefined && { attempt }),
    ...(env.STF_STORE && { stfStore: env.STF_STORE }),
    sliceProcessingTime: positiveOr(env.SLICE_PROCESSING_TIME, 0),
    stfPatience: positiveOr(env.STF_PATIENCE, 60),
    heartbeatInterval: positiveOr(env.HEARTBEAT_INTERVAL, 5),
    idleTimeout: positiveOr(env.IDLE_TIMEOUT, 60),
    ...(env.PAYLOAD_COMMAND?.trim() && { payloadCommand: env.PAYLOAD_COMMAND }),
    payloadTimeout: positiveOr(env.PAYLOAD_TIMEOUT, 600) || 600,
    ...(env.PAYLOAD_OUTPUT_DIR && { payloadOutputDir: env.PAYLOAD_OUTPUT_DIR }),
  };
}

/** A JMS selector string literal. */
const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/**
 * Starts a transformer inside a pilot: announces itself with transformer_start, consumes its run's slices
 * one at a time (prefetch 1, acked only once the slice_result is with the broker, so a pilot that dies
 * mid-slice leaves the slice to another), heartbeats, and on stop_transformer, stop() or an idle timeout
 * drains and sends transformer_end. The broker connection stays open: its owner closes it.
 */
export async function startTransformer(
  config: TransformerConfig,
  deps: TransformerDeps,
): Promise<Transformer> {
  const t = new SliceTransformer(config, deps);
  await t.start();
  return t;
}

class SliceTransformer implements Transformer {
  readonly stats = { slicesDone: 0, slicesFailed: 0 };
  readonly ended: Promise<TransformerSummary>;
  private resolveEnded!: (s: TransformerSummary) => void;
  private rejectEnded!: (e: Error) => void;
  private readonly hostname: string;
  private readonly pid: number;
  private readonly log: Logger;
  private readonly payloads: SlicePayloads;
  private slices: Subscription | undefined;
  private control: Subscription | undefined;
  private current: Promise<void> | undefined;
  private stopping: Promise<TransformerSummary> | undefined;
  private lastActivity = Date.now();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly identityFields: ReturnType<SliceTransformer['identity']>;

  constructor(
    private readonly config: TransformerConfig,
    private readonly deps: TransformerDeps,
  ) {
    this.hostname = config.hostname ?? osHostname();
    this.pid = config.pid ?? process.pid;
    this.log = deps.log.child({ run_id: config.runId, pilot_id: config.pilotId });
    this.payloads = new SlicePayloads(config);
    this.identityFields = this.identity();
    this.ended = new Promise((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    // Nobody has to await `ended`; stop() hands the same failure to its caller.
    this.ended.catch(() => {});
  }

  async start(): Promise<void> {
    const c = this.config;
    await this.send('transformer_start', { ...this.identity(), pid: this.pid });
    const byRun = `run_id = ${literal(c.runId)}`;
    this.control = this.deps.broker.subscribe(
      destinations.transformer,
      { selector: byRun, ack: 'auto' },
      (m) => this.onControl(m),
    );
    await this.control.ready;
    const selector = c.namespace ? `${byRun} AND namespace = ${literal(c.namespace)}` : byRun;
    this.slices = this.deps.broker.subscribe(
      destinations.slices,
      { selector, ack: 'client-individual', prefetch: 1 },
      (m) => this.onSlice(m),
    );
    await this.slices.ready;
    const heartbeatMs = (c.heartbeatInterval ?? 5) * 1000;
    if (heartbeatMs > 0) this.heartbeatTimer = setInterval(() => this.heartbeat(), heartbeatMs);
    const idleMs = (c.idleTimeout ?? 60) * 1000;
    if (idleMs > 0) {
      // A coarse check instead of a timer reset per slice keeps the slice loop cheap.
      this.lastActivity = Date.now();
      const every = Math.min(1000, Math.max(50, idleMs / 10));
      this.idleTimer = setInterval(() => {
        if (!this.current && Date.now() - this.lastActivity >= idleMs)
          void this.stop('idle_timeout').catch(() => {});
      }, every);
    }
    this.log.info('transformer started', { selector, prefetch: 1 });
  }

  stop(reason: string): Promise<TransformerSummary> {
    this.stopping ??= this.drain(reason);
    return this.stopping;
  }

  private async drain(reason: string): Promise<TransformerSummary> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.idleTimer);
    try {
      // Unsubscribing first would drop the ack of the slice in hand: finish it, then let go of the queue.
      while (this.current) await this.current;
      await Promise.all([this.slices?.unsubscribe(), this.control?.unsubscribe()]);
      const summary: TransformerSummary = { ...this.stats, reason };
      await this.send('transformer_end', {
        ...this.identity(),
        pid: this.pid,
        slices_done: summary.slicesDone,
        slices_failed: summary.slicesFailed,
        reason,
      });
      this.log.info('transformer ended', { ...summary });
      this.resolveEnded(summary);
      return summary;
    } catch (error) {
      this.rejectEnded(error as Error);
      throw error;
    } finally {
      await this.payloads.close();
    }
  }

  private identity() {
    const c = this.config;
    return {
      hostname: this.hostname,
      id: c.pilotId,
      pilot_id: c.pilotId,
      ...(c.taskId !== undefined && { task_id: c.taskId }),
      ...(c.attempt !== undefined && { attempt: c.attempt }),
    };
  }

  /**
   * Publishes one of our messages as encodeMessage would encode it, without the contract's validation
   * pass: every value in them is already canonical (the slice's, checked on the way in, and ours). The
   * hot path saves ~30 µs a slice; the contract's receivers validate them all the same.
   */
  private send<T extends 'transformer_start' | 'transformer_heartbeat' | 'transformer_end' | 'slice_result'>(
    type: T,
    content: ContentInput<T>,
  ): Promise<void> {
    const c = this.config;
    const body = JSON.stringify({
      msg_type: type,
      run_id: c.runId,
      created_at: nowTimestamp(),
      ...(c.namespace !== undefined && { namespace: c.namespace }),
      sender: c.pilotId,
      content,
    });
    const headers = stompHeaders({ msg_type: type, run_id: c.runId, namespace: c.namespace });
    return this.deps.broker.publish(destinations.results, body, headers);
  }

  private heartbeat(): void {
    this.send('transformer_heartbeat', {
      ...this.identity(),
      slices_done: this.stats.slicesDone,
      slices_failed: this.stats.slicesFailed,
    }).catch((error: Error) => this.log.warn('heartbeat not sent', { error: error.message }));
  }

  private async onControl(m: ReceivedMessage): Promise<void> {
    // Most of what the topic carries is for other runs or of other types: only a stop for this run is read.
    let peek: { msg_type?: unknown; run_id?: unknown };
    try {
      peek = JSON.parse(m.body);
    } catch {
      peek = {};
    }
    if (peek?.msg_type !== 'stop_transformer' || String(peek.run_id) !== this.config.runId) return;
    let msg: Message;
    try {
      msg = (await contract()).decodeMessage(m.body, { headers: m.headers });
    } catch (error) {
      this.log.warn('unreadable message on the transformer topic ignored', {
        error: (error as Error).message,
      });
      return;
    }
    if (msg.msg_type !== 'stop_transformer' || msg.run_id !== this.config.runId) return;
    this.log.info('stop_transformer received', { created_at: msg.created_at });
    void this.stop('stop_transformer').catch(() => {});
  }

  private onSlice(m: ReceivedMessage): Promise<void> | undefined {
    // Left unacked: the broker hands it to another transformer once this one unsubscribes.
    if (this.stopping) return undefined;
    const work = this.process(m).finally(() => {
      this.current = undefined;
      this.lastActivity = Date.now();
    });
    this.current = work;
    return work;
  }

  /**
   * Parks a slice this transformer cannot finish in the slice queue's dead-letter queue with the reason,
   * then acks it. Never a NACK: without the broker's redelivery plugin ActiveMQ parks a nacked message at
   * once with no reason. If even parking fails (the connection is closed), the slice stays unacked and
   * the broker hands it to another transformer.
   */
  private async giveUp(m: ReceivedMessage, reason: string): Promise<void> {
    try {
      await park(this.deps.broker, this.log, {
        queue: slicesQueue,
        body: m.body,
        headers: toMqMessage(m).properties,
        reason,
        handler: 'transformer',
        messageId: m.messageId,
      });
      m.ack();
    } catch (error) {
      this.log.error('slice not parked: left to the broker for redelivery', {
        messageId: m.messageId,
        reason,
        error: (error as Error).message,
      });
    }
  }

  private async process(m: ReceivedMessage): Promise<void> {
    const processingStartAt = nowTimestamp();
    let slice: Message<'slice'>;
    try {
      slice = canonicalSlice(m.body, m.headers) ?? (await fullyDecodedSlice(m));
    } catch (error) {
      // Without a readable slice there is nothing to report against, now or on any redelivery: park it.
      await this.giveUp(m, `unreadable slice: ${(error as Error).message}`);
      return;
    }
    const c = slice.content;
    const outcome = await this.payloads.run(c);
    const processedAt = nowTimestamp();
    try {
      await this.send('slice_result', {
        requested_at: slice.created_at,
        processing_start_at: processingStartAt,
        processed_at: processedAt,
        state: outcome.state,
        ...(outcome.state === 'failed' ? { error: outcome.error } : {}),
        ...this.identityFields,
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
      this.log.error('slice_result not sent', {
        filename: c.filename,
        slice_id: c.slice_id,
        error: (error as Error).message,
      });
      await this.giveUp(m, `slice_result not sent: ${(error as Error).message}`);
      return;
    }
    m.ack();
    if (outcome.state === 'done') this.stats.slicesDone++;
    else {
      this.stats.slicesFailed++;
      this.log.warn('slice failed', { filename: c.filename, slice_id: c.slice_id, error: outcome.error });
    }
  }
}

/** The slice queue's name, as park() takes it. */
const slicesQueue = splitDestination(destinations.slices).name;

/** The contract, loaded on first use: a pilot that only sees canonical slices never needs zod. */
const contract = () => import('#contract/messages.ts');

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
