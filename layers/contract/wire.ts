// The parts of the contract a pilot needs on every slice, without zod: loading the schemas costs a pilot
// ~15 MB of memory and each validation pass ~30 µs. The headers and the checksum rule live apart
// (headers.ts, checksum.ts), so that messages.ts and schemas.ts build on them without a loop through here.
import { normaliseChecksum } from './checksum.ts';
import { MAX_BODY_BYTES, stompHeaders } from './headers.ts';
import type { Message } from './messages.ts';
import { parseTimestamp } from './timestamps.ts';

// Where the pilot and the domain have always found them.
export { normaliseChecksum, stompHeaders };

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
