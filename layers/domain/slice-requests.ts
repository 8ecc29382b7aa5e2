import { createHash } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { getAll, putAll } from './batches.ts';
import { type DomainDeps, settleAll } from './deps.ts';

/**
 * A slice as requested: the `created_at` it travels with, unique within its run, and its `req_id`. Both are
 * recorded before the slice is sent, because upstream's transformer reports a failed slice by nothing but
 * `requested_at` (the slice's `created_at`, copied as received): this record is how such a result finds
 * its slice.
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
 * block is claimed by one conditional write (of the lookup item of its first slice), the block's other
 * slices are then written unconditionally, in batches. So an STF of up to 8 slices costs one conditional
 * write, not one per slice. A probe moves a whole STF by 1 ms (a multiple of the block).
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
export async function requestSlices(deps: DomainDeps, stfs: readonly StfSlices[]): Promise<SliceRequest[][]> {
  const requests = await settleAll(stfs.map((stf) => claimBlocks(deps, stf)));
  // The claims hold every block: the rest of each block's slices cannot meet another STF's. By key, as a
  // batch may hold an STF twice, and a batch write refuses a key twice.
  const rest = new Map(
    stfs.flatMap((stf, i) =>
      (requests[i] ?? [])
        .filter((r) => r.sliceId % BLOCK_MICROS !== 0)
        .map(
          (r) =>
            [lookupKey(stf.runId, r.createdAt), { PutRequest: { Item: lookupItem(r, stf.runId) } }] as const,
        ),
    ),
  );
  await putAll(deps, deps.tableNames.lookups, [...rest.values()]);
  return requests;
}

function lookupItem(r: SliceRequest, runId: string) {
  return {
    lookup: lookupKey(runId, r.createdAt),
    run_id: runId,
    filename: r.filename,
    slice_id: r.sliceId,
    start: r.start,
    end: r.end,
    req_id: r.reqId,
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
    for (const first of requests.filter((r) => r.sliceId % BLOCK_MICROS === 0)) {
      try {
        await doc.send(
          new PutCommand({
            TableName: deps.tableNames.lookups,
            Item: lookupItem(first, runId),
            ConditionExpression: 'attribute_not_exists(#lookup) OR (#filename = :f AND #slice_id = :s)',
            ExpressionAttributeNames: {
              '#lookup': 'lookup',
              '#filename': 'filename',
              '#slice_id': 'slice_id',
            },
            ExpressionAttributeValues: { ':f': filename, ':s': first.sliceId },
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

/** The requests of a run recorded at these times (strongly consistent), by time. */
export async function findRequests(
  deps: DomainDeps,
  runId: string,
  times: Iterable<string>,
): Promise<Map<string, SliceRequest>> {
  const keys = [...new Set(times)].map((t) => ({ lookup: lookupKey(runId, t) }));
  if (keys.length === 0) return new Map();
  const fields = ['lookup', 'filename', 'slice_id', 'start', 'end', 'req_id'];
  const items = await getAll(deps, deps.tableNames.lookups, keys, fields);
  const prefix = lookupKey(runId, '');
  return new Map(
    items.map((item) => {
      const createdAt = String(item.lookup).slice(prefix.length);
      const request: SliceRequest = {
        filename: String(item.filename),
        sliceId: Number(item.slice_id),
        start: Number(item.start),
        end: Number(item.end),
        createdAt,
        reqId: String(item.req_id),
      };
      return [createdAt, request];
    }),
  );
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
