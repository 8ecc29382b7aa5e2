import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Message } from '#contract/messages.ts';
import { integerOf, numberOf } from '#contract/numbers.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import type { HandlerDeps } from '#messaging/handler-deps.ts';
import { conditionalWrite } from '#tables/conditions.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { queryAll } from '#tables/pages.ts';
import { type UpdateSpec, updateOf } from '#tables/update.ts';
import { isTaskOver } from './completion.ts';

/** What a launcher needs to start one pilot (a transformer process or container) for a run. */
export interface PilotSpec {
  readonly runId: string;
  readonly pilotId: string;
  readonly taskId?: number;
  /** The testbed namespace the transformer selects slices by; empty when the run has none. */
  readonly namespace: string;
  /** Transformer settings: SLICE_PROCESSING_TIME, HEARTBEAT_INTERVAL, IDLE_TIMEOUT, PAYLOAD_*, PILOT_ATTEMPT. */
  readonly env: Record<string, string>;
  /** What the pilot asks for; an ECS launcher maps it onto task CPU and memory. */
  readonly resources?: { readonly cores: number; readonly ramPerCoreMb: number };
}

/**
 * How a pilot's latest attempt stands, as its launcher saw it end: `exited` is a normal end (exit code 0:
 * idle timeout, stop_transformer, a SIGTERM drain), `failed` any other (non-zero exit, killed by a signal, a
 * container that never started), `unknown` when nothing is left to tell (gone without a trace).
 */
export type PilotStatus =
  | { readonly state: 'running' }
  | { readonly state: 'exited'; readonly code: 0; readonly reason?: string }
  | { readonly state: 'failed'; readonly code?: number; readonly signal?: string; readonly reason?: string }
  | { readonly state: 'unknown' };

/** Starts and stops pilots: child processes locally, ECS tasks in AWS. */
export interface PilotLauncher {
  start(spec: PilotSpec): Promise<{ pid?: number }>;
  isAlive(runId: string, pilotId: string): Promise<boolean>;
  /** Asks the pilot to end gracefully (SIGTERM: it finishes its slice and sends transformer_end). */
  stop(runId: string, pilotId: string): Promise<void>;
  /**
   * How the pilot's attempt `attempt` (else its latest) ended, or that it runs. A launcher without it
   * (a stand-in) leaves every pilot that is gone counted as lost.
   */
  status?(runId: string, pilotId: string, attempt?: number): Promise<PilotStatus>;
}

export interface PilotTableDeps extends HandlerDeps {
  readonly db: DynamoDBClient;
  readonly tableNames: Readonly<Record<TableName, string>>;
}

export interface PilotDeps extends PilotTableDeps {
  readonly launcher: PilotLauncher;
}

export type PilotState = 'requested' | 'running' | 'ended' | 'lost';

/** A pilots item as stored. */
export interface PilotRecord {
  readonly run_id: string;
  readonly pilot_id: string;
  readonly task_id?: number;
  readonly slot?: number;
  readonly state?: PilotState;
  readonly hostname?: string;
  readonly pid?: number;
  readonly requested_at?: string;
  readonly started_at?: string;
  readonly last_heartbeat_at?: string;
  readonly ended_at?: string;
  readonly slices_done?: number;
  readonly attempts?: number;
  /**
   * When the worker adjuster or the watchdog gave this attempt up as lost. Kept when a late transformer_end
   * turns the pilot 'ended', so the watchdog still knows the slot wants a new attempt; a new attempt clears it.
   */
  readonly lost_at?: string;
  /** Why it ended, when its launcher told (an exit seen before, or instead of, its transformer_end). */
  readonly end_reason?: string;
  /** Attempts that refilled the slot after a normal end (not a failure): they do not count toward the limit. */
  readonly refills?: number;
}

/** The attempts a slot has spent on failures: all of them but the refills after a normal end. */
export const spentAttempts = (p: Pick<PilotRecord, 'attempts' | 'refills'> | undefined): number =>
  (p?.attempts ?? 0) - (p?.refills ?? 0);

/** Transformer settings when neither the message nor the run's config gives them. */
export const pilotDefaults = {
  slice_processing_time: 0,
  heartbeat_interval: 5,
  transformer_idle_timeout: 60,
  payload_timeout: 600,
};

/**
 * A transformer's environment from the run's settings, the first source that has a value winning (the
 * adjuster_worker content, then the run's config). PAYLOAD_COMMAND only when the workflow names one: an
 * empty one would hide the command a pilot image of one's own sets (functions/transformer/README.md).
 */
