/** Broker destinations, named as upstream names them so upstream agents can join a run. */
export const destinations = {
  /** DAQ broadcasts and agent announcements (`stf_ready`). */
  epic: '/topic/epictopic',
  /** Worker and task control (`adjuster_worker`, `run_stop`). */
  workers: '/topic/panda.workers',
  /**
   * Slices, shared by competing transformers and selected by `run_id`: upstream's pilots read here, so a run
   * an upstream pilot may take part in queues its slices here (sliceDestination).
   */
  slices: '/queue/panda.slices.transformer',
  /** The `stop_transformer` broadcast. */
  transformer: '/topic/panda.transformer',
  /** `slice_result` and the transformer lifecycle. */
  results: '/topic/panda.results',
} as const;

export type Destination = (typeof destinations)[keyof typeof destinations];

/**
 * Where a run's slices go: `run`, a queue of the run's own, which its transformers read without a selector;
 * `shared`, the queue upstream's pilots read, where each run's transformers select theirs. On the shared
 * queue the broker scans the paged-in slices of every run for each idle consumer, so a run's cost per slice
 * grew with its neighbours (bench/README.md, row 3c); on its own queue it does not.
 */
export type SliceQueue = 'run' | 'shared';

/** The prefix of the runs' own slice queues; their broker policy (broker-config.ts) matches `<prefix>.>`. */
export const runSliceQueuePrefix = 'swf.slices';

/** What the broker and transformers park from every run's own slice queue: one queue, not one per run. */
export const runSlicesDeadLetterQueue = `DLQ.${runSliceQueuePrefix}`;

/** The dead-letter queue of a queue (names without `/queue/`), as the broker's policy (broker-config.ts) has it. */
export const deadLetterQueueOf = (queue: string): string =>
  queue.startsWith(`${runSliceQueuePrefix}.`) ? runSlicesDeadLetterQueue : `DLQ.${queue}`;

/** The queue a run's slices go to. */
export const sliceDestination = (runId: string, queue: SliceQueue): string =>
  queue === 'run' ? `/queue/${runSliceQueuePrefix}.${runId}` : destinations.slices;

/** `run` or `shared` from a message field or setting; undefined for anything else (absent, misspelt). */
export const sliceQueueOf = (v: unknown): SliceQueue | undefined =>
  v === 'run' || v === 'shared' ? v : undefined;

/** `/topic/a.b` -> `{ kind: 'topic', name: 'a.b' }`: ActiveMQ's XML names destinations without the prefix. */
export function splitDestination(destination: string): { kind: 'topic' | 'queue'; name: string } {
  const match = /^\/(topic|queue)\/(.+)$/.exec(destination);
  if (!match) throw new Error(`destination must start with /topic/ or /queue/: ${destination}`);
  return { kind: match[1] as 'topic' | 'queue', name: match[2] as string };
}
