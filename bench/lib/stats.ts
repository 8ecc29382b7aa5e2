import { percentile } from '#query/percentiles.ts';

/** The q-th quantile (0..1) by the query layer's nearest-rank rule; NaN when there are no values. */
export const quantile = (values: readonly number[], q: number): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    q,
  ) ?? Number.NaN;

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** Runs `once` `times` times in a row and returns every result. */
export async function repeat<T>(times: number, once: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < times; i++) out.push(await once(i));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
