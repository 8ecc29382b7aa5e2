import { fileURLToPath } from 'node:url';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { defined, text } from '#contract/fields.ts';
import { type Message, makeMessage } from '#contract/messages.ts';
import { numberOf } from '#contract/numbers.ts';
import { destinations, sliceDestination, sliceQueueOf } from '#routes/destinations.ts';
import { planSlices } from '#stf/slicing.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { type UpdateSpec, updateOf } from '#tables/update.ts';
import { getAll } from './batches.ts';
import { checkCompletion, updateRun } from './completion.ts';
import {
  type DomainDeps,
  now,
  type RunConfig,
  type RunRecord,
  refuse,
  type StfRecord,
  send,
  settleAll,
} from './deps.ts';
import { requestSlices, type SliceRequest } from './slice-requests.ts';

export const DATA_HANDLER = 'data-handler';
export const PROCESSING_HANDLER = 'processing-handler';
/** Slices per STF when neither stf_ready nor the run config says. */
export const DEFAULT_SLICES_PER_STF = 5;
/** Our synthetic STF format; upstream's `fake` and `mock` mean: read nothing, wait `slice_processing_time`. */
export const DEFAULT_FILE_TYPE = 'stf';
export const DEFAULT_SLICE_PROCESSING_TIME = 0;

/** `swf.100123.000001.stf`, slice 0 -> `swf.100123.000001_tf_001.tf`, as upstream names a slice's TF file. */
export const tfFilename = (filename: string, sliceId: number): string =>
  `${filename.replace(/\.stf$/, '')}_tf_${String(sliceId + 1).padStart(3, '0')}.tf`;

type StfMessage = Message<'stf_gen' | 'stf_ready'>;

/** stf_gen: registers each STF and announces it with stf_ready (again on redelivery, unless it is done). */
export async function registerStfs(messages: Message<'stf_gen'>[], deps: DomainDeps): Promise<void> {
  const sequences = await settleAll(
    (await usableOf(messages, deps)).map(
      async (msg) =>
        [msg, await stfSequence(deps, msg.run_id, msg.content.filename, msg.content.sequence)] as const,
    ),
  );
  // Every registration writes the run item, one hot item: once per run and batch, not once per STF (a
  // fast run's registrations queued behind each other there). Before the STFs are marked registered, so
  // that stf_ready may take a registered STF as counted on its run. The item it returns gives the config.
  const byRun = new Map<string, { first: Message<'stf_gen'>; sequences: Set<number> }>();
  for (const [msg, sequence] of sequences) {
    const run = byRun.get(msg.run_id) ?? { first: msg, sequences: new Set<number>() };
    byRun.set(msg.run_id, run);
    run.sequences.add(sequence);
  }
  const configs = new Map<string, RunConfig | undefined>();
  await settleAll(
    [...byRun].map(async ([runId, { first, sequences: registered }]) => {
      const run = await updateRun(
        deps,
        runId,
        {
          add: { registered_stfs: registered },
          keep: { namespace: first.namespace, execution_id: executionId(first) },
        },
        'ALL_NEW',
      );
      configs.set(runId, run?.config);
    }),
  );
  await settleAll(
    sequences.map(([msg, sequence]) => registerStf(msg, sequence, configs.get(msg.run_id), deps)),
  );
}

