import { defined } from '#contract/fields.ts';
import { type Item, type Page, queryPage } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';
import { readRunItem } from './runs.ts';

/** registered: stf_gen handled; processing: cut into slices, results coming; done: every slice in. */
export const stfStatuses = ['registered', 'processing', 'done'] as const;
export type StfStatus = (typeof stfStatuses)[number];

export interface StfRow {
  readonly filename: string;
  readonly run_id: string;
  readonly sequence?: number;
  readonly status: StfStatus;
  /** The DAQ state the STF was taken in (physics, ...). */
  readonly state?: string;
  readonly substate?: string;
  readonly size?: number;
  readonly checksum?: string;
  readonly tf_count?: number;
  readonly start?: string;
  readonly end?: string;
  readonly registered_at?: string;
  readonly slice_count?: number;
  readonly slices_done: number;
  readonly url?: string;
}

export function stfStatus(s: Item): StfStatus {
  if (s.completed === true) return 'done';
  return typeof s.slice_count === 'number' ? 'processing' : 'registered';
}

export function stfRow(s: Item): StfRow {
  const row = {
    filename: String(s.filename),
    run_id: String(s.run_id),
    sequence: s.sequence,
    status: stfStatus(s),
    state: s.state,
    substate: s.substate,
    size: s.size,
    checksum: s.checksum,
    tf_count: s.tf_count,
    start: s.start,
    end: s.end,
    registered_at: s.registered_at,
    slice_count: s.slice_count,
    slices_done: s.done_slices instanceof Set ? s.done_slices.size : 0,
    url: s.url,
  };
  return defined(row) as unknown as StfRow;
}

const statusFilter: Record<StfStatus, string> = {
  done: '#completed = :true',
  processing: 'attribute_exists(#slice_count) AND (attribute_not_exists(#completed) OR #completed <> :true)',
  registered: 'attribute_not_exists(#slice_count)',
};

export interface StfListParams {
  readonly runId: string;
  readonly status?: StfStatus;
  readonly limit: number;
  readonly next?: string;
}

/** A run's STF files in file name (= sequence) order. */
export async function listStfFiles(c: MonitorContext, p: StfListParams): Promise<Page<StfRow>> {
  await readRunItem(c, p.runId);
  const filter = p.status === undefined ? undefined : statusFilter[p.status];
  const page = await queryPage(
    docOf(c),
    {
      TableName: c.tableNames.stfs,
      KeyConditionExpression: 'run_id = :run',
      ExpressionAttributeValues: { ':run': p.runId, ...(filter?.includes(':true') && { ':true': true }) },
      ...(filter !== undefined && {
        FilterExpression: filter,
        ExpressionAttributeNames: {
          ...(filter.includes('#completed') && { '#completed': 'completed' }),
          ...(filter.includes('#slice_count') && { '#slice_count': 'slice_count' }),
        },
      }),
    },
    { limit: p.limit, next: p.next, keys: ['run_id', 'filename'], partition: ['run_id', p.runId] },
  );
  return { items: page.items.map(stfRow), ...(page.next && { next: page.next }) };
}
