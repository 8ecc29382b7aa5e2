import type { Message } from '#contract/messages.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { recordSliceResults, sliceState } from '#domain/slices.ts';
import { type Metrics, metricsFromEnv } from '#log/metrics.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

const metrics = metricsFromEnv();

export const handler = mqHandler('slice_result', handlerDeps, async (results, deps) => {
  await recordSliceResults(results, deps);
  countSlices(results, metrics);
  metrics.flush();
});

/**
 * Slices done and failed, and each done slice's delay (processed_at − requested_at, as `testbed delays`
 * computes it), of the results of a batch handled: a result delivered again counts again.
 */
export function countSlices(results: readonly Message<'slice_result'>[], m: Metrics): void {
  const done = results.filter((r) => sliceState(r.content) === 'done');
  m.count('SlicesDone', done.length);
  m.count('SlicesFailed', results.length - done.length);
  for (const { content: c } of done)
    m.milliseconds('SliceDelay', (toEpochMicros(c.processed_at) - toEpochMicros(c.requested_at)) / 1000);
}
