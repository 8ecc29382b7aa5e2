import { defined } from '#contract/fields.ts';
import type { MonitorContext } from './context.ts';
import { runOfExecution } from './lookups.ts';
import { messageDigest } from './messages.ts';
import { type RunFigures, readRunFigures } from './run-figures.ts';
import { runRow } from './run-row.ts';
import { readRunItem } from './runs.ts';
import { listSlices } from './slices.ts';

const MAX_ERRORS = 10;

export interface WorkflowError {
  readonly time?: string;
  readonly error: string;
  /** message: refused and parked; slice: a failed slice; log: an error line. */
  readonly source: 'message' | 'slice' | 'log';
}

/** Upstream's get_workflow_monitor: where an execution is, what happened, what went wrong. */
export interface WorkflowStatus {
  readonly execution_id: string;
  readonly run_id: string;
  readonly workflow?: string;
  readonly namespace?: string;
  readonly status: string;
  /** imminent, running, paused, ended, completed. */
  readonly phase?: string;
  /** STFs registered (= stfs.registered). */
  readonly stf_count: number;
  readonly total_stf_files?: number;
  readonly task_id?: number;
  readonly events: { type: string; time: string }[];
  readonly errors: WorkflowError[];
  /** Messages recorded (= the run figures' messages.total); by type in messages_by_type. */
  readonly messages: number;
  readonly messages_by_type: Record<string, number>;
  readonly start_time?: string;
  readonly end_time?: string;
  readonly duration_seconds?: number;
  readonly stfs: RunFigures['stfs'];
  readonly slices: RunFigures['slices'];
  readonly pilots: RunFigures['pilots'];
  readonly result_hosts: RunFigures['result_hosts'];
  readonly settled: boolean;
  readonly incomplete_reasons: string[];
}

export async function workflowStatus(c: MonitorContext, executionId: string): Promise<WorkflowStatus> {
  const runId = await runOfExecution(c, executionId);
  const run = await readRunItem(c, runId);
  const [figures, digest, failed, errorLogs] = await Promise.all([
    readRunFigures(c, run),
    messageDigest(c, runId),
    listSlices(c, { runId, status: 'failed', limit: MAX_ERRORS }),
    c.logs
      .read({ runId, executionId, level: 'error', limit: MAX_ERRORS })
      .catch((error: Error) => ({ items: [], unreadable: error.message })),
  ]);
  const row = runRow(run);
  const errors: WorkflowError[] = [
    ...digest.refused.slice(0, MAX_ERRORS).map((r) => ({
      time: r.time,
      error: `${r.msg_type} refused: ${r.reason}`,
      source: 'message' as const,
    })),
    ...failed.items.map((s) => ({
      time: s.processed_at,
      error: `slice ${s.filename}#${s.slice_id} failed${s.error ? `: ${s.error}` : ''}`,
      source: 'slice' as const,
    })),
    ...errorLogs.items.map((l) => ({ time: l.time, error: l.msg, source: 'log' as const })),
    ...('unreadable' in errorLogs
      ? [{ error: `logs unreadable: ${errorLogs.unreadable}`, source: 'log' as const }]
      : []),
  ];
  const status: WorkflowStatus = {
    execution_id: executionId,
    run_id: runId,
    workflow: row.workflow,
    namespace: row.namespace,
    status: row.status,
    phase: row.phase,
    stf_count: figures.stfs.registered,
    total_stf_files: row.total_stf_files,
    task_id: row.task_id,
    events: [
      ...digest.events,
      ...(row.completed_at !== undefined ? [{ type: 'completed', time: row.completed_at }] : []),
      ...(row.cancelled_at !== undefined ? [{ type: 'cancelled', time: row.cancelled_at }] : []),
    ],
    errors,
    messages: figures.messages.total,
    messages_by_type: figures.messages.by_type,
    start_time: row.start_time,
    end_time: row.completed_at ?? row.cancelled_at ?? row.end_time,
    duration_seconds: figures.duration_seconds,
    stfs: figures.stfs,
    slices: figures.slices,
    pilots: figures.pilots,
    result_hosts: figures.result_hosts,
    settled: figures.settled,
    incomplete_reasons: figures.incomplete_reasons,
  };
  return defined(status) as unknown as WorkflowStatus;
}
