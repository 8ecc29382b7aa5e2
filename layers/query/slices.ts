import { type Item, type Page, queryPage } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';
import { readRunItem } from './runs.ts';

export const sliceStatuses = ['done', 'failed'] as const;
export type SliceStatus = (typeof sliceStatuses)[number];

/** A recorded slice result (a slice without one is not yet in the table). */
export interface SliceRow {
  readonly run_id: string;
  readonly filename: string;
  readonly slice_id: number;
  readonly status: string;
  readonly start?: number;
  readonly end?: number;
  readonly pilot_id?: string;
  readonly hostname?: string;
  readonly requested_at?: string;
  readonly processing_start_at?: string;
  readonly processed_at?: string;
  readonly recorded_at?: string;
  readonly error?: string;
  readonly result?: unknown;
}

export function sliceRow(s: Item): SliceRow {
  const row = {
    run_id: String(s.run_id),
    filename: String(s.filename),
    slice_id: s.slice_id,
    status: String(s.state ?? 'unknown'),
    start: s.start,
    end: s.end,
    pilot_id: s.pilot_id,
    hostname: s.hostname,
    requested_at: s.requested_at,
    processing_start_at: s.processing_start_at,
    processed_at: s.processed_at,
    recorded_at: s.recorded_at,
    error: s.error,
    result: s.result,
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as unknown as SliceRow;
}

export interface SliceListParams {
  readonly runId: string;
  /** Only the slices of this STF file. */
  readonly filename?: string;
  readonly status?: SliceStatus;
  readonly limit: number;
  readonly next?: string;
}

/** A run's slice results, by STF file and slice id. */
export async function listSlices(c: MonitorContext, p: SliceListParams): Promise<Page<SliceRow>> {
  await readRunItem(c, p.runId);
  const page = await queryPage(
    docOf(c),
    {
      TableName: c.tableNames.slices,
      KeyConditionExpression:
        p.filename === undefined ? 'run_id = :run' : 'run_id = :run AND begins_with(slice_key, :stf)',
      ExpressionAttributeValues: {
        ':run': p.runId,
        ...(p.filename !== undefined && { ':stf': `${p.filename}#` }),
        ...(p.status !== undefined && { ':status': p.status }),
      },
      ...(p.status !== undefined && {
        FilterExpression: '#state = :status',
        ExpressionAttributeNames: { '#state': 'state' },
      }),
    },
    { limit: p.limit, next: p.next, keys: ['run_id', 'slice_key'], partition: ['run_id', p.runId] },
  );
  return { items: page.items.map(sliceRow), ...(page.next && { next: page.next }) };
}
