import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { delayStats, type Percentiles } from './delays.ts';
import { type ResultHost, resultHosts } from './slices.ts';

export type Item = Record<string, unknown>;

/** What the records say of one run: the run item and its STFs, slices and pilots. */
export interface RunRecords {
  readonly run: Item | undefined;
  readonly stfs: Item[];
  readonly slices: Item[];
  readonly pilots: Item[];
}

export interface RunReport {
  readonly runId: string;
  readonly executionId?: string;
  readonly namespace?: string;
  readonly phase?: string;
  readonly completed: boolean;
  readonly dataset?: string;
  readonly datasetState?: string;
  readonly taskId?: number;
  readonly taskState?: string;
  readonly stfFiles: number;
  readonly totalStfFiles?: number;
  readonly slicesExpected: number;
  readonly slicesDone: number;
  readonly slicesFailed: number;
  /** The pilots the worker adjuster started (a foreign transformer has none). */
  readonly pilots: { id: string; state: string; slices: number }[];
  /** Whoever reported the results: per host and pilot, from the slices. */
  readonly resultHosts: ResultHost[];
  /** processed_at − requested_at of each slice done, ms. */
  readonly delayMs: Percentiles;
  /** processing_start_at − requested_at: how long a slice waited in the queue, ms. */
  readonly queueWaitMs: Percentiles;
  /** First slice's requested_at to the first result's processed_at, ms. */
  readonly firstResultMs?: number;
}

/** Reads every record of a run; a run's records are bounded by its size, so all pages are read. */
export async function readRun(
  db: DynamoDBClient,
  tables: Record<TableName, string>,
  runId: string,
): Promise<RunRecords> {
  const doc = documents(db);
  const all = async (table: string) => {
    const items: Item[] = [];
    const pages = paginateQuery(
      { client: doc, pageSize: 1000 },
      { TableName: table, KeyConditionExpression: 'run_id = :r', ExpressionAttributeValues: { ':r': runId } },
    );
    for await (const page of pages) items.push(...((page.Items ?? []) as Item[]));
    return items;
  };
  const [run, stfs, slices, pilots] = await Promise.all([
    doc
      .send(new GetCommand({ TableName: tables.runs, Key: { run_id: runId }, ConsistentRead: true }))
      .then((r) => r.Item),
    all(tables.stfs),
    all(tables.slices),
    all(tables.pilots),
  ]);
  return { run, stfs, slices, pilots };
}

export function reportRun(runId: string, r: RunRecords): RunReport {
  const run = r.run ?? {};
  const str = (k: string) => (typeof run[k] === 'string' ? (run[k] as string) : undefined);
  const num = (k: string) => (typeof run[k] === 'number' ? (run[k] as number) : undefined);
  // The figures the monitor's run summary gives, from the same helpers.
  const delays = delayStats(runId, r.slices, false);
  return {
    runId,
    executionId: str('execution_id'),
    namespace: str('namespace'),
    phase: str('phase'),
    completed: run.completion === 'completed',
    dataset: str('dataset'),
    datasetState: str('dataset_state'),
    taskId: num('task_id'),
    taskState: str('task_state'),
    stfFiles: r.stfs.length,
    totalStfFiles: num('total_stf_files'),
    slicesExpected: r.stfs.reduce((n, s) => n + (typeof s.slice_count === 'number' ? s.slice_count : 0), 0),
    slicesDone: delays.slices_done,
    slicesFailed: delays.slices_failed,
    pilots: r.pilots.map((p) => ({
      id: String(p.pilot_id),
      state: String(p.state ?? 'unknown'),
      slices: typeof p.slices_done === 'number' ? p.slices_done : 0,
    })),
    resultHosts: resultHosts(r.slices),
    delayMs: delays.delay_ms,
    queueWaitMs: delays.queue_wait_ms,
    firstResultMs: delays.first_result_ms,
  };
}