export function transformerEnv(...sources: readonly object[]): Record<string, string> {
  const values = sources as readonly Record<string, unknown>[];
  const setting = (key: keyof typeof pilotDefaults): number =>
    values.reduce<number | undefined>((v, s) => v ?? numberOf(s[key]), undefined) ?? pilotDefaults[key];
  const command = values.reduce<string | undefined>((v, s) => v ?? stringOf(s.payload_command), undefined);
  return {
    SLICE_PROCESSING_TIME: String(setting('slice_processing_time')),
    HEARTBEAT_INTERVAL: String(setting('heartbeat_interval')),
    IDLE_TIMEOUT: String(setting('transformer_idle_timeout')),
    PAYLOAD_TIMEOUT: String(setting('payload_timeout')),
    ...(command !== undefined && { PAYLOAD_COMMAND: command }),
  };
}

/** Attempts per pilot slot at most, as PanDA's maxAttempt: a pilot that keeps dying is not restarted forever. */
export const MAX_PILOT_ATTEMPTS = 3;

/** `<run_id>-p<slot:02d>` */
export const pilotIdFor = (runId: string, slot: number): string =>
  `${runId}-p${String(slot).padStart(2, '0')}`;

export interface AdjustOutcome {
  readonly runId: string;
  readonly numWorkers: number;
  readonly started: string[];
  readonly kept: string[];
  readonly stopped: string[];
  readonly lost: string[];
}

/**
 * The worker adjuster (Harvester's part): makes a run's live pilots match `num_workers`. Slots 1..N hold
 * pilots `<run>-p01`..; a slot whose pilot is live (recorded requested/running and alive by the launcher) is
 * left alone, any other is (re)started after claiming it with a conditional write on `attempts`, so a
 * duplicate adjuster_worker starts nothing, and at most MAX_PILOT_ATTEMPTS times. Pilots above N are stopped,
 * or marked lost if already gone.
 * A run whose task is closed gets no new pilots: a late or reordered adjuster_worker then only stops.
 */
export async function adjustWorkers(
  messages: Message<'adjuster_worker'>[],
  deps: PilotDeps,
): Promise<AdjustOutcome[]> {
  // Several requests for one run in a batch: the last one sent is what the transceiver wants now.
  const latest = new Map<string, Message<'adjuster_worker'>>();
  for (const m of messages) {
    const seen = latest.get(m.run_id);
    if (!seen || seen.created_at <= m.created_at) latest.set(m.run_id, m);
  }
  const outcomes: AdjustOutcome[] = [];
  for (const m of latest.values()) outcomes.push(await adjustRun(m, deps));
  return outcomes;
}

async function adjustRun(msg: Message<'adjuster_worker'>, deps: PilotDeps): Promise<AdjustOutcome> {
  const doc = documents(deps.db);
  const runId = msg.run_id;
  const content = msg.content as Record<string, unknown>;
  const [runItem, pilotItems] = await Promise.all([
    doc.send(
      new GetCommand({ TableName: deps.tableNames.runs, Key: { run_id: runId }, ConsistentRead: true }),
    ),
    queryPilots(deps, runId),
  ]);
  const run = (runItem.Item ?? {}) as Record<string, unknown>;
  const config = (run.config ?? {}) as Record<string, unknown>;
  const closed = isTaskOver(run);
  const numWorkers = closed ? 0 : msg.content.num_workers;
  const log = deps.log.child({ handler: 'adjuster_worker', run_id: runId });
  if (closed && msg.content.num_workers > 0)
    log.info('task closed: no pilots started', { requested: msg.content.num_workers });

  const taskId = integerOf(content.task_id) ?? integerOf(run.task_id);
  const namespace = msg.namespace ?? stringOf(content.namespace) ?? stringOf(run.namespace) ?? '';
  const env = transformerEnv(content, config);
  const resources = { cores: msg.content.num_cores_per_worker, ramPerCoreMb: msg.content.num_ram_per_core };
  const byId = new Map(pilotItems.map((p) => [p.pilot_id, p]));
  const outcome: AdjustOutcome = { runId, numWorkers, started: [], kept: [], stopped: [], lost: [] };

  const ensure = async (slot: number): Promise<void> => {
    const pilotId = pilotIdFor(runId, slot);
    const record = byId.get(pilotId);
    if (isLiveState(record?.state) && (await deps.launcher.isAlive(runId, pilotId))) {
      outcome.kept.push(pilotId);
      return;
    }
    const started = await startInSlot(deps, {
      runId,
      slot,
      record,
      requestedAt: msg.content.requested_at,
      taskId,
      namespace,
      env,
      resources,
      log,
    });
    if (started) outcome.started.push(pilotId);
  };

  const retire = async (record: PilotRecord): Promise<void> => {
    if (!isLiveState(record.state)) return;
    if (await deps.launcher.isAlive(runId, record.pilot_id)) {
      await deps.launcher.stop(runId, record.pilot_id);
      log.info('pilot asked to stop', { pilot_id: record.pilot_id });
      outcome.stopped.push(record.pilot_id);
      return;
    }
    // Gone without a transformer_end (yet): ended when its launcher saw a normal exit, else lost (a late
    // transformer_end still turns it into 'ended').
    const exit = await pilotStatus(deps.launcher, record);
    if (exit.state === 'exited') await markEnded(deps, record, describeExit(exit));
    else if (await markLost(deps, record)) outcome.lost.push(record.pilot_id);
  };

  const surplus = pilotItems.filter((p) => p.slot !== undefined && p.slot > numWorkers);
  await Promise.all([...Array.from({ length: numWorkers }, (_, i) => ensure(i + 1)), ...surplus.map(retire)]);
  return outcome;
}

