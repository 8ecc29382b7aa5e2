import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { scanAll } from '#tables/pages.ts';
import { badRequest, decodeToken, encodeToken, type Item, notFound, type Page } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';
import { type RunRow, type RunStatus, runRow } from './run-row.ts';

export type { RunRow, RunStatus };

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
  'cancelled_at',
  'cancel_reason',
];

export interface RunListParams {
  readonly limit: number;
  readonly next?: string;
  readonly namespace?: string;
  readonly status?: RunStatus;
}

/** The most runs one list reads: runs are few (one per execution), so a list reads them all and sorts. */
export const MAX_RUNS_READ = 10_000;

/** Where a run list stopped: the last run given, by its place in the newest-first order. */
const TOKEN_KEYS = ['created_at', 'run_id'] as const;

/**
 * A page of runs, newest first (by created_at, then run number). Every run is read (a Scan up to
 * MAX_RUNS_READ), filtered and sorted before the page is cut, so `limit` is exact and the token, which
 * names the last run given, resumes right after it: no run is skipped or given twice. `keep` selects
 * among the runs (executions: the runs that carry one).
 */
export async function listRuns(
  c: MonitorContext,
  p: RunListParams,
  keep: (r: RunRow) => boolean = () => true,
): Promise<Page<RunRow>> {
  const after = decodeToken(p.next, TOKEN_KEYS);
  if (after !== undefined && !/^\d+$/.test(String(after.run_id)))
    throw badRequest('next: not a token this query returned');
  const names = Object.fromEntries(listed.map((a) => [`#${a}`, a]));
  const { items } = await scanAll(
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
    MAX_RUNS_READ,
  );
  const rows = items
    .map(runRow)
    .filter((r) => (p.status === undefined || r.status === p.status) && keep(r))
    .filter((r) => after === undefined || newestFirst(r, after as Place) > 0)
    .sort(newestFirst);
  const page = rows.slice(0, p.limit);
  const last = page[page.length - 1];
  return {
    items: page,
    ...(rows.length > p.limit &&
      last && { next: encodeToken({ created_at: last.created_at ?? '', run_id: last.run_id }) }),
  };
}

/** Executions: the runs that carry one (every run the DAQ simulator started). */
export async function listExecutions(c: MonitorContext, p: RunListParams): Promise<Page<RunRow>> {
  return listRuns(c, p, (r) => r.execution_id !== undefined);
}

/** The runs that have a workflow task, for the task list. */
export async function listTaskRuns(c: MonitorContext, p: RunListParams): Promise<Page<RunRow>> {
  return listRuns(c, p, (r) => r.task_id !== undefined);
}

/** The newest run. */
export async function latestRun(c: MonitorContext): Promise<RunRow | undefined> {
  return (await listRuns(c, { limit: 1 })).items[0];
}

type Place = Pick<RunRow, 'created_at' | 'run_id'>;

/** Newest first: later created_at first, then the higher run number (a run without a time last). */
function newestFirst(a: Place, b: Place): number {
  const [ta, tb] = [a.created_at ?? '', b.created_at ?? ''];
  if (ta !== tb) return ta < tb ? 1 : -1;
  return Number(b.run_id) - Number(a.run_id);
}

/** The run item, strongly consistent; 404 when no message of the run was handled and no DAQ started it. */
export async function readRunItem(c: MonitorContext, runId: string): Promise<Item> {
  const { Item } = await docOf(c).send(
    new GetCommand({ TableName: c.tableNames.runs, Key: { run_id: runId }, ConsistentRead: true }),
  );
  // The faces add their own hint: each knows the command or endpoint that lists runs.
  if (!Item) throw notFound(`run ${runId} not found`);
  return Item;
}