async function registerStf(
  msg: Message<'stf_gen'>,
  sequence: number,
  config: RunConfig | undefined,
  deps: DomainDeps,
): Promise<void> {
  const c = msg.content;
  const runId = msg.run_id;
  const description = describe(msg);
  const at = now(deps);
  // The slicing is recorded here too when its size is known, so that stf_ready need not write the STF
  // item again: one write per STF. The first slicing recorded holds, whichever handler came first.
  const slicesPerStf = slicesPerStfOf(c, config);
  const slicing = slicesPerStf === undefined ? undefined : slicingOf(c, slicesPerStf);
  const stf = await updateStf(
    deps,
    runId,
    c.filename,
    {
      set: description,
      keep: {
        sequence,
        registered_at: at,
        ...(slicing && { slice_count: slicing.sliceCount, slices_requested_at: at }),
      },
    },
    'ALL_NEW',
  );
  if (stf?.completed === true) {
    deps.log.info('stf_gen for an STF already processed: not announced again', { run_id: runId, sequence });
    return;
  }
  const content = defined({
    ...description,
    run_id: runId,
    filename: c.filename,
    sequence,
    slices_per_stf: numberOf(c.slices_per_stf),
    execution_id: executionId(msg),
    slice_queue: sliceQueueOf(c.slice_queue),
  });
  const opts = { namespace: msg.namespace, sender: DATA_HANDLER };
  await send(deps, destinations.epic, makeMessage('stf_ready', runId, content, opts));
}

/** Slices per STF as the message says, else as the run's config says; undefined when neither does. */
const slicesPerStfOf = (c: StfMessage['content'], config: RunConfig | undefined) =>
  positive(c.slices_per_stf) ?? positive(config?.slices_per_stf);

/** How many slices an STF makes, and of how many TFs (as the message says, else one per slice). */
function slicingOf(c: StfMessage['content'], slicesPerStf: number) {
  const tfCount = positive(c.tf_count) ?? slicesPerStf;
  return { sliceCount: Math.min(slicesPerStf, tfCount), tfCount };
}

/**
 * stf_ready: cuts the STF into slices and queues one `slice` message per slice for the run's transformers.
 * The first slicing recorded (slice_count) holds: a redelivered stf_ready queues the same slices again,
 * which is harmless as a slice's first result wins. The batch's runs and STF items are read together; an
 * STF item stf_gen wrote whole (its slicing recorded) is not written again.
 */
export async function sliceStfs(messages: Message<'stf_ready'>[], deps: DomainDeps): Promise<void> {
  const usable = await usableOf(messages, deps);
  if (usable.length === 0) return;
  const [runs, stfs] = await Promise.all([readRuns(deps, usable), readStfs(deps, usable)]);
  const cuts = await settleAll(
    usable.map((msg) => recordSlicing(msg, runs.get(msg.run_id), stfs.get(stfKey(msg)), deps)),
  );
  // An STF stf_gen registered is counted on its run already; the others once per run and batch.
  const unregistered = new Map<string, { first: Message<'stf_ready'>; sequences: Set<number> }>();
  for (const { msg, stf, sequence } of cuts) {
    if (stf.registered_at !== undefined) continue;
    const run = unregistered.get(msg.run_id) ?? { first: msg, sequences: new Set<number>() };
    unregistered.set(msg.run_id, run);
    run.sequences.add(sequence);
  }
  await settleAll(
    [...unregistered].map(([runId, { first, sequences }]) =>
      updateRun(deps, runId, {
        add: { registered_stfs: sequences },
        keep: { namespace: first.namespace, execution_id: executionId(first) },
      }),
    ),
  );
  const toQueue = await settleAll(cuts.map((cut) => slicesToQueue(cut, runs.get(cut.msg.run_id), deps)));
  const queued = toQueue.filter((q) => q !== undefined);
  // The request times of the whole batch's slices at once: one conditional write per block of 8 slices.
  const requests = await requestSlices(
    deps,
    queued.map(({ cut, ranges }) => ({
      runId: cut.msg.run_id,
      filename: cut.msg.content.filename,
      since: cut.stf.slices_requested_at as string,
      slices: ranges,
    })),
  );
  await settleAll(
    queued.map(({ cut }, i) => queueSlices(cut, runs.get(cut.msg.run_id), requests[i] ?? [], deps)),
  );
}

interface Slicing {
  readonly msg: Message<'stf_ready'>;
  /** The STF item with its slicing recorded. */
  readonly stf: StfRecord;
  readonly sequence: number;
  /** The TFs the message says the STF holds, else as many as slices. */
  readonly tfCount: number;
}