export async function queryPilots(
  deps: Pick<PilotTableDeps, 'db' | 'tableNames'>,
  runId: string,
): Promise<PilotRecord[]> {
  const { items } = await queryAll<PilotRecord>(documents(deps.db), {
    TableName: deps.tableNames.pilots,
    KeyConditionExpression: 'run_id = :run',
    ExpressionAttributeValues: { ':run': runId },
    ConsistentRead: true,
  });
  return items;
}

export const isLiveState = (s: PilotState | undefined): boolean => s === 'requested' || s === 'running';

/** What claiming a slot and starting its pilot needs: the tables and a launcher, no broker. */
export interface PilotSlotDeps {
  readonly db: DynamoDBClient;
  readonly tableNames: Readonly<Record<TableName, string>>;
  readonly log: Logger;
  readonly launcher: PilotLauncher;
}

export interface SlotStart {
  readonly runId: string;
  readonly slot: number;
  /** The slot's pilots item as read: its `attempts` is what the claim expects to find. */
  readonly record: PilotRecord | undefined;
  readonly requestedAt: string;
  readonly taskId: number | undefined;
  readonly namespace: string;
  /** transformerEnv's settings; PILOT_ATTEMPT is added here. */
  readonly env: Record<string, string>;
  readonly resources?: PilotSpec['resources'];
  readonly log: Logger;
  /** The slot's last pilot ended normally (idled out, say) and its run still wants it: spends no attempt. */
  readonly refill?: boolean;
}

/**
 * (Re)starts a slot's pilot as attempt `attempts + 1`, after claiming the slot with a conditional write on
 * `attempts`: of adjusters and watchdogs racing for one slot only one starts a pilot. A slot that has had
 * MAX_PILOT_ATTEMPTS attempts is not started again. Returns whether a pilot was started.
 */
export async function startInSlot(deps: PilotSlotDeps, s: SlotStart): Promise<boolean> {
  const doc = documents(deps.db);
  const pilotId = pilotIdFor(s.runId, s.slot);
  const seen = s.record?.attempts;
  if (!s.refill && spentAttempts(s.record) >= MAX_PILOT_ATTEMPTS) {
    s.log.warn('pilot slot has had all its attempts: not started again', {
      pilot_id: pilotId,
      attempts: seen,
    });
    return false;
  }
  const attempt = (seen ?? 0) + 1;
  const claimed = await conditionalWrite(
    doc.send(
      new UpdateCommand({
        TableName: deps.tableNames.pilots,
        Key: { run_id: s.runId, pilot_id: pilotId },
        ...updateOf({
          set: {
            state: 'requested',
            slot: s.slot,
            requested_at: s.requestedAt,
            attempts: attempt,
            task_id: s.taskId,
          },
          add: { refills: s.refill ? 1 : undefined },
          // A fresh attempt: what the previous one reported no longer describes the pilot.
          remove: [
            'started_at',
            'ended_at',
            'last_heartbeat_at',
            'hostname',
            'pid',
            'slices_done',
            'lost_at',
            'end_reason',
          ],
          condition: seen === undefined ? 'attribute_not_exists(attempts)' : 'attempts = :seen',
          values: seen === undefined ? {} : { ':seen': seen },
        }),
      }),
    ),
  );
  if (!claimed) {
    s.log.info('another adjuster or watchdog claimed the slot first', { pilot_id: pilotId });
    return false;
  }
  const { pid } = await deps.launcher.start({
    runId: s.runId,
    pilotId,
    ...(s.taskId !== undefined && { taskId: s.taskId }),
    namespace: s.namespace,
    env: { ...s.env, PILOT_ATTEMPT: String(attempt) },
    ...(s.resources && { resources: s.resources }),
  });
  s.log.info('pilot started', { pilot_id: pilotId, attempt, pid });
  return true;
}

