import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { MAX_WORKERS_PER_RUN } from '#config/workflow-schema.ts';
import { text } from '#contract/fields.ts';
import type { Message } from '#contract/messages.ts';
import { integerOf } from '#contract/numbers.ts';
import { documents } from '#tables/documents.ts';
import { isTaskOver } from './completion.ts';
import { refuse } from './deps.ts';
import { describeExit, type PilotLauncher, pilotStatus } from './pilot-launcher-port.ts';
import { isLiveState, type PilotRecord, type PilotTableDeps, queryPilots } from './pilot-records.ts';
import { transformerEnv } from './pilot-settings.ts';
import { markEnded, markLost, pilotIdFor, startInSlot } from './pilot-slots.ts';

export interface PilotDeps extends PilotTableDeps {
  readonly launcher: PilotLauncher;
  /** The most pilots one run may have; an adjuster_worker asking for more is parked. @default MAX_WORKERS_PER_RUN */
  readonly maxWorkersPerRun?: number;
}

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
 * A request above the ceiling of pilots per run is parked with the reason and changes nothing, before the
 * latest is chosen, so the run ends as if it had come in a batch of its own.
 */
export async function adjustWorkers(
  messages: Message<'adjuster_worker'>[],
  deps: PilotDeps,
): Promise<AdjustOutcome[]> {
  const ceiling = deps.maxWorkersPerRun ?? MAX_WORKERS_PER_RUN;
  const allowed: Message<'adjuster_worker'>[] = [];
  for (const m of messages) {
    if (m.content.num_workers <= ceiling) allowed.push(m);
    else
      await refuse(
        deps,
        m,
        `adjuster_worker asks for ${m.content.num_workers} pilots for run ${m.run_id}, above the ceiling of ` +
          `${ceiling} pilots per run: nothing started or stopped`,
      );
  }
  // Several requests for one run in a batch: the last one sent is what the transceiver wants now.
  const latest = new Map<string, Message<'adjuster_worker'>>();
  for (const m of allowed) {
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
  const namespace = msg.namespace ?? text(content.namespace) ?? text(run.namespace) ?? '';
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
