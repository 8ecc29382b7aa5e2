/** Broker destinations, named as upstream names them so upstream agents can join a run. */
export const destinations = {
  /** DAQ broadcasts and agent announcements (`stf_ready`). */
  epic: '/topic/epictopic',
  /** Worker and task control (`adjuster_worker`, `run_stop`). */
  workers: '/topic/panda.workers',
  /** Slices, shared by competing transformers and selected by `run_id`. */
  slices: '/queue/panda.slices.transformer',
  /** The `stop_transformer` broadcast. */
  transformer: '/topic/panda.transformer',
  /** `slice_result` and the transformer lifecycle. */
  results: '/topic/panda.results',
} as const;

export type Destination = (typeof destinations)[keyof typeof destinations];

/** `/topic/a.b` -> `{ kind: 'topic', name: 'a.b' }`: ActiveMQ's XML names destinations without the prefix. */
export function splitDestination(destination: string): { kind: 'topic' | 'queue'; name: string } {
  const match = /^\/(topic|queue)\/(.+)$/.exec(destination);
  if (!match) throw new Error(`destination must start with /topic/ or /queue/: ${destination}`);
  return { kind: match[1] as 'topic' | 'queue', name: match[2] as string };
}
