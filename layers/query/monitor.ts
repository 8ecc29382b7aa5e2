import * as z from 'zod';
import { type AgentRow, listAgents } from './agents.ts';
import { badRequest, type Page } from './bounds.ts';
import type { MonitorContext } from './context.ts';
import { type DelayStats, delayStats } from './delays.ts';
import { type LogLine, logLevels } from './logs.ts';
import { runOfExecution, runOfTask } from './lookups.ts';
import { listMessages, type MessageRow } from './messages.ts';
import { executionId, limit, next, paging, parse, runId, taskId, text, time } from './params.ts';
import { listPilots, type PilotRow } from './pilots.ts';
import { type RunSummary, runSummary } from './run-summary.ts';
import { latestRun, listExecutions, listRuns, listTaskRuns, type RunRow, readRunItem } from './runs.ts';
import { listSlices, readSliceResults, type SliceRow, sliceStatuses } from './slices.ts';
import { listStfFiles, type StfRow, stfStatuses } from './stf-files.ts';
import { type WorkflowStatus, workflowStatus } from './workflow-status.ts';

/** A run's workflow task (the PanDA task analog), as `testbed tasks` lists them. */
export interface TaskRow {
  readonly task_id: number;
  readonly run_id: string;
  readonly execution_id?: string;
  readonly task_state?: string;
  readonly dataset?: string;
  readonly dataset_state?: string;
  readonly status: string;
}

const owner = {
  run_id: runId.optional(),
  execution_id: executionId.optional(),
  task_id: taskId.optional(),
};
type Owner = { run_id?: string; execution_id?: string; task_id?: number };

/** The input of a list of one run's records: the run (by run, execution or task), a page, and `filters`. */
const runList = <F extends z.ZodRawShape>(filters: F) => z.strictObject({ ...owner, ...paging, ...filters });

const runStatuses = ['pending', 'running', 'completed', 'cancelled', 'terminated'] as const;
const listSchema = z.strictObject({
  ...paging,
  namespace: text.optional(),
  status: z.enum(runStatuses).optional(),
});

/**
 * The monitor's queries as every face calls them: loose input (query strings, CLI options, tool
 * arguments) validated here, so that the CLI, the HTTP API and the MCP tools answer alike, bad input with
 * the same 400 message. Each is a thin call into its query module.
 */
export class Monitor {
  constructor(readonly context: MonitorContext) {}

  /** The run an input names by run_id, execution_id or task_id (exactly one). */
  async runOf(o: Owner): Promise<string> {
    const given = [o.run_id, o.execution_id, o.task_id].filter((v) => v !== undefined).length;
    if (given !== 1) throw badRequest('give exactly one of run_id, execution_id, task_id');
    if (o.run_id !== undefined) {
      await readRunItem(this.context, o.run_id);
      return o.run_id;
    }
    if (o.execution_id !== undefined) return runOfExecution(this.context, o.execution_id);
    return runOfTask(this.context, o.task_id as number);
  }

  async executions(input: unknown = {}): Promise<Page<RunRow>> {
    return listExecutions(this.context, parse(listSchema, input));
  }

  async execution(input: unknown): Promise<WorkflowStatus> {
    const p = parse(z.strictObject({ execution_id: executionId }), input);
    return workflowStatus(this.context, p.execution_id);
  }

  async runs(input: unknown = {}): Promise<Page<RunRow>> {
    return listRuns(this.context, parse(listSchema, input));
  }

  /** The newest run, which the CLI's lists show when given no run; undefined before the first. */
  async latestRun(): Promise<RunRow | undefined> {
    return latestRun(this.context);
  }

  async run(input: unknown): Promise<RunSummary> {
    const p = parse(z.strictObject(owner), input);
    return runSummary(this.context, await this.runOf(p));
  }

