import { defined } from '#contract/fields.ts';
import { queryAll } from '#tables/pages.ts';
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
  return defined(row) as unknown as SliceRow;
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

/** The most slices one answer reads for its aggregates; a larger run is reported on its first ones. */
export const MAX_SLICES_READ = 100_000;

/** The fields of a slice result the aggregates read: counts, delays, hosts. */
const AGGREGATE_FIELDS = [
  'state',
  'hostname',
  'pilot_id',
  'requested_at',
  'processing_start_at',
  'processed_at',
] as const;

/** A run's recorded slice results, only `fields` of each, up to MAX_SLICES_READ. */
export async function readSliceResults(
  c: MonitorContext,
  runId: string,
  fields: readonly (typeof AGGREGATE_FIELDS)[number][] = AGGREGATE_FIELDS,
): Promise<{ items: Item[]; truncated: boolean }> {
  return queryAll(
    docOf(c),
    {
      TableName: c.tableNames.slices,
      KeyConditionExpression: 'run_id = :run',
      // Every field by a placeholder: `state` is a reserved word.
      ProjectionExpression: fields.map((_, i) => `#f${i}`).join(', '),
      ExpressionAttributeNames: Object.fromEntries(fields.map((f, i) => [`#f${i}`, f])),
      ExpressionAttributeValues: { ':run': runId },
    },
    MAX_SLICES_READ,
  );
}

export interface SliceCounts {
  readonly done: number;
  readonly failed: number;
}

/** The slices done and failed among recorded results: the one count every face (summary, bar, API) shows. */
export function sliceCounts(slices: readonly Item[]): SliceCounts {
  let done = 0;
  let failed = 0;
  for (const s of slices) {
    if (s.state === 'done') done++;
    else if (s.state === 'failed') failed++;
  }
  return { done, failed };
}

/** A run's slices done and failed as recorded now, for a progress bar that polls. */
export async function recordedSlices(c: MonitorContext, runId: string): Promise<SliceCounts> {
  return sliceCounts((await readSliceResults(c, runId, ['state'])).items);
}

/**
 * A source of results: a host, and the pilot on it when the results name one (ours do; upstream's Python
 * transformer, which the worker adjuster did not start, gives only its host).
 */
export interface ResultHost {
  readonly hostname?: string;
  readonly pilot_id?: string;
  readonly done: number;
  readonly failed: number;
}

/** The hosts that reported a run's results, per host and pilot, whoever started them. */
export function resultHosts(slices: readonly Item[]): ResultHost[] {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const groups = new Map<string, Item[]>();
  for (const s of slices) {
    const key = JSON.stringify([text(s.hostname) ?? '', text(s.pilot_id) ?? '']);
    const group = groups.get(key);
    if (group) group.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, group]) => {
      const { hostname, pilot_id } = group[0] as Item;
      return {
        ...(text(hostname) !== undefined && { hostname: text(hostname) }),
        ...(text(pilot_id) !== undefined && { pilot_id: text(pilot_id) }),
        ...sliceCounts(group),
      };
    });
}

/** The result hosts as a branch of the CLI's summary trees: `├── Result hosts:` and one line per host. */
export function resultHostLines(hosts: readonly ResultHost[]): string[] {
  if (hosts.length === 0) return ['├── Result hosts: none'];
  return [
    '├── Result hosts:',
    ...hosts.map(
      (h, i) =>
        `│   ${i === hosts.length - 1 ? '└──' : '├──'} ${h.hostname ?? 'unknown host'}` +
        `${h.pilot_id === undefined ? '' : ` (pilot ${h.pilot_id})`}: ${h.done} done, ${h.failed} failed`,
    ),
  ];
}
