import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import type { WorkflowConfig } from '#config/workflow.ts';
import { type ContentInput, encodeMessage, makeMessage } from '#contract/messages.ts';
import { fromEpochMicros } from '#contract/timestamps.ts';
import type { Logger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import type { StfStore } from '#stf/store.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { type DaqBroadcast, type DaqState, type DaqStep, type DaqSubstate, planRun } from './daq-plan.ts';

export * from './daq-plan.ts';

/** Run numbers start here, as in the upstream testbed's run monitor. */
export const FIRST_RUN_NUMBER = 100010;
/** Default time kept back from the Lambda time limit to finish a step, checkpoint and chain. */
export const DEFAULT_MARGIN_MS = 30_000;

export type DaqMsgType = DaqBroadcast | 'stf_gen';

export interface DaqRequest {
  readonly workflow: WorkflowConfig;
  readonly user: string;
  /** Set by a chained invocation: resume this run from its checkpoint. */
  readonly continuation?: { readonly run_id: string };
  /**
   * Identifies the invocation that starts a run (Lambda's request id): a retried invocation takes up the
   * run its first attempt started instead of starting another one.
   */
  readonly invocationId?: string;
}

export interface DaqClock {
  /** Wall time, epoch ms (fractions allowed). */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface DaqDeps {
  readonly broker: BrokerPort;
  readonly db: DynamoDBClient;
  readonly tableNames: Record<TableName, string>;
  readonly log: Logger;
  readonly stfStore: StfStore;
  readonly clock: DaqClock;
  /** Time left in this invocation (Lambda); without it the run goes to its end in one go. */
  readonly remainingMs?: () => number;
  /** Starts the next invocation of this run; called after the checkpoint is saved. */
  readonly chain?: (continuation: { run_id: string }) => Promise<void>;
  /** Time kept back for a step, the checkpoint and chaining. @default max(30 s, 2 stf_intervals) */
  readonly marginMs?: number;
  /** Told of every message once the broker has it (the CLI's progress bar). */
  readonly onEvent?: (type: DaqMsgType, content: Record<string, unknown>) => void;
}

export interface DaqResult {
  readonly run_id: string;
  readonly execution_id: string;
  /**
   * `superseded`: another invocation of the same run moved past this one's step, so this one stopped;
   * `cancelled`: the run was cancelled (`testbed cancel`, Ctrl-C), so the DAQ stopped at its next step.
   */
  readonly status: 'ended' | 'continued' | 'superseded' | 'cancelled';
  /** STFs announced so far. */
  readonly stf_count: number;
  readonly dataset: string;
}

/** The DAQ simulator's progress, in the run item's `daq` map. */
export interface DaqCheckpoint {
  readonly execution_id: string;
  readonly workflow: string;
  readonly user: string;
  readonly namespace: string;
  /** Wall time (epoch ms) of simulated tick 0: realtime waits aim at origin_ms + the step's tick. */
  readonly origin_ms: number;
  /** Index of the next step of the plan to do. */
  readonly step: number;
  readonly period: number;
  readonly next_sequence: number;
  /** Simulated seconds at the last step done. */
  readonly simulation_tick: number;
  readonly state: DaqState;
  readonly substate: DaqSubstate;
  readonly status: 'running' | 'ended';
  readonly updated_at: string;
}

export const realClock: DaqClock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const timestampAt = (epochMs: number): string => fromEpochMicros(Math.round(epochMs * 1000));

/** Upstream's STF time format, `%Y%m%d%H%M%S%f` in UTC: 20 digits. */
export function daqTime(epochMs: number): string {
  return timestampAt(epochMs).replace(/\D/g, '');
}

export const datasetName = (runId: string): string => `swf.${runId}.run`;

/** Adds one to a counter and returns the new value; a missing counter counts from `start`. */
async function increment(
  deps: Pick<DaqDeps, 'db' | 'tableNames'>,
  counter: string,
  start: number,
): Promise<number> {
  const out = await documents(deps.db).send(
    new UpdateCommand({
      TableName: deps.tableNames.counters,
      Key: { counter },
      UpdateExpression: 'SET #v = if_not_exists(#v, :start) + :one',
      ExpressionAttributeNames: { '#v': 'value' },
      ExpressionAttributeValues: { ':start': start, ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return out.Attributes?.value as number;
}

/** The next run number: 100010, 100011, ... */
export async function allocateRunNumber(deps: Pick<DaqDeps, 'db' | 'tableNames'>): Promise<string> {
  return String(await increment(deps, 'run_number', FIRST_RUN_NUMBER - 1));
}

/** `<workflow>-<user>-<seq:04d>`, counted per workflow and user from 0001. */
export async function allocateExecutionId(
  deps: Pick<DaqDeps, 'db' | 'tableNames'>,
  workflow: string,
  user: string,
): Promise<string> {
  const seq = await increment(deps, `execution:${workflow}:${user}`, 0);
  return `${workflow}-${user}-${String(seq).padStart(4, '0')}`;
}

/** The run an invocation started, claimed once: a retried invocation gets the first attempt's run. */
async function claimRun(deps: DaqDeps, invocationId: string, runId: string): Promise<string> {
  const doc = documents(deps.db);
  const counter = `invocation:${invocationId}`;
  try {
    await doc.send(
      new UpdateCommand({
        TableName: deps.tableNames.counters,
        Key: { counter },
        UpdateExpression: 'SET #v = :run',
        ConditionExpression: 'attribute_not_exists(#c)',
        ExpressionAttributeNames: { '#v': 'value', '#c': 'counter' },
        ExpressionAttributeValues: { ':run': Number(runId) },
      }),
    );
    return runId;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    const out = await doc.send(new GetCommand({ TableName: deps.tableNames.counters, Key: { counter } }));
    return String(out.Item?.value);
  }
}

export async function loadCheckpoint(
  deps: Pick<DaqDeps, 'db' | 'tableNames'>,
  runId: string,
): Promise<DaqCheckpoint | undefined> {
  const out = await documents(deps.db).send(
    new GetCommand({
      TableName: deps.tableNames.runs,
      Key: { run_id: runId },
      ProjectionExpression: '#daq',
      ExpressionAttributeNames: { '#daq': 'daq' },
      ConsistentRead: true,
    }),
  );
  return out.Item?.daq as DaqCheckpoint | undefined;
}

/**
 * Saves the checkpoint if the stored one is still at `previousStep` (none when undefined) and the run is
 * not cancelled; false otherwise (another invocation got further, or the run was cancelled). Upserts the
 * run item with what the DAQ knows of the run.
 */
async function saveCheckpoint(
  deps: DaqDeps,
  runId: string,
  checkpoint: DaqCheckpoint,
  previousStep: number | undefined,
): Promise<boolean> {
  try {
    await documents(deps.db).send(
      new UpdateCommand({
        TableName: deps.tableNames.runs,
        Key: { run_id: runId },
        UpdateExpression:
          'SET #daq = :daq, #ns = if_not_exists(#ns, :ns), #eid = if_not_exists(#eid, :eid), ' +
          '#wf = if_not_exists(#wf, :wf), #ds = if_not_exists(#ds, :ds), #created = if_not_exists(#created, :now)',
        ConditionExpression: `${
          previousStep === undefined ? 'attribute_not_exists(#daq)' : '#daq.#step = :previous'
        } AND attribute_not_exists(#cancelled)`,
        ExpressionAttributeNames: {
          '#daq': 'daq',
          '#ns': 'namespace',
          '#eid': 'execution_id',
          '#wf': 'workflow',
          '#ds': 'dataset',
          '#created': 'created_at',
          '#cancelled': 'cancelled_at',
          ...(previousStep !== undefined && { '#step': 'step' }),
        },
        ExpressionAttributeValues: {
          ':daq': checkpoint,
          ':ns': checkpoint.namespace,
          ':eid': checkpoint.execution_id,
          ':wf': checkpoint.workflow,
          ':ds': datasetName(runId),
          ':now': checkpoint.updated_at,
          ...(previousStep !== undefined && { ':previous': previousStep }),
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

async function isCancelled(deps: Pick<DaqDeps, 'db' | 'tableNames'>, runId: string): Promise<boolean> {
  const out = await documents(deps.db).send(
    new GetCommand({
      TableName: deps.tableNames.runs,
      Key: { run_id: runId },
      ProjectionExpression: 'cancelled_at',
      ConsistentRead: true,
    }),
  );
  return out.Item?.cancelled_at !== undefined;
}

/** Starts (or finds) the run and its checkpoint. */
async function openRun(
  request: DaqRequest,
  deps: DaqDeps,
): Promise<{ runId: string; checkpoint: DaqCheckpoint }> {
  const { workflow, user } = request;
  if (request.continuation) {
    const runId = request.continuation.run_id;
    const checkpoint = await loadCheckpoint(deps, runId);
    if (!checkpoint) throw new Error(`run ${runId} has no DAQ checkpoint to continue from`);
    return { runId, checkpoint };
  }
  let runId = await allocateRunNumber(deps);
  if (request.invocationId !== undefined) {
    runId = await claimRun(deps, request.invocationId, runId);
    const existing = await loadCheckpoint(deps, runId);
    if (existing) return { runId, checkpoint: existing };
  }
  const first: DaqCheckpoint = {
    execution_id: await allocateExecutionId(deps, workflow.name, user),
    workflow: workflow.name,
    user,
    namespace: workflow.testbed.namespace,
    origin_ms: deps.clock.now(),
    step: 0,
    period: 0,
    next_sequence: 1,
    simulation_tick: 0,
    state: 'no_beam',
    substate: 'not_ready',
    status: 'running',
    updated_at: timestampAt(deps.clock.now()),
  };
  if (await saveCheckpoint(deps, runId, first, undefined)) return { runId, checkpoint: first };
  // A retried start whose first attempt saved its checkpoint between our two reads.
  const existing = await loadCheckpoint(deps, runId);
  if (!existing) throw new Error(`run ${runId}: checkpoint vanished`);
  return { runId, checkpoint: existing };
}

/**
 * Simulates one DAQ run (see planRun for the walk), broadcasting to /topic/epictopic and writing every STF
 * to the STF store. Realtime runs wait for each step's simulated time (1 simulated s = 1 wall s); others
 * run as fast as they can and only report simulated time. Progress is checkpointed in the run item after
 * every message, so when the invocation runs short of time the run goes on in a chained invocation,
 * exactly where it stopped. A message is repeated only if an invocation dies between sending it and
 * saving the checkpoint.
 */
export async function simulateRun(request: DaqRequest, deps: DaqDeps): Promise<DaqResult> {
  const { workflow } = request;
  const plan = planRun(workflow);
  const pp = workflow.promptProcessing;
  const realtime = workflow.simulation.realtime;
  const { clock } = deps;
  const margin =
    deps.marginMs ?? Math.max(DEFAULT_MARGIN_MS, 2 * Math.round(workflow.simulation.stf_interval * 1000));
  const canChain = deps.chain !== undefined && deps.remainingMs !== undefined;

  const opened = await openRun(request, deps);
  const runId = opened.runId;
  let checkpoint = opened.checkpoint;
  const dataset = datasetName(runId);
  const log = deps.log.child({ run_id: runId, execution_id: checkpoint.execution_id });
  const result = (status: DaqResult['status']): DaqResult => ({
    run_id: runId,
    execution_id: checkpoint.execution_id,
    status,
    stf_count: checkpoint.next_sequence - 1,
    dataset,
  });
  if (checkpoint.status === 'ended') return result('ended');
  if (request.continuation)
    log.info('DAQ run continues', { step: checkpoint.step, simulation_tick: checkpoint.simulation_tick });
  else log.info('DAQ run starts', { workflow: workflow.name, user: request.user, stf_count: plan.stfCount });

  const wallAt = (atMs: number) => checkpoint.origin_ms + atMs;
  const sleepUntil = async (atMs: number) => {
    const wait = wallAt(atMs) - clock.now();
    if (wait > 0) await clock.sleep(wait);
  };
  let doneHere = 0;
  /** Waits for a step's time; false when this invocation should hand over to a chained one instead. */
  const awaitTurn = async (atMs: number): Promise<boolean> => {
    const wait = realtime ? Math.max(0, wallAt(atMs) - clock.now()) : 0;
    if (canChain) {
      const budget = (deps.remainingMs as () => number)() - margin;
      // Always do one step per invocation, or two short-lived invocations could hand over forever.
      if (wait > budget && (doneHere > 0 || budget > 0)) {
        if (budget > 0) await clock.sleep(budget);
        return false;
      }
    }
    if (wait > 0) await clock.sleep(wait);
    return true;
  };

  const publish = async (type: DaqMsgType, content: Record<string, unknown>) => {
    const message = makeMessage(type, runId, content as ContentInput<typeof type>, {
      namespace: checkpoint.namespace,
      sender: `daq_simulator-${checkpoint.user}`,
      createdAt: timestampAt(clock.now()),
    });
    const { body, headers } = encodeMessage(message);
    await deps.broker.publish(destinations.epic, body, headers);
    deps.onEvent?.(type, message.content as Record<string, unknown>);
  };

  const common = (step: DaqStep) => ({
    execution_id: checkpoint.execution_id,
    state: step.state,
    substate: step.substate,
    simulation_tick: step.atMs / 1000,
  });

  for (let index = checkpoint.step; index < plan.steps.length; index++) {
    const step = plan.steps[index] as DaqStep;
    if (!(await awaitTurn(step.kind === 'stf' ? step.generateAtMs : step.atMs))) {
      log.info('DAQ run continues in a chained invocation', { step: index });
      await (deps.chain as NonNullable<DaqDeps['chain']>)({ run_id: runId });
      return result('continued');
    }
    let nextSequence = checkpoint.next_sequence;
    if (step.kind === 'broadcast') {
      await publish(step.msgType, {
        ...common(step),
        ...broadcastContent(step.msgType, workflow, dataset, nextSequence - 1),
      });
      log.info(step.msgType, { simulation_tick: step.atMs / 1000 });
    } else if (step.kind === 'stf') {
      const filename = stfFileName(runId, step.sequence);
      const data = generateStf({
        runId,
        sequence: step.sequence,
        tfCount: pp.tfs_per_stf,
        sizeBytes: pp.stf_size_bytes,
      });
      const url = await deps.stfStore.put(filename, data);
      if (realtime) await sleepUntil(step.atMs);
      await publish('stf_gen', {
        ...common(step),
        filename,
        sequence: step.sequence,
        size: data.length,
        checksum: adlerChecksum(data),
        start: daqTime(wallAt(step.startMs)),
        end: daqTime(wallAt(step.atMs)),
        tf_count: pp.tfs_per_stf,
        slices_per_stf: pp.slices_per_stf,
        url,
      });
      nextSequence = step.sequence + 1;
    } else {
      log.info('DAQ run ended', { stf_count: nextSequence - 1, simulation_tick: step.atMs / 1000 });
    }
    const next: DaqCheckpoint = {
      ...checkpoint,
      step: index + 1,
      period: step.period,
      next_sequence: nextSequence,
      simulation_tick: step.atMs / 1000,
      state: step.state,
      substate: step.substate,
      status: step.kind === 'finish' ? 'ended' : 'running',
      updated_at: timestampAt(clock.now()),
    };
    if (!(await saveCheckpoint(deps, runId, next, index))) {
      if (await isCancelled(deps, runId)) {
        log.info('DAQ run stops: the run was cancelled', { step: index });
        return result('cancelled');
      }
      log.warn('another invocation of this run is further on: this one stops', { step: index });
      return result('superseded');
    }
    checkpoint = next;
    doneHere += 1;
  }
  return result('ended');
}

function broadcastContent(
  type: DaqBroadcast,
  workflow: WorkflowConfig,
  dataset: string,
  stfsSoFar: number,
): Record<string, unknown> {
  const pp = workflow.promptProcessing;
  switch (type) {
    case 'run_imminent':
      return {
        dataset,
        workflow: workflow.name,
        num_workers: pp.target_worker_count,
        num_cores_per_worker: pp.num_cores_per_worker,
        num_ram_per_core: pp.num_ram_per_core,
        slices_per_stf: pp.slices_per_stf,
        tfs_per_stf: pp.tfs_per_stf,
        slice_processing_time: pp.slice_processing_time,
        heartbeat_interval: pp.heartbeat_interval,
        transformer_idle_timeout: pp.transformer_idle_timeout,
        file_type: pp.file_type,
        payload_command: pp.payload_command,
        payload_timeout: pp.payload_timeout,
        // The STFs this run will take, so that every face expects them before end_run says how many came.
        planned_stf_count: planRun(workflow).stfCount,
      };
    case 'pause_run':
      return { reason: 'Brief standby period' };
    case 'end_run':
      return { total_stf_files: stfsSoFar };
    default:
      return {};
  }
}
