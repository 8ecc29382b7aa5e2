import { text } from '#contract/fields.ts';
import { numberOf } from '#contract/numbers.ts';
import { type SliceQueue, sliceQueueOf } from '#routes/destinations.ts';

/** Transformer settings when neither the message nor the run's config gives them. */
export const pilotDefaults = {
  slice_processing_time: 0,
  heartbeat_interval: 5,
  transformer_idle_timeout: 60,
  payload_timeout: 600,
};

/**
 * A transformer's environment from the run's settings, the first source that has a value winning (the
 * adjuster_worker content, then the run's config). PAYLOAD_COMMAND only when the workflow names one: an
 * empty one would hide the command a pilot image of one's own sets (functions/transformer/README.md).
 */
export function transformerEnv(...sources: readonly object[]): Record<string, string> {
  const values = sources as readonly Record<string, unknown>[];
  const setting = (key: keyof typeof pilotDefaults): number =>
    values.reduce<number | undefined>((v, s) => v ?? numberOf(s[key]), undefined) ?? pilotDefaults[key];
  const command = values.reduce<string | undefined>((v, s) => v ?? text(s.payload_command), undefined);
  const sliceQueue = values.reduce<SliceQueue | undefined>(
    (v, s) => v ?? sliceQueueOf(s.slice_queue),
    undefined,
  );
  return {
    SLICE_PROCESSING_TIME: String(setting('slice_processing_time')),
    HEARTBEAT_INTERVAL: String(setting('heartbeat_interval')),
    IDLE_TIMEOUT: String(setting('transformer_idle_timeout')),
    PAYLOAD_TIMEOUT: String(setting('payload_timeout')),
    ...(command !== undefined && { PAYLOAD_COMMAND: command }),
    SLICE_QUEUE: sliceQueue ?? 'shared',
  };
}