  async tasks(input: unknown = {}): Promise<Page<TaskRow>> {
    // Only runs with a task are paged, so a page of tasks is full.
    const page = await listTaskRuns(this.context, parse(listSchema, input));
    const items = page.items.map(
      (r): TaskRow => ({
        task_id: r.task_id as number,
        run_id: r.run_id,
        ...(r.execution_id !== undefined && { execution_id: r.execution_id }),
        ...(r.task_state !== undefined && { task_state: r.task_state }),
        ...(r.dataset !== undefined && { dataset: r.dataset }),
        ...(r.dataset_state !== undefined && { dataset_state: r.dataset_state }),
        status: r.status,
      }),
    );
    return { items, ...(page.next && { next: page.next }) };
  }

  async stfFiles(input: unknown): Promise<Page<StfRow>> {
    const p = parse(runList({ status: z.enum(stfStatuses).optional() }), input);
    return listStfFiles(this.context, await this.runPage(p, 'status'));
  }

  async slices(input: unknown): Promise<Page<SliceRow>> {
    const p = parse(runList({ stf: text.optional(), status: z.enum(sliceStatuses).optional() }), input);
    return listSlices(this.context, {
      ...(await this.runPage(p, 'status')),
      ...(p.stf !== undefined && { filename: p.stf }),
    });
  }

  /** A run's pilots; by task_id they are the task's jobs (panda_list_jobs). */
  async pilots(input: unknown): Promise<Page<PilotRow>> {
    const p = parse(runList({ state: text.optional() }), input);
    return listPilots(this.context, await this.runPage(p, 'state'));
  }

  async messages(input: unknown): Promise<Page<MessageRow>> {
    const p = parse(
      runList({
        msg_type: text.optional(),
        sender: text.optional(),
        since: time.optional(),
        until: time.optional(),
        order: z.enum(['asc', 'desc']).optional(),
      }),
      input,
    );
    if (p.since !== undefined && p.until !== undefined && p.since > p.until)
      throw badRequest('since: after until');
    return listMessages(this.context, {
      ...(await this.runPage(p, 'sender', 'since', 'until', 'order')),
      ...(p.msg_type !== undefined && { msgType: p.msg_type }),
    });
  }

  /** A run list's query: the run the input names, the filters given among `filters`, and the page asked. */
  private async runPage<P extends Owner & { limit: number; next?: string }, K extends keyof P>(
    p: P,
    ...filters: K[]
  ) {
    return { runId: await this.runOf(p), ...pick<P, K | 'next'>(p, ...filters, 'next'), limit: p.limit };
  }

  async delays(input: unknown): Promise<DelayStats> {
    const id = await this.runOf(parse(z.strictObject(owner), input));
    const { items, truncated } = await readSliceResults(this.context, id);
    return delayStats(id, items, truncated);
  }

  async agents(input: unknown): Promise<{ items: AgentRow[] }> {
    const id = await this.runOf(parse(z.strictObject(owner), input));
    return { items: await listAgents(this.context, id) };
  }

  /** Log lines, newest first; by execution: its lines and those of its run. */
  async logs(input: unknown = {}): Promise<Page<LogLine>> {
    const p = parse(
      z.strictObject({
        ...owner,
        limit,
        next: next.optional(),
        level: z.enum(logLevels).optional(),
        text: text.optional(),
        since: time.optional(),
        until: time.optional(),
      }),
      input,
    );
    const scoped = p.run_id !== undefined || p.execution_id !== undefined || p.task_id !== undefined;
    const run = scoped ? await this.runOf(p) : undefined;
    return this.context.logs.read({
      ...(run !== undefined && { runId: run }),
      ...(p.execution_id !== undefined && { executionId: p.execution_id }),
      ...pick(p, 'level', 'text', 'since', 'until', 'next'),
      limit: p.limit,
    });
  }
}

/** The defined fields of `o` among `keys`. */
function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): { [P in K]?: NonNullable<T[P]> } {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as {
    [P in K]?: NonNullable<T[P]>;
  };
}