/** The STF's slicing as recorded first: as read, or recorded now (upsert: stf_ready may come first). */
async function recordSlicing(
  msg: Message<'stf_ready'>,
  run: RunRecord | undefined,
  read: StfRecord | undefined,
  deps: DomainDeps,
): Promise<Slicing> {
  const c = msg.content;
  const { sliceCount, tfCount } = slicingOf(c, slicesPerStfOf(c, run?.config) ?? DEFAULT_SLICES_PER_STF);
  const sequence = await stfSequence(deps, msg.run_id, c.filename, c.sequence, read?.sequence);
  const description: Record<string, unknown> = describe(msg);
  const whole =
    read?.slice_count !== undefined &&
    read.slices_requested_at !== undefined &&
    read.sequence !== undefined &&
    Object.entries(description).every(([field, value]) => value === undefined || field in read);
  if (whole) return { msg, stf: read, sequence, tfCount };
  // Upsert: an upstream data agent may announce an STF our stf_gen never registered.
  const stf = (await updateStf(
    deps,
    msg.run_id,
    c.filename,
    {
      keep: { ...description, sequence, slice_count: sliceCount, slices_requested_at: now(deps) },
    },
    'ALL_NEW',
  )) as StfRecord;
  return { msg, stf, sequence, tfCount };
}

type SliceRange = { sliceId: number; start: number; end: number };

/**
 * The slices to queue for an STF, or none: refused if its TFs cannot make the slices recorded, completed if
 * every slice has a result, left if the STF or its run is done.
 */
async function slicesToQueue(
  cut: Slicing,
  run: RunRecord | undefined,
  deps: DomainDeps,
): Promise<{ cut: Slicing; ranges: SliceRange[] } | undefined> {
  const { msg, stf, sequence, tfCount } = cut;
  const c = msg.content;
  const runId = msg.run_id;
  const sliceCount = stf.slice_count as number;
  const plan = planSlices(stf.tf_count ?? tfCount, sliceCount);
  if (plan.length !== sliceCount) {
    const reason = `stf_ready: ${stf.tf_count} TFs cannot make the ${sliceCount} slices recorded for ${c.filename}`;
    await refuse(deps, msg, reason);
    return undefined;
  }
  // Results may have come first (an upstream stf_ready, or a replay): then this completes the STF.
  if ((stf.done_slices?.size ?? 0) >= sliceCount) {
    await completeStf(deps, runId, c.filename, sequence, stf.completed === true);
    return undefined;
  }
  if (stf.completed === true || run?.completion === 'completed') {
    deps.log.info('stf_ready for an STF already processed: no slices queued', { run_id: runId, sequence });
    return undefined;
  }
  // Slice and TF ranges travel inclusive (start 0, end 1 = two TFs), as upstream sends them.
  return { cut, ranges: plan.map((r) => ({ sliceId: r.sliceId, start: r.start, end: r.end - 1 })) };
}

