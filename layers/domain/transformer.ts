import { hostname as osHostname } from 'node:os';
import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
// Types only: the contract (and zod, ~15 MB of a pilot's memory) loads on the rare paths that need it.
import type { ContentInput, Message } from '#contract/messages.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import { stompHeaders } from '#contract/wire.ts';
import type { Logger } from '#log/logger.ts';
import { destinations, sliceDestination, splitDestination } from '#routes/destinations.ts';
import { SlicePayloads } from './payloads.ts';
import type { TransformerConfig } from './transformer-config.ts';
import { contract, handleSlice, type SliceHandling, type TransformerIdentity } from './transformer-slice.ts';

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
  private readonly sliceHandling: SliceHandling;
  /** The queue the run's slices are on. */
  private readonly sliceSource: string;

  constructor(
    private readonly config: TransformerConfig,
    private readonly deps: TransformerDeps,
  ) {
    this.hostname = config.hostname ?? osHostname();
    this.pid = config.pid ?? process.pid;
    this.log = deps.log.child({ run_id: config.runId, pilot_id: config.pilotId });
    this.payloads = new SlicePayloads(config);
    this.sliceSource = sliceDestination(config.runId, config.sliceQueue ?? 'shared');
    this.sliceHandling = {
      broker: deps.broker,
      log: this.log,
      payloads: this.payloads,
      identity: this.identity(),
      report: (content) => this.send('slice_result', content),
      queue: splitDestination(this.sliceSource).name,
    };
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
    // On a queue of the run's own every slice is the run's: no selector for the broker to evaluate.
    const shared = this.sliceSource === destinations.slices;
    const selector = !shared
      ? undefined
      : c.namespace
        ? `${byRun} AND namespace = ${literal(c.namespace)}`
        : byRun;
    this.slices = this.deps.broker.subscribe(
      this.sliceSource,
      { ...(selector && { selector }), ack: 'client-individual', prefetch: 1 },
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
    this.log.info('transformer started', { destination: this.sliceSource, selector, prefetch: 1 });
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

  private identity(): TransformerIdentity {
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

  private async process(m: ReceivedMessage): Promise<void> {
    const outcome = await handleSlice(m, this.sliceHandling);
    if (outcome === 'done') this.stats.slicesDone++;
    else if (outcome === 'failed') this.stats.slicesFailed++;
  }
}
