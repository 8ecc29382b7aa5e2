import type { PilotRecord } from './pilot-records.ts';

/** What a launcher needs to start one pilot (a transformer process or container) for a run. */
export interface PilotSpec {
  readonly runId: string;
  readonly pilotId: string;
  readonly taskId?: number;
  /** The testbed namespace the transformer selects slices by; empty when the run has none. */
  readonly namespace: string;
  /** Transformer settings: SLICE_PROCESSING_TIME, HEARTBEAT_INTERVAL, IDLE_TIMEOUT, PAYLOAD_*, PILOT_ATTEMPT. */
  readonly env: Record<string, string>;
  /** What the pilot asks for; an ECS launcher maps it onto task CPU and memory. */
  readonly resources?: { readonly cores: number; readonly ramPerCoreMb: number };
}

/**
 * How a pilot's latest attempt stands, as its launcher saw it end: `exited` is a normal end (exit code 0:
 * idle timeout, stop_transformer, a SIGTERM drain), `failed` any other (non-zero exit, killed by a signal, a
 * container that never started), `unknown` when nothing is left to tell (gone without a trace).
 */
export type PilotStatus =
  | { readonly state: 'running' }
  | { readonly state: 'exited'; readonly code: 0; readonly reason?: string }
  | { readonly state: 'failed'; readonly code?: number; readonly signal?: string; readonly reason?: string }
  | { readonly state: 'unknown' };

/** Starts and stops pilots: child processes locally, ECS tasks in AWS. */
export interface PilotLauncher {
  start(spec: PilotSpec): Promise<{ pid?: number }>;
  isAlive(runId: string, pilotId: string): Promise<boolean>;
  /** Asks the pilot to end gracefully (SIGTERM: it finishes its slice and sends transformer_end). */
  stop(runId: string, pilotId: string): Promise<void>;
  /**
   * How the pilot's attempt `attempt` (else its latest) ended, or that it runs. A launcher without it
   * (a stand-in) leaves every pilot that is gone counted as lost.
   */
  status?(runId: string, pilotId: string, attempt?: number): Promise<PilotStatus>;
}

/** A launcher's word on a pilot, 'unknown' from one that cannot tell; its liveness from isAlive then. */
export async function pilotStatus(
  launcher: PilotLauncher,
  record: Pick<PilotRecord, 'run_id' | 'pilot_id' | 'attempts'>,
): Promise<PilotStatus> {
  if (launcher.status) return launcher.status(record.run_id, record.pilot_id, record.attempts);
  return (await launcher.isAlive(record.run_id, record.pilot_id))
    ? { state: 'running' }
    : { state: 'unknown' };
}

/** An exit status in a few words, for records and logs: `exit 0 (idle_timeout)`, `killed by SIGKILL`. */
export function describeExit(s: PilotStatus): string {
  if (s.state === 'running' || s.state === 'unknown')
    return s.state === 'running' ? 'running' : 'gone without a trace';
  const how = s.state === 'failed' && s.signal ? `killed by ${s.signal}` : `exit ${s.code ?? '?'}`;
  return s.reason ? `${how} (${s.reason})` : how;
}
