import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type Item, MAX_LIMIT, notFound, type Page, scanPage } from './bounds.ts';
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
