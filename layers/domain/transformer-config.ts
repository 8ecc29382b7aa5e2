import { integerOf, numberOf } from '#contract/numbers.ts';
import { type SliceQueue, sliceQueueOf } from '#routes/destinations.ts';
import type { PayloadSettings } from './payloads.ts';

/** Who the transformer is and how it works; `transformerConfigFromEnv` reads it from a pilot's environment. */
export interface TransformerConfig extends PayloadSettings {
  readonly runId: string;
  readonly pilotId: string;
  readonly taskId?: number;
  /** On the shared slice queue, slices are selected by run_id and, when set, by namespace. */
  readonly namespace?: string;
  /** Where the run's slices are queued (sliceDestination). @default 'shared', where upstream's runs queue them */
  readonly sliceQueue?: SliceQueue;
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
    sliceQueue: sliceQueueOf(env.SLICE_QUEUE) ?? 'shared',
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
