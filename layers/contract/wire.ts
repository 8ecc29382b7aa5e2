// The parts of the contract a pilot needs on every slice, without zod: loading the schemas costs a pilot
// ~15 MB of memory and each validation pass ~30 µs. messages.ts builds on these.
import type { Message, MsgType } from './messages.ts';
import { parseTimestamp } from './timestamps.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Upstream's default time to live: 12 h. */
export const DEFAULT_TTL_MS = 43_200_000;

/** The STOMP headers every message of ours carries; receivers check they agree with the body. */
export function stompHeaders(
  msg: { readonly msg_type: MsgType; readonly run_id: string; readonly namespace?: string | undefined },
  ttlMs: number = DEFAULT_TTL_MS,
): Record<string, string> {
  return {
    persistent: 'true',
    msg_type: msg.msg_type,
    run_id: msg.run_id,
    ...(msg.namespace !== undefined && { namespace: msg.namespace }),
    vo: 'eic',
    expires: String(Date.now() + ttlMs),
    ttl: String(ttlMs),
  };
}

/** `ad:` + 8 hex digits, or the legacy `ad:` + decimal adler32 -> `ad:` + 8 lower-case hex digits. */
export function normaliseChecksum(s: string): string {
  // 8 digits fit both: read as hex, as producers now write hex and so short a decimal adler32 is rare (2%).
  if (/^ad:[0-9a-fA-F]{8}$/.test(s)) return s.toLowerCase();
  const decimal = /^ad:(\d{1,10})$/.exec(s)?.[1];
  if (decimal !== undefined && Number(decimal) <= 0xffffffff) {
    return `ad:${Number(decimal).toString(16).padStart(8, '0')}`;
  }
  throw new Error(
    `invalid checksum ${JSON.stringify(s)}: expected ad:<8 hex digits> or ad:<decimal adler32>`,
  );
}

/** A JSON object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const optionalText = (v: unknown): boolean => v === undefined || typeof v === 'string';

function isCanonicalTimestamp(v: unknown): boolean {
  if (typeof v !== 'string' || v.length !== 27) return false;
  try {
    return parseTimestamp(v) === v;
  } catch {
    return false;
  }
}

/**
 * The slice exactly as decodeMessage would return it, when the body is already in the canonical form our
 * producers send (nested, canonical timestamps, numeric fields); undefined for any
 * other body, which then takes decodeMessage and its refusals. test/unit/contract/wire.test.ts holds the
 * two to the same answer.
 */
export function canonicalSlice(
  body: string,
  headers: Readonly<Record<string, string>>,
): Message<'slice'> | undefined {
  // Over a third of the limit its UTF-8 size may exceed it: decodeMessage measures it.
  if (body.length > MAX_BODY_BYTES / 3) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  const { msg_type, run_id, created_at, namespace, sender, content } = parsed;
  if (msg_type !== 'slice' || typeof run_id !== 'string' || !/^\d+$/.test(run_id)) return undefined;
  if (headers.msg_type !== undefined && headers.msg_type !== msg_type) return undefined;
  if (headers.run_id !== undefined && headers.run_id !== run_id) return undefined;
  if (!isCanonicalTimestamp(created_at) || !optionalText(namespace) || !optionalText(sender))
    return undefined;
  if (!isRecord(content)) return undefined;
  const { slice_id, start, end, filename } = content;
  if (!isCount(slice_id) || !isCount(start) || !isCount(end) || end < start) return undefined;
  if (typeof filename !== 'string' || filename === '') return undefined;
  // Timestamps in the content would be normalised: leave those to decodeMessage.
  for (const k of ['requested_at', 'processing_start_at', 'processed_at'])
    if (content[k] !== undefined) return undefined;
  return parsed as Message<'slice'>;
}
