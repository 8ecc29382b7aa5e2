import { fromEpochMicros } from '#contract/timestamps.ts';

export interface DaqClock {
  /** Wall time, epoch ms (fractions allowed). */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: DaqClock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** An epoch time (ms, fractions allowed) as the contract's timestamp. */
export const timestampAt = (epochMs: number): string => fromEpochMicros(Math.round(epochMs * 1000));

/** Upstream's STF time format, `%Y%m%d%H%M%S%f` in UTC: 20 digits. */
export function daqTime(epochMs: number): string {
  return timestampAt(epochMs).replace(/\D/g, '');
}
