import { createHash } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { getAll } from './batches.ts';
import { type DomainDeps, settleAll } from './deps.ts';

/**
 * A slice as requested: the `created_at` it travels with, unique within its run, and its `req_id` (which
 * follows from the slice and its `created_at`). The slice is recorded at its time before it is sent,
 * because upstream's transformer reports a failed slice by nothing but `requested_at` (the slice's
 * `created_at`, copied as received): this record is how such a result finds its slice.
 */
export interface SliceRequest {
  readonly filename: string;
  readonly sliceId: number;
  /** TF range, inclusive, as the slice carries it. */
  readonly start: number;
  readonly end: number;
  readonly createdAt: string;
  readonly reqId: string;
}

/**
 * An STF's slices take request times in blocks of this many microseconds, aligned to multiples of it: each
 * block is one lookup item, at the time of its first slice, written by one conditional write that both
 * claims the block and records its slices. So an STF of up to 8 slices costs one write, not one per slice.
 * A probe moves a whole STF by 1 ms (a multiple of the block).
 */
const BLOCK_MICROS = 8;
const PROBE_STEP_MICROS = 1000;
const MAX_PROBES = 64;

const lookupKey = (runId: string, createdAt: string) => `slice:${runId}:${createdAt}`;

/** The slices of one STF to request: slice ids 0 to n − 1, as planSlices numbers them. */
export interface StfSlices {
  readonly runId: string;
  readonly filename: string;
  /** When the STF was first sliced (its item's slices_requested_at): the request times follow it. */
  readonly since: string;
  readonly slices: readonly { sliceId: number; start: number; end: number }[];
}

/**
 * Gives each slice of these STFs its request time: the block at or before `since` plus its slice id in
 * microseconds, or the first block a millisecond later that no other STF of the run holds. A repeated
 * request (a redelivered stf_ready) finds its own claims again at the same times, so a slice sent twice is
 * sent alike. Returns each STF's requests, in the order given.
 */
export function requestSlices(deps: DomainDeps, stfs: readonly StfSlices[]): Promise<SliceRequest[][]> {
  return settleAll(stfs.map((stf) => claimBlocks(deps, stf)));
}

/** A block's lookup item: its slices in order, the first of them (`slice_id`) the one at the key's time. */
function blockItem(runId: string, block: readonly SliceRequest[]) {
  const [first] = block as [SliceRequest];
  return {
    lookup: lookupKey(runId, first.createdAt),
    run_id: runId,
    filename: first.filename,
    slice_id: first.sliceId,
    slices: block.map(({ sliceId, start, end }) => ({ slice_id: sliceId, start, end })),
  };
}

/** Claims the STF's blocks of request times (one conditional write each); its requests at those times. */
async function claimBlocks(deps: DomainDeps, stf: StfSlices): Promise<SliceRequest[]> {
  const { runId, filename, since, slices } = stf;
  const ids = slices.map((s) => s.sliceId);
  if (ids.some((id, i) => id !== i))
    throw new Error(`${filename}: slice ids must run from 0 without gaps, got ${ids.join(', ')}`);
  const base = Math.floor(toEpochMicros(since) / BLOCK_MICROS) * BLOCK_MICROS;
  const doc = documents(deps.db);
  for (let probe = 0; probe < MAX_PROBES; probe++) {
    const requests = slices.map(({ sliceId, start, end }) => {
      const createdAt = fromEpochMicros(base + probe * PROBE_STEP_MICROS + sliceId);
      return {
        filename,
        sliceId,
        start,
        end,
        createdAt,
        reqId: requestId(runId, filename, sliceId, createdAt),
      };
    });
    let claimed = true;
    // In order, so that a redelivered request meets the same claims as the first one did.
    for (let i = 0; i < requests.length; i += BLOCK_MICROS) {
      const block = requests.slice(i, i + BLOCK_MICROS);
      try {
        await doc.send(
          new PutCommand({
            TableName: deps.tableNames.lookups,
            Item: blockItem(runId, block),
            ConditionExpression: 'attribute_not_exists(#lookup) OR (#filename = :f AND #slice_id = :s)',
            ExpressionAttributeNames: {
              '#lookup': 'lookup',
              '#filename': 'filename',
              '#slice_id': 'slice_id',
            },
            ExpressionAttributeValues: { ':f': filename, ':s': i },
          }),
        );
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
        claimed = false;
        break;
      }
    }
    if (claimed) return requests;
  }
  throw new Error(`${filename}: no free request times within ${MAX_PROBES} ms of ${since}`);
}

