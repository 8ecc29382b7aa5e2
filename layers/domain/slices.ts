import { defined, text } from '#contract/fields.ts';
import type { Message } from '#contract/messages.ts';
import type { SliceResultContent } from '#contract/schemas.ts';
import { isRecord } from '#contract/wire.ts';
import { getAll, putAll } from './batches.ts';
import { checkCompletion, updateRun } from './completion.ts';
import { type DomainDeps, now, refuse, type StfRecord, settleAll } from './deps.ts';
import { identifyResults } from './result-slices.ts';
import { updateStf } from './stfs.ts';

/** The slices item's sort key: `<filename>#<slice_id padded to 4>`. */
export const sliceKey = (filename: string, sliceId: number): string =>
  `${filename}#${String(sliceId).padStart(4, '0')}`;

interface Result {
  readonly msg: Message<'slice_result'>;
  readonly runId: string;
  readonly filename: string;
  readonly sliceId: number;
  readonly start: number | undefined;
  readonly end: number | undefined;
  readonly key: string;
}

/**
 * slice_result: records each slice's first result and counts the slice done on its STF; the STF that
 * gets its last slice is counted on the run, which may complete it. It is the hot path: a batch (up to
 * 100 results) costs a few batch requests, one write per STF and one per run, not a write per result.
 */
export async function recordSliceResults(
  messages: Message<'slice_result'>[],
  deps: DomainDeps,
): Promise<void> {
  const results: Result[] = [];
  const seen = new Set<string>();
  for (const found of await identifyResults(messages, deps)) {
    const { msg } = found;
    if ('refusal' in found) {
      await refuse(deps, msg, found.refusal);
      continue;
    }
    const { filename, sliceId, start, end } = found.slice;
    const key = sliceKey(filename, sliceId);
    // Within a batch, as across batches, the first result of a slice is the one recorded.
    if (seen.has(`${msg.run_id} ${key}`)) continue;
    seen.add(`${msg.run_id} ${key}`);
    results.push({ msg, runId: msg.run_id, filename, sliceId, start, end, key });
  }
  if (results.length === 0) return;

  // Counted for duplicates too: the attempt that recorded the result may have crashed before counting.
  const byStf = new Map<string, StfDone>();
  for (const r of results) {
    const id = `${r.runId} ${r.filename}`;
    const group = byStf.get(id) ?? { runId: r.runId, filename: r.filename, ids: new Set<number>() };
    group.ids.add(r.sliceId);
    byStf.set(id, group);
  }
  // Both reads at once: one round trip less per batch (the STFs' state only helps the write that counts).
  const reading = [recordedKeys(deps, results), withStfs(deps, [...byStf.values()])] as const;
  await Promise.allSettled(reading);
  const [recorded, stfs] = [await reading[0], await reading[1]];
  const fresh = results.filter((r) => !recorded.has(`${r.runId} ${r.key}`));
  const recordedAt = now(deps);
  // BatchWrite cannot be conditional: two transformers reporting the same slice at the same moment may
  // both pass the read above, and the later write replaces the earlier. Both are results of that slice and
  // it stays one item per slice key, so the slice still has exactly one recorded result.
  // Written before any STF is counted: a run never completes ahead of its last results.
  await putAll(
    deps,
    deps.tableNames.slices,
    fresh.map((r) => ({ PutRequest: { Item: resultItem(r, recordedAt) } })),
  );

  const completedByRun = new Map<string, Set<number>>();
  await settleAll(
    stfs.map(async ([group, before]) => {
      const sequence = await countDone(deps, group, before);
      if (sequence === undefined) return;
      const sequences = completedByRun.get(group.runId) ?? new Set<number>();
      completedByRun.set(group.runId, sequences.add(sequence));
    }),
  );
  // One update per run; its ALL_NEW is as fresh as a strongly consistent read.
  await settleAll(
    [...completedByRun].map(async ([runId, sequences]) => {
      const run = await updateRun(deps, runId, { add: { completed_stfs: sequences } }, 'ALL_NEW');
      await checkCompletion(deps, runId, run);
    }),
  );
  deps.log.info('slice results recorded', {
    run_ids: [...new Set(results.map((r) => r.runId))],
    results: results.length,
    recorded: fresh.length,
    duplicates: results.length - fresh.length,
    stfs: byStf.size,
    stfs_completed: [...completedByRun.values()].reduce((n, s) => n + s.size, 0),
  });
}

