import type { BrokerPort, Subscription } from '#broker/port.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { sleep } from './stats.ts';

export interface SliceTimes {
  /** Epoch µs. */
  readonly requested: number;
  readonly started: number;
  readonly processed: number;
}

/**
 * Takes the slice_result messages out of their handler queue (on a bare broker, where no runner does) and
 * keeps their timestamps: a transformer's throughput is read from its own processed_at stamps.
 */
export class ResultWatch {
  private times: SliceTimes[] = [];
  private sub: Subscription | undefined;

  async start(broker: BrokerPort): Promise<this> {
    this.sub = broker.subscribe('/queue/swf.handler.slice_result', { ack: 'auto', prefetch: 2000 }, (m) => {
      const c = (JSON.parse(m.body) as { content: Record<string, string> }).content;
      this.times.push({
        requested: toEpochMicros(c.requested_at as string),
        started: toEpochMicros(c.processing_start_at as string),
        processed: toEpochMicros(c.processed_at as string),
      });
    });
    await this.sub.ready;
    return this;
  }

  /** Forgets what came so far. */
  reset(): void {
    this.times = [];
  }

  /** Waits for `n` results (fails after `timeoutMs` without one) and hands them over. */
  async take(n: number, timeoutMs = 30_000): Promise<SliceTimes[]> {
    let seen = this.times.length;
    let last = performance.now();
    while (this.times.length < n) {
      await sleep(50);
      if (this.times.length !== seen) {
        seen = this.times.length;
        last = performance.now();
      } else if (performance.now() - last > timeoutMs) {
        throw new Error(`${this.times.length} of ${n} slice results, none for ${timeoutMs} ms`);
      }
    }
    const out = this.times;
    this.times = [];
    return out;
  }

  async stop(): Promise<void> {
    await this.sub?.unsubscribe();
  }
}

/**
 * Slices/s once the backlog is published: results processed after `fromMicros` over the time from then to
 * the last one. The publisher is done by then, so it costs the transformers no CPU.
 */
export function drainRate(times: readonly SliceTimes[], fromMicros: number): number {
  const after = times.filter((t) => t.processed > fromMicros);
  const last = Math.max(...after.map((t) => t.processed));
  return after.length / ((last - fromMicros) / 1e6);
}