/**
 * The requests of a run recorded at these times (strongly consistent), by time: each time is read in the
 * item of its block. A time not written as slices are sent (another format, or no timestamp) finds none,
 * as no slice was sent with it.
 */
export async function findRequests(
  deps: DomainDeps,
  runId: string,
  times: Iterable<string>,
): Promise<Map<string, SliceRequest>> {
  const asked = [...new Set(times)].flatMap((createdAt) => {
    const micros = canonicalMicros(createdAt);
    if (micros === undefined) return [];
    const first = Math.floor(micros / BLOCK_MICROS) * BLOCK_MICROS;
    return [{ createdAt, offset: micros - first, block: lookupKey(runId, fromEpochMicros(first)) }];
  });
  if (asked.length === 0) return new Map();
  const keys = [...new Set(asked.map((a) => a.block))].map((lookup) => ({ lookup }));
  const fields = ['lookup', 'filename', 'slice_id', 'slices'];
  const items = await getAll(deps, deps.tableNames.lookups, keys, fields);
  const blocks = new Map(items.map((item) => [String(item.lookup), item]));
  const found = new Map<string, SliceRequest>();
  for (const { createdAt, offset, block } of asked) {
    const item = blocks.get(block);
    const sliceId = Number(item?.slice_id) + offset;
    const slices: Record<string, unknown>[] = Array.isArray(item?.slices) ? item.slices : [];
    const slice = slices.find((s) => Number(s.slice_id) === sliceId);
    if (!item || !slice) continue;
    const filename = String(item.filename);
    found.set(createdAt, {
      filename,
      sliceId,
      start: Number(slice.start),
      end: Number(slice.end),
      createdAt,
      reqId: requestId(runId, filename, sliceId, createdAt),
    });
  }
  return found;
}

/** The epoch microseconds of a time as fromEpochMicros writes it, else undefined. */
function canonicalMicros(time: string): number | undefined {
  try {
    const micros = toEpochMicros(time);
    return fromEpochMicros(micros) === time ? micros : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A slice's `req_id`: a UUID version 7 whose time is the slice's `created_at` (its sub-millisecond
 * microseconds in `rand_a`) and whose other bits hash the slice's identity. So a result that names only its
 * `req_id` finds the request as one naming `requested_at` does, and the same slice always gets the same id.
 */
export function requestId(runId: string, filename: string, sliceId: number, createdAt: string): string {
  const micros = toEpochMicros(createdAt);
  const ms = Math.floor(micros / 1000);
  const hash = createHash('sha256').update(`${runId}\n${filename}\n${sliceId}`).digest();
  const variant = (0x8 | ((hash[0] as number) & 0x3)).toString(16);
  const hex = [
    ms.toString(16).padStart(12, '0'),
    '7',
    (micros - ms * 1000).toString(16).padStart(3, '0'),
    variant,
    hash.subarray(1, 9).toString('hex').slice(0, 15),
  ].join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The `created_at` a req_id made by requestId carries; undefined for any other id (upstream's are random). */
export function requestTimeOf(reqId: unknown): string | undefined {
  if (typeof reqId !== 'string') return undefined;
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-7([0-9a-f]{3})-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.exec(reqId);
  if (!m) return undefined;
  const sub = Number.parseInt(m[3] as string, 16);
  if (sub >= 1000) return undefined;
  return fromEpochMicros(Number.parseInt(`${m[1]}${m[2]}`, 16) * 1000 + sub);
}
