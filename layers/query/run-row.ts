import { defined } from '#contract/fields.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import type { Item } from './bounds.ts';

export type RunStatus = 'pending' | 'running' | 'completed' | 'cancelled' | 'terminated';

/** A run as the lists show it (an execution is the run the DAQ simulator started for it). */
export interface RunRow {
  readonly run_id: string;
  readonly execution_id?: string;
  readonly workflow?: string;
  readonly namespace?: string;
  readonly status: RunStatus;
  readonly phase?: string;
  readonly task_id?: number;
  readonly task_state?: string;
  readonly dataset?: string;
  readonly dataset_state?: string;
  readonly created_at?: string;
  readonly start_time?: string;
  readonly end_time?: string;
  readonly completed_at?: string;
  readonly cancelled_at?: string;
  readonly cancel_reason?: string;
  /** The run's start (start_run, else its record) to its end (completed, cancelled, else end_run). */
  readonly duration_seconds?: number;
  /** STFs registered (stf_gen handled). */
  readonly stf_files: number;
  /** STFs end_run announced. */
  readonly total_stf_files?: number;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/**
 * completed: every slice in; cancelled: `testbed cancel` (or Ctrl-C) ended it; terminated: the task closed
 * without it (run_stop); pending: no DAQ message yet.
 */
export function runStatus(run: Item): RunStatus {
  if (run.completion === 'completed') return 'completed';
  // task_state too: the run lists read a few fields of each run, task_state among them.
  if (typeof run.cancelled_at === 'string' || run.task_state === 'cancelled') return 'cancelled';
  if (run.task_state === 'closed') return 'terminated';
  return run.phase === undefined ? 'pending' : 'running';
}

/** Seconds between two canonical timestamps, when both are known. */
export function seconds(from: unknown, to: unknown): number | undefined {
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  return (toEpochMicros(to) - toEpochMicros(from)) / 1e6;
}

export function runRow(run: Item): RunRow {
  const start = str(run.started_at) ?? str(run.created_at);
  const end = str(run.completed_at) ?? str(run.cancelled_at) ?? str(run.ended_at);
  const registered = run.registered_stfs instanceof Set ? run.registered_stfs.size : 0;
  const row: RunRow = {
    run_id: String(run.run_id),
    execution_id: str(run.execution_id),
    workflow: str(run.workflow),
    namespace: str(run.namespace),
    status: runStatus(run),
    phase: str(run.phase),
    task_id: num(run.task_id),
    task_state: str(run.task_state),
    dataset: str(run.dataset),
    dataset_state: str(run.dataset_state),
    created_at: str(run.created_at),
    start_time: start,
    end_time: str(run.ended_at),
    completed_at: str(run.completed_at),
    cancelled_at: str(run.cancelled_at),
    cancel_reason: str(run.cancel_reason),
    duration_seconds: seconds(start, end),
    stf_files: registered,
    total_stf_files: num(run.total_stf_files),
  };
  return defined(row) as unknown as RunRow;
}
