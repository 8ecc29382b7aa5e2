// The STOMP headers of our messages and the body's limits, without zod: the pilot sends on every slice.
import type { MsgType } from './schemas.ts';

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