/** Queues one `slice` message per slice requested, on the run's slice queue. */
async function queueSlices(
  cut: Slicing,
  run: RunRecord | undefined,
  requests: readonly SliceRequest[],
  deps: DomainDeps,
): Promise<void> {
  const { msg, stf, sequence } = cut;
  const c = msg.content;
  const runId = msg.run_id;
  const namespace = msg.namespace ?? run?.namespace;
  // The message says first: stf_ready may be handled before run_imminent has recorded the run's config.
  const queue = sliceQueueOf(c.slice_queue) ?? run?.config?.slice_queue ?? 'shared';
  // Upstream's whole slice content, so that upstream's transformer can take it, then what we add.
  const common = {
    run_id: runId,
    execution_id: executionId(msg),
    filename: c.filename,
    state: 'queued',
    substate: 'new',
    file_type: text(run?.config?.file_type) ?? DEFAULT_FILE_TYPE,
    // Upstream's transformer waits 30 s when a fake slice names no time: ours always does.
    slice_processing_time:
      numberOf(c.slice_processing_time) ??
      run?.config?.slice_processing_time ??
      DEFAULT_SLICE_PROCESSING_TIME,
    checksum: stf.checksum,
    url: stf.url,
    sequence,
    task_id: run?.task_id,
  };
  await settleAll(
    requests.map((r) => {
      const content = defined({
        ...common,
        req_id: r.reqId,
        tf_filename: tfFilename(c.filename, r.sliceId),
        slice_id: r.sliceId,
        start: r.start,
        end: r.end,
        tf_count: r.end - r.start + 1,
      });
      const opts = { namespace, sender: PROCESSING_HANDLER, createdAt: r.createdAt };
      return send(deps, sliceDestination(runId, queue), makeMessage('slice', runId, content, opts));
    }),
  );
  deps.log.info('STF sliced', { run_id: runId, filename: c.filename, slices: requests.length });
}

/** The messages that can be used; the others are refused (parked with the reason). */
async function usableOf<M extends StfMessage>(messages: M[], deps: DomainDeps): Promise<M[]> {
  const usable: M[] = [];
  await settleAll(
    messages.map(async (msg) => {
      const invalid = refusal(msg);
      if (invalid) return refuse(deps, msg, invalid);
      usable.push(msg);
    }),
  );
  return usable;
}

const stfKey = (msg: StfMessage) => `${msg.run_id}\n${msg.content.filename}`;

/** The batch's runs, by run id: one BatchGetItem, not a read per STF. */
async function readRuns(deps: DomainDeps, messages: readonly StfMessage[]): Promise<Map<string, RunRecord>> {
  const keys = [...new Set(messages.map((m) => m.run_id))].map((run_id) => ({ run_id }));
  const fields = ['run_id', 'namespace', 'config', 'task_id', 'completion'];
  const items = (await getAll(deps, deps.tableNames.runs, keys, fields)) as unknown as RunRecord[];
  return new Map(items.map((run) => [run.run_id, run]));
}

const STF_FIELDS: readonly (keyof StfRecord)[] = [
  'run_id',
  'filename',
  'sequence',
  'size',
  'checksum',
  'start',
  'end',
  'state',
  'substate',
  'tf_count',
  'url',
  'registered_at',
  'slice_count',
  'slices_requested_at',
  'done_slices',
  'completed',
];

/** The batch's STF items, by run and filename, in BatchGetItem requests of up to 100 keys. */
async function readStfs(deps: DomainDeps, messages: readonly StfMessage[]): Promise<Map<string, StfRecord>> {
  const keys = new Map(messages.map((m) => [stfKey(m), { run_id: m.run_id, filename: m.content.filename }]));
  const items = (await getAll(
    deps,
    deps.tableNames.stfs,
    [...keys.values()],
    STF_FIELDS,
  )) as unknown as StfRecord[];
  return new Map(items.map((stf) => [`${stf.run_id}\n${stf.filename}`, stf]));
}

/** Why a message cannot be used (retrying would not help), or undefined. */
function refusal(msg: StfMessage): string | undefined {
  const c = msg.content;
  const bad = (field: string) =>
    `${msg.msg_type}.${field}: expected a ${field === 'sequence' ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(c[field])}`;
  if (c.sequence !== undefined && nonNegative(c.sequence) === undefined) return bad('sequence');
  if (c.tf_count !== undefined && positive(c.tf_count) === undefined) return bad('tf_count');
  if (c.slices_per_stf !== undefined && positive(c.slices_per_stf) === undefined)
    return bad('slices_per_stf');
  return undefined;
}

