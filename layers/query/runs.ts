import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { toEpochMicros } from '#contract/timestamps.ts';
import { type Item, MAX_LIMIT, notFound, type Page, scanPage } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';

export type RunStatus = 'pending' | 'running' | 'completed' | 'terminated';

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
  readonly duration_seconds?: number;
  /** STFs registered (stf_gen handled). */
  readonly stf_files: number;
  /** STFs end_run announced. */
  readonly total_stf_files?: number;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/** completed: every slice in; terminated: the task closed without it (run_stop); pending: no DAQ message yet. */
export function runStatus(run: Item): RunStatus {
  if (run.completion === 'completed') return 'completed';
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
  const end = str(run.completed_at) ?? str(run.ended_at);
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
    duration_seconds: seconds(start, end),
    stf_files: registered,
    total_stf_files: num(run.total_stf_files),
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as unknown as RunRow;
}

const listed = [
  'run_id',
  'execution_id',
  'workflow',
  'namespace',
  'phase',
  'completion',
  'task_id',
  'task_state',
  'dataset',
  'dataset_state',
  'created_at',
  'started_at',
  'ended_at',
  'completed_at',
  'total_stf_files',
  'registered_stfs',
];

export interface RunListParams {
  readonly limit: number;
  readonly next?: string;
  readonly namespace?: string;
  readonly status?: RunStatus;
}

/**
 * A page of runs, newest first within the page. A Scan (runs are few, one per execution) with Limit and
 * pagination; a page of the maximum size holds every run of a sandbox's life.
 */
export async function listRuns(c: MonitorContext, p: RunListParams): Promise<Page<RunRow>> {
  const names = Object.fromEntries(listed.map((a) => [`#${a}`, a]));
  const page = await scanPage(
    docOf(c),
    {
      TableName: c.tableNames.runs,
      ProjectionExpression: Object.keys(names).join(', '),
      ExpressionAttributeNames: names,
      ...(p.namespace !== undefined && {
        FilterExpression: '#namespace = :namespace',
        ExpressionAttributeValues: { ':namespace': p.namespace },
      }),
    },
    { limit: p.limit, next: p.next, keys: ['run_id'] },
  );
  const rows = page.items
    .map(runRow)
    .filter((r) => p.status === undefined || r.status === p.status)
    .sort(newestFirst);
  return { items: rows, ...(page.next && { next: page.next }) };
}

/** Executions: the runs that carry one (every run the DAQ simulator started). */
export async function listExecutions(c: MonitorContext, p: RunListParams): Promise<Page<RunRow>> {
  const page = await listRuns(c, p);
  return { ...page, items: page.items.filter((r) => r.execution_id !== undefined) };
}

/** The newest run of all pages (runs are few: usually one page). */
export async function latestRun(c: MonitorContext): Promise<RunRow | undefined> {
  let newest: RunRow | undefined;
  let next: string | undefined;
  do {
    const page = await listRuns(c, { limit: MAX_LIMIT, ...(next !== undefined && { next }) });
    const first = page.items[0];
    if (first && (newest === undefined || newestFirst(first, newest) < 0)) newest = first;
    next = page.next;
  } while (next !== undefined);
  return newest;
}

function newestFirst(a: RunRow, b: RunRow): number {
  const byTime = (b.created_at ?? '').localeCompare(a.created_at ?? '');
  return byTime !== 0 ? byTime : Number(b.run_id) - Number(a.run_id);
}

/** The run item, strongly consistent; 404 when no message of the run was handled and no DAQ started it. */
export async function readRunItem(c: MonitorContext, runId: string): Promise<Item> {
  const { Item } = await docOf(c).send(
    new GetCommand({ TableName: c.tableNames.runs, Key: { run_id: runId }, ConsistentRead: true }),
  );
  if (!Item) throw notFound(`run ${runId} not found: list runs to see the known ones`);
  return Item;
}
