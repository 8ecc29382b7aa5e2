import { text } from '#contract/fields.ts';
import type { Message } from '#contract/messages.ts';
import { numberOf } from '#contract/numbers.ts';
import { isRecord } from '#contract/wire.ts';
import type { DomainDeps } from './deps.ts';
import { findRequests, requestTimeOf } from './slice-requests.ts';

/** The slice a result is about. */
export interface ResultSlice {
  readonly filename: string;
  readonly sliceId: number;
  readonly start?: number;
  readonly end?: number;
}

export type Identified =
  | { readonly msg: Message<'slice_result'>; readonly slice: ResultSlice }
  | { readonly msg: Message<'slice_result'>; readonly refusal: string };

/**
 * Finds the slice of each result, whichever shape it came in: ours name it in `content`; upstream's fake
 * payload echoes the slice in `content.result.result`; a result with only a `req_id` of ours, or only
 * `requested_at` (upstream's failure), is matched to the slice request recorded when the slice was sent.
 * A result that matches no slice gets the reason it is refused.
 */
export async function identifyResults(
  messages: readonly Message<'slice_result'>[],
  deps: DomainDeps,
): Promise<Identified[]> {
  const named = messages.map((msg) => ({ msg, slice: namedSlice(msg) }));
  const unnamed = named.filter((n) => n.slice === undefined).map((n) => n.msg);
  const requests = new Map<string, Awaited<ReturnType<typeof findRequests>>>();
  for (const runId of new Set(unnamed.map((m) => m.run_id))) {
    const ofRun = unnamed.filter((m) => m.run_id === runId);
    const times = ofRun.flatMap((m) => [m.content.requested_at, requestTimeOf(m.content.req_id) ?? '']);
    requests.set(runId, await findRequests(deps, runId, times));
  }
  return named.map(({ msg, slice }): Identified => {
    if (slice) return { msg, slice };
    const found = requests.get(msg.run_id) ?? new Map();
    const reqId = text(msg.content.req_id);
    const byReqId = found.get(requestTimeOf(reqId) ?? '');
    const request = byReqId && byReqId.reqId === reqId ? byReqId : found.get(msg.content.requested_at);
    if (request && (reqId === undefined || request.reqId === reqId)) {
      const { filename, sliceId, start, end } = request;
      return { msg, slice: { filename, sliceId, start, end } };
    }
    const asked = reqId === undefined ? '' : ` or with req_id ${reqId}`;
    return {
      msg,
      refusal:
        `slice_result matches no slice of run ${msg.run_id}: no filename and slice_id in content or ` +
        `content.result.result, and no slice was requested at ${msg.content.requested_at}${asked}`,
    };
  });
}

/** The slice a result names itself: in its content (ours), or in the slice it echoes (upstream's fake). */
function namedSlice(msg: Message<'slice_result'>): ResultSlice | undefined {
  const c = msg.content;
  const echo = isRecord(c.result) && isRecord(c.result.result) ? c.result.result : undefined;
  for (const source of [c, echo]) {
    if (!source) continue;
    const filename = text(source.filename);
    const sliceId = numberOf(source.slice_id);
    if (filename === undefined || sliceId === undefined || !Number.isSafeInteger(sliceId) || sliceId < 0)
      continue;
    // An echo of another run's slice is not this result's slice.
    if (source.run_id !== undefined && String(source.run_id) !== msg.run_id) continue;
    return { filename, sliceId, start: numberOf(source.start), end: numberOf(source.end) };
  }
  return undefined;
}