/**
 * Marks a live (requested or running) pilot 'lost' (and when: `lost_at`), if its record is still the attempt
 * that was read: a transformer_end recorded meanwhile, or a newer attempt, wins. A late transformer_end of
 * this attempt still turns it into 'ended'. Returns whether it was marked.
 */
export function markLost(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  at: string = nowTimestamp(),
): Promise<boolean> {
  return settleLive(deps, record, { state: 'lost', lost_at: at });
}

/**
 * Marks a live pilot 'ended' because its launcher saw it exit normally (its transformer_end not recorded,
 * or not yet: the broker or the handlers may be away), if its record is still the attempt that was read. Its
 * slot keeps its attempts: nothing failed. A transformer_end handled later still fills in its slice count.
 */
export function markEnded(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  reason: string,
  at: string = nowTimestamp(),
): Promise<boolean> {
  return settleLive(deps, record, { state: 'ended', ended_at: at, end_reason: reason });
}

/** Writes `fields` to a pilot still live and still at the attempt read; returns whether it was written. */
function settleLive(
  deps: Pick<PilotSlotDeps, 'db' | 'tableNames'>,
  record: PilotRecord,
  fields: Readonly<Record<string, string>>,
): Promise<boolean> {
  return conditionalWrite(
    documents(deps.db).send(
      new UpdateCommand({
        TableName: deps.tableNames.pilots,
        Key: { run_id: record.run_id, pilot_id: record.pilot_id },
        ...updateOf({
          set: fields,
          condition:
            '#state IN (:requested, :running) AND ' +
            (record.attempts === undefined ? 'attribute_not_exists(attempts)' : 'attempts = :seen'),
          values: {
            ':requested': 'requested',
            ':running': 'running',
            ...(record.attempts !== undefined && { ':seen': record.attempts }),
          },
        }),
      }),
    ),
  );
}

/** A launcher's word on a pilot, 'unknown' from one that cannot tell; its liveness from isAlive then. */
export async function pilotStatus(
  launcher: PilotLauncher,
  record: Pick<PilotRecord, 'run_id' | 'pilot_id' | 'attempts'>,
): Promise<PilotStatus> {
  if (launcher.status) return launcher.status(record.run_id, record.pilot_id, record.attempts);
  return (await launcher.isAlive(record.run_id, record.pilot_id))
    ? { state: 'running' }
    : { state: 'unknown' };
}

/** An exit status in a few words, for records and logs: `exit 0 (idle_timeout)`, `killed by SIGKILL`. */
export function describeExit(s: PilotStatus): string {
  if (s.state === 'running' || s.state === 'unknown')
    return s.state === 'running' ? 'running' : 'gone without a trace';
  const how = s.state === 'failed' && s.signal ? `killed by ${s.signal}` : `exit ${s.code ?? '?'}`;
  return s.reason ? `${how} (${s.reason})` : how;
}

// --- transformer lifecycle records -------------------------------------------------------------

type Lifecycle = 'transformer_start' | 'transformer_heartbeat' | 'transformer_end';

/** What a lifecycle message says about its pilot; `attempt` tells restarts of one pilot id apart. */
interface PilotReport {
  readonly runId: string;
  readonly pilotId: string;
  readonly at: string;
  readonly attempt?: number;
  readonly hostname?: string;
  readonly pid?: number;
  readonly taskId?: number;
  readonly slicesDone?: number;
}

function reportOf(msg: Message<Lifecycle>): PilotReport | undefined {
  const c = msg.content as Record<string, unknown>;
  const pilotId = stringOf(c.pilot_id) ?? stringOf(c.id);
  if (pilotId === undefined) return undefined;
  const fields = {
    attempt: integerOf(c.attempt),
    hostname: stringOf(c.hostname),
    pid: integerOf(c.pid),
    taskId: integerOf(c.task_id),
    slicesDone: integerOf(c.slices_done),
  };
  return {
    runId: msg.run_id,
    pilotId,
    at: msg.created_at,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  };
}

/**
 * One conditional upsert of a pilots item, `spec.condition` being its conditions joined by AND; reports of an
 * older attempt than the recorded one are ignored.
 */
