import { createHash } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { getAll } from './batches.ts';
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

/** How far a request time moves when another slice of the run already holds it: past a whole STF's slices. */
const PROBE_STEP_MICROS = 1000;
const MAX_PROBES = 64;

const lookupKey = (runId: string, createdAt: string) => `slice:${runId}:${createdAt}`;

/**
 * Gives each slice of an STF its request time, `since` plus its slice id in microseconds, or the first later
 * time no other slice of the run holds: a conditional write claims it, and a repeated request (a
 * redelivered stf_ready) finds its own claim again at the same time, so a slice sent twice is sent alike.
 */
export async function requestSlices(
  deps: DomainDeps,
  runId: string,
  filename: string,
  since: string,
  slices: readonly { sliceId: number; start: number; end: number }[],
): Promise<SliceRequest[]> {
  const base = toEpochMicros(since);
  const doc = documents(deps.db);
  return settleAll(
    slices.map(async ({ sliceId, start, end }) => {
      for (let probe = 0; probe < MAX_PROBES; probe++) {
        const createdAt = fromEpochMicros(base + sliceId + probe * PROBE_STEP_MICROS);
        const reqId = requestId(runId, filename, sliceId, createdAt);
        try {
          await doc.send(
            new PutCommand({
              TableName: deps.tableNames.lookups,
              Item: {
                lookup: lookupKey(runId, createdAt),
                run_id: runId,
                filename,
                slice_id: sliceId,
                start,
                end,
                req_id: reqId,
              },
              ConditionExpression: 'attribute_not_exists(#lookup) OR (#filename = :f AND #slice_id = :s)',
              ExpressionAttributeNames: {
                '#lookup': 'lookup',
                '#filename': 'filename',
                '#slice_id': 'slice_id',
              },
              ExpressionAttributeValues: { ':f': filename, ':s': sliceId },
            }),
          );
          return { filename, sliceId, start, end, createdAt, reqId };
        } catch (error) {
          if (!isConditionFailed(error)) throw error;
        }
      }
      throw new Error(
        `${filename} slice ${sliceId}: no free request time within ${MAX_PROBES} ms of ${since}`,
      );
    }),
  );
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
