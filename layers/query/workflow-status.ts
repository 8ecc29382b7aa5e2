import type { MonitorContext } from './context.ts';
import { runOfExecution } from './lookups.ts';
import { messageDigest } from './messages.ts';
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
  readonly stf_count: number;
  readonly total_stf_files?: number;
  readonly task_id?: number;
  readonly events: { type: string; time: string }[];
  readonly errors: WorkflowError[];
  readonly messages: number;
  readonly start_time?: string;
  readonly end_time?: string;
  readonly duration_seconds?: number;
}

export async function workflowStatus(c: MonitorContext, executionId: string): Promise<WorkflowStatus> {
  const runId = await runOfExecution(c, executionId);
  const [run, digest, failed, errorLogs] = await Promise.all([
    readRunItem(c, runId),
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
    stf_count: row.stf_files,
    total_stf_files: row.total_stf_files,
    task_id: row.task_id,
    events: [
      ...digest.events,
      ...(row.completed_at !== undefined ? [{ type: 'completed', time: row.completed_at }] : []),
    ],
    errors,
    messages: digest.messages,
    start_time: row.start_time,
    end_time: row.completed_at ?? row.end_time,
    duration_seconds: row.duration_seconds,
  };
  return Object.fromEntries(
    Object.entries(status).filter(([, v]) => v !== undefined),
  ) as unknown as WorkflowStatus;
}