const notEnded = '(attribute_not_exists(#state) OR #state <> :ended)';

function lifecycleUpdate(
  deps: PilotTableDeps,
  r: PilotReport,
  spec: Omit<UpdateSpec, 'condition'> & { readonly conditions?: readonly string[] },
): UpdateCommandInput {
  const { conditions = [], values = {}, ...writes } = spec;
  const olderAttempt = r.attempt !== undefined;
  const all = [
    ...conditions,
    ...(olderAttempt ? ['(attribute_not_exists(attempts) OR attempts <= :attempt)'] : []),
  ];
  return {
    TableName: deps.tableNames.pilots,
    Key: { run_id: r.runId, pilot_id: r.pilotId },
    ...updateOf({
      ...writes,
      ...(all.length > 0 && { condition: all.join(' AND ') }),
      values: { ...values, ...(olderAttempt && { ':attempt': r.attempt }) },
    }),
  };
}

async function eachReport(
  messages: Message<Lifecycle>[],
  deps: PilotTableDeps,
  record: (r: PilotReport) => Promise<void>,
): Promise<void> {
  await Promise.all(
    messages.map(async (m) => {
      const r = reportOf(m);
      if (!r) {
        deps.log.warn('lifecycle message names no pilot (content.pilot_id or content.id): not recorded', {
          msg_type: m.msg_type,
          run_id: m.run_id,
        });
        return;
      }
      await record(r);
    }),
  );
}

/** transformer_start: the pilot runs. An end recorded first (messages cross) keeps the pilot 'ended'. */
export async function recordTransformerStart(
  messages: Message<'transformer_start'>[],
  deps: PilotTableDeps,
): Promise<void> {
  const doc = documents(deps.db);
  await eachReport(messages, deps, async (r) => {
    const running = await conditionalWrite(
      doc.send(
        new UpdateCommand(
          lifecycleUpdate(deps, r, {
            set: { state: 'running', started_at: r.at, hostname: r.hostname, pid: r.pid },
            keep: { task_id: r.taskId },
            conditions: [notEnded],
            values: { ':ended': 'ended' },
          }),
        ),
      ),
    );
    if (running) return;
    // Already ended: keep the state, fill in what only the start says.
    await conditionalWrite(
      doc.send(
        new UpdateCommand(
          lifecycleUpdate(deps, r, {
            keep: { started_at: r.at, hostname: r.hostname, pid: r.pid, task_id: r.taskId },
          }),
        ),
      ),
    );
  });
}

/**
 * transformer_heartbeat: the newest heartbeat wins. One handled after the end only moves last_heartbeat_at:
 * the end's slices_done is final.
 */
export async function recordTransformerHeartbeat(
  messages: Message<'transformer_heartbeat'>[],
  deps: PilotTableDeps,
): Promise<void> {
  const doc = documents(deps.db);
  const newer = '(attribute_not_exists(last_heartbeat_at) OR last_heartbeat_at < :heartbeat_at)';
  await eachReport(messages, deps, async (r) => {
    const recorded = await conditionalWrite(
      doc.send(
        new UpdateCommand(
          lifecycleUpdate(deps, r, {
            set: { last_heartbeat_at: r.at, slices_done: r.slicesDone },
            keep: { hostname: r.hostname, task_id: r.taskId },
            conditions: [newer, notEnded],
            values: { ':heartbeat_at': r.at, ':ended': 'ended' },
          }),
        ),
      ),
    );
    if (recorded) return;
    await conditionalWrite(
      doc.send(
        new UpdateCommand(
          lifecycleUpdate(deps, r, {
            set: { last_heartbeat_at: r.at },
            conditions: [newer],
            values: { ':heartbeat_at': r.at },
          }),
        ),
      ),
    );
  });
}

/** transformer_end: the pilot ended, with its final slice count; whatever arrives later keeps it ended. */
export async function recordTransformerEnd(
  messages: Message<'transformer_end'>[],
  deps: PilotTableDeps,
): Promise<void> {
  const doc = documents(deps.db);
  await eachReport(messages, deps, async (r) => {
    await conditionalWrite(
      doc.send(
        new UpdateCommand(
          lifecycleUpdate(deps, r, {
            set: { state: 'ended', ended_at: r.at, slices_done: r.slicesDone },
            keep: { hostname: r.hostname, pid: r.pid, task_id: r.taskId },
          }),
        ),
      ),
    );
  });
}

// --- helpers -----------------------------------------------------------------------------------

const stringOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