interface StfDone {
  readonly runId: string;
  readonly filename: string;
  readonly ids: Set<number>;
}

/**
 * Adds the slices to the STF's done set; returns the STF's sequence if that completes it. The STF was
 * read first so that the write that completes it also marks it completed (one write per STF, the hot
 * path); done_slices only grows, so the mark is never early, and a completion by a concurrent handler
 * shows in the returned item.
 */
async function countDone(
  deps: DomainDeps,
  group: StfDone,
  before: StfRecord | undefined,
): Promise<number | undefined> {
  const { runId, filename, ids } = group;
  const willBeDone =
    before?.slice_count !== undefined &&
    new Set([...(before.done_slices ?? []), ...ids]).size >= before.slice_count;
  const stf = await updateStf(
    deps,
    runId,
    filename,
    { add: { done_slices: ids }, set: { completed: willBeDone ? true : undefined } },
    'ALL_NEW',
  );
  if (stf?.slice_count === undefined || (stf.done_slices?.size ?? 0) < stf.slice_count) return undefined;
  if (stf.completed !== true) await updateStf(deps, runId, filename, { set: { completed: true } });
  if (stf.sequence === undefined) {
    deps.log.warn('STF complete but without a sequence: not counted on the run', { run_id: runId, filename });
    return undefined;
  }
  return stf.sequence;
}

/** Upstream's transformer reports `{state, result, error}` in `result`; ours reports the analysis there. */
const upstreamOutcome = (c: SliceResultContent): Record<string, unknown> | undefined =>
  isRecord(c.result) && 'error' in c.result && 'state' in c.result ? c.result : undefined;

/** Whether a result says its slice is done or failed: its state, else whether it reports an error. */
export function sliceState(c: SliceResultContent): 'done' | 'failed' {
  return c.state ?? ((c.error ?? upstreamOutcome(c)?.error ?? undefined) === undefined ? 'done' : 'failed');
}

function resultItem(
  { msg, runId, filename, sliceId, start, end, key }: Result,
  recordedAt: string,
): Record<string, unknown> {
  const c = msg.content;
  const outcome = upstreamOutcome(c);
  const error = c.error ?? outcome?.error ?? undefined;
  return defined({
    run_id: runId,
    slice_key: key,
    filename,
    slice_id: sliceId,
    start,
    end,
    state: sliceState(c),
    requested_at: c.requested_at,
    processing_start_at: c.processing_start_at,
    processed_at: c.processed_at,
    recorded_at: recordedAt,
    pilot_id: text(c.pilot_id) ?? text(c.id),
    hostname: text(c.hostname),
    result: (outcome ? outcome.result : c.result) ?? undefined,
    error: typeof error === 'string' ? error : error === undefined ? undefined : JSON.stringify(error),
  });
}

/** The `<run_id> <slice_key>` of the results already recorded (strongly consistent reads). */
async function recordedKeys(deps: DomainDeps, results: readonly Result[]): Promise<Set<string>> {
  const keys = results.map((r) => ({ run_id: r.runId, slice_key: r.key }));
  const items = await getAll(deps, deps.tableNames.slices, keys, ['run_id', 'slice_key']);
  return new Set(items.map((item) => `${item.run_id} ${item.slice_key}`));
}

/** Each group with its STF as recorded now (strongly consistent), or undefined. */
async function withStfs(
  deps: DomainDeps,
  groups: readonly StfDone[],
): Promise<[StfDone, StfRecord | undefined][]> {
  const keys = groups.map((g) => ({ run_id: g.runId, filename: g.filename }));
  const fields = ['run_id', 'filename', 'slice_count', 'done_slices'];
  const items = (await getAll(deps, deps.tableNames.stfs, keys, fields)) as unknown as StfRecord[];
  const byKey = new Map(items.map((stf) => [`${stf.run_id} ${stf.filename}`, stf]));
  return groups.map((g) => [g, byKey.get(`${g.runId} ${g.filename}`)]);
}