function nonNegative(v: unknown): number | undefined {
  const n = numberOf(v);
  return n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function positive(v: unknown): number | undefined {
  const n = nonNegative(v);
  return n !== undefined && n > 0 ? n : undefined;
}

/** Upstream writes the STF time window as 20-digit strings; kept as strings. */
const window = (v: unknown) => (typeof v === 'number' ? String(v) : text(v));

/** The STF's description as its producer gave it (the stfs item's fields). */
function describe(msg: StfMessage) {
  const c = msg.content;
  return {
    size: c.size,
    checksum: c.checksum,
    start: window(c.start),
    end: window(c.end),
    state: text(c.state),
    substate: text(c.substate),
    tf_count: positive(c.tf_count),
    url: localPath(text(c.url) ?? text(c.file_url)),
  };
}

/** `file:///a/b.stf` (upstream's file_url) -> `/a/b.stf`: transformers open the url as a path locally. */
const localPath = (url: string | undefined) => (url?.startsWith('file://') ? fileURLToPath(url) : url);

const executionId = (msg: StfMessage) => text(msg.content.execution_id) ?? text(msg.execution_id);

/** Marks an STF whose every slice has a result completed and counts it on the run, which may complete. */
export async function completeStf(
  deps: DomainDeps,
  runId: string,
  filename: string,
  sequence: number,
  alreadyMarked = false,
): Promise<void> {
  if (!alreadyMarked) await updateStf(deps, runId, filename, { set: { completed: true } });
  const run = await updateRun(deps, runId, { add: { completed_stfs: new Set([sequence]) } }, 'ALL_NEW');
  await checkCompletion(deps, runId, run);
}

/**
 * The STF's sequence: as sent; else from a `swf.<run>.<seq>.stf` name; else (legacy names such as
 * `swf.20250914.185724.767135.no_beam.calib.stf`) the next number of the run's `stf_seq_counter`, drawn
 * only for a filename that has none yet: a conditional write keeps the first number drawn, so stf_gen and
 * stf_ready (and their duplicates) agree, and a number lost in a race is merely skipped. Producers that
 * omit sequences omit them all, so drawn numbers do not meet sent ones.
 * @param recorded the STF item's sequence, when the caller has read it already
 */
export async function stfSequence(
  deps: DomainDeps,
  runId: string,
  filename: string,
  given: unknown,
  recorded?: number,
): Promise<number> {
  const sent = nonNegative(given);
  if (sent !== undefined) return sent;
  const named = /^swf\.\d+\.(\d+)\.stf$/.exec(filename)?.[1];
  if (named !== undefined) return Number(named);
  const known = recorded ?? (await readStf(deps, runId, filename))?.sequence;
  if (known !== undefined) return known;
  const counter = await updateRun(deps, runId, { add: { stf_seq_counter: 1 } }, 'UPDATED_NEW');
  const drawn = counter?.stf_seq_counter as number;
  try {
    await updateStf(deps, runId, filename, {
      set: { sequence: drawn },
      condition: 'attribute_not_exists(#sequence)',
    });
    return drawn;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
  return (await readStf(deps, runId, filename))?.sequence as number;
}

async function readStf(deps: DomainDeps, runId: string, filename: string): Promise<StfRecord | undefined> {
  const { Item } = await documents(deps.db).send(
    new GetCommand({
      TableName: deps.tableNames.stfs,
      Key: { run_id: runId, filename },
      ConsistentRead: true,
    }),
  );
  return Item as StfRecord | undefined;
}

export async function updateStf(
  deps: DomainDeps,
  runId: string,
  filename: string,
  spec: UpdateSpec,
  returnValues?: 'ALL_NEW',
): Promise<StfRecord | undefined> {
  const { Attributes } = await documents(deps.db).send(
    new UpdateCommand({
      TableName: deps.tableNames.stfs,
      Key: { run_id: runId, filename },
      ...updateOf(spec),
      ...(returnValues && { ReturnValues: returnValues }),
    }),
  );
  return Attributes as StfRecord | undefined;
}
