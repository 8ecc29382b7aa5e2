import type { BrokerPort } from '#broker/port.ts';
import { type Figure, figure } from '../lib/figures.ts';
import { rawBrokerRun } from '../lib/raw-broker.ts';
import { REPS, say } from '../lib/settings.ts';
import { repeat } from '../lib/stats.ts';

export interface RawBrokerResult {
  /** 1a and 1b. */
  readonly figures: readonly Figure[];
  /** 1a's median, msg/s: what the transformer's and the pipeline's rates are set against. */
  readonly prefetch1: number;
}

/** Persistent messages from one connection to another, the most the prompt path could move. */
export async function rawBrokerStage(
  connect: (name: string) => Promise<BrokerPort>,
): Promise<RawBrokerResult> {
  say('raw broker: persistent messages, one producer, one consumer, prefetch 1 and 1000');
  await rawBrokerRun(connect, 2_000, 1);
  await rawBrokerRun(connect, 2_000, 1000);
  const raw1 = await repeat(REPS, () => rawBrokerRun(connect, 5_000, 1));
  const raw1000 = await repeat(REPS, () => rawBrokerRun(connect, 5_000, 1000));
  const prefetch1 = figure({
    id: '1a',
    figure: 'raw broker, persistent, prefetch 1 (5,000 messages)',
    unit: 'msg/s',
    runs: raw1.map((r) => r.rate),
  });
  const prefetch1000 = figure({
    id: '1b',
    figure: 'raw broker, persistent, prefetch 1000 (5,000 messages)',
    unit: 'msg/s',
    runs: raw1000.map((r) => r.rate),
  });
  return { figures: [prefetch1, prefetch1000], prefetch1: prefetch1.median };
}
