import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { defined, text } from '#contract/fields.ts';
import { type Message, makeMessage } from '#contract/messages.ts';
import { numberOf } from '#contract/numbers.ts';
import { destinations, sliceQueueOf } from '#routes/destinations.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import type { UpdateSpec } from '#tables/update.ts';
import { checkCompletion, stopWorkers, TRANSCEIVER, updateRun } from './completion.ts';
import { type DomainDeps, type Phase, type RunConfig, type RunRecord, readRunItem, send } from './deps.ts';

/** Task ids count up from here, as PanDA task ids do from theirs. */
export const FIRST_TASK_ID = 1_000_001;
const TASK_COUNTER = 'task_id';

// Worker defaults when neither the message nor the run config says (the prompt_processing defaults).
const DEFAULT_WORKERS = 2;
const DEFAULT_CORES_PER_WORKER = 1;
const DEFAULT_RAM_PER_CORE = 2000;

type DaqMessage = Message<'run_imminent' | 'start_run' | 'pause_run' | 'resume_run' | 'end_run' | 'run_stop'>;

/** Fields every run message may bring; whichever message comes first creates the run item. */
const identity = (msg: DaqMessage) => ({
  namespace: msg.namespace,
  execution_id: text(msg.content.execution_id) ?? text(msg.execution_id),
});

// A DAQ message moves the phase only forward: never out of 'ended'/'completed', never to an older state.
const notFinished = '(attribute_not_exists(#phase) OR NOT #phase IN (:ended, :completed))';
const newer = '(attribute_not_exists(#daq_state_at) OR #daq_state_at < :at)';

/**
 * run_imminent: opens the run (dataset, config), creates its workflow task once and asks the worker
 * adjuster for the run's workers (the transceiver's part).
 */
export async function openRuns(messages: Message<'run_imminent'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) await openRun(msg, deps);
}

async function openRun(msg: Message<'run_imminent'>, deps: DomainDeps): Promise<void> {
  const c = msg.content;
  const runId = msg.run_id;
  const config = runConfig(c);
  const run = (await updateRun(
    deps,
    runId,
    {
      keep: {
        ...identity(msg),
        workflow: text(c.workflow) ?? text(msg.workflow),
        phase: 'imminent',
        dataset: text(c.dataset) ?? `swf.${runId}.run`,
        dataset_state: 'open',
        task_state: 'created',
        config: Object.keys(config).length > 0 ? config : undefined,
        created_at: msg.created_at,
      },
    },
    'ALL_NEW',
  )) as RunRecord;
  await recordDaqState(msg, deps);
  if (run.completion === 'completed' || run.cancelled_at !== undefined) {
    deps.log.info('run_imminent for a finished run: nothing to start', { run_id: runId });
    return;
  }
  const taskId = run.task_id ?? (await createTask(deps, runId));
  const settings = { ...config, ...run.config };
  const content = defined({
    num_workers: c.num_workers ?? settings.target_worker_count ?? DEFAULT_WORKERS,
    num_cores_per_worker: c.num_cores_per_worker ?? settings.num_cores_per_worker ?? DEFAULT_CORES_PER_WORKER,
    num_ram_per_core: c.num_ram_per_core ?? settings.num_ram_per_core ?? DEFAULT_RAM_PER_CORE,
    requested_at: msg.created_at,
    task_id: taskId,
    namespace: msg.namespace,
    slice_processing_time: settings.slice_processing_time,
    heartbeat_interval: settings.heartbeat_interval,
    transformer_idle_timeout: settings.transformer_idle_timeout,
    payload_command: settings.payload_command,
    payload_timeout: settings.payload_timeout,
    slice_queue: settings.slice_queue,
  });
  const opts = { namespace: msg.namespace, sender: TRANSCEIVER };
  await send(deps, destinations.workers, makeMessage('adjuster_worker', runId, content, opts));
  deps.log.info('run opened', { run_id: runId, task_id: taskId, num_workers: content.num_workers });
}

/** The prompt_processing values run_imminent carries (num_workers is the target worker count). */
function runConfig(c: Record<string, unknown>): RunConfig {
  return defined({
    slices_per_stf: numberOf(c.slices_per_stf),
    tfs_per_stf: numberOf(c.tfs_per_stf),
    target_worker_count: numberOf(c.target_worker_count) ?? numberOf(c.num_workers),
    num_cores_per_worker: numberOf(c.num_cores_per_worker),
    num_ram_per_core: numberOf(c.num_ram_per_core),
    slice_processing_time: numberOf(c.slice_processing_time),
    heartbeat_interval: numberOf(c.heartbeat_interval),
    transformer_idle_timeout: numberOf(c.transformer_idle_timeout),
    file_type: text(c.file_type),
    payload_command: text(c.payload_command),
    payload_timeout: numberOf(c.payload_timeout),
    // What the DAQ simulator plans (upstream's sends none): the expected STFs until end_run counts them.
    planned_stf_count: numberOf(c.planned_stf_count),
    slice_queue: sliceQueueOf(c.slice_queue),
  });
}

/**
 * The run's workflow task (the PanDA task + iDDS workflow analog), created once: a task id is drawn from
 * the counter and set only where none is; a handler that loses that race takes the winner's id (the
 * number it drew is skipped).
 */
async function createTask(deps: DomainDeps, runId: string): Promise<number> {
  const doc = documents(deps.db);
  const { Attributes } = await doc.send(
    new UpdateCommand({
      TableName: deps.tableNames.counters,
      Key: { counter: TASK_COUNTER },
      UpdateExpression: 'SET #value = if_not_exists(#value, :before) + :one',
      ExpressionAttributeNames: { '#value': 'value' },
      ExpressionAttributeValues: { ':before': FIRST_TASK_ID - 1, ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  const drawn = Attributes?.value as number;
  try {
    await updateRun(deps, runId, { set: { task_id: drawn }, condition: 'attribute_not_exists(#task_id)' });
    deps.log.info('task created', { run_id: runId, task_id: drawn });
    return drawn;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
  return (await readRunItem(deps, runId, true))?.task_id as number;
}

/**
 * The DAQ state a message reports, unless a newer one is recorded. Unlike the phase it follows the DAQ
 * after the run has ended too: a resume_run handled after end_run still describes the DAQ's history.
 */
async function recordDaqState(msg: DaqMessage, deps: DomainDeps): Promise<void> {
  const state = text(msg.content.state);
  if (state === undefined) return;
  try {
    await updateRun(deps, msg.run_id, {
      set: { daq_state: state, daq_substate: text(msg.content.substate), daq_state_at: msg.created_at },
      condition: newer,
      values: { ':at': msg.created_at },
    });
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
}

/** Moves the phase (with the DAQ state) forward; the message's other fields are recorded regardless. */
async function advance(
  msg: DaqMessage,
  phase: Extract<Phase, 'running' | 'paused'>,
  keep: Record<string, unknown>,
  deps: DomainDeps,
): Promise<void> {
  try {
    await updateRun(deps, msg.run_id, {
      set: {
        phase,
        daq_state: text(msg.content.state),
        daq_substate: text(msg.content.substate),
        daq_state_at: msg.created_at,
      },
      keep,
      condition: `${notFinished} AND ${newer}`,
      values: { ':ended': 'ended', ':completed': 'completed', ':at': msg.created_at },
    });
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    // An ended run, a duplicate or a message overtaken by a newer one: keep the facts, not the phase.
    if (Object.values(keep).some((v) => v !== undefined)) await updateRun(deps, msg.run_id, { keep });
    await recordDaqState(msg, deps);
  }
}

/** start_run: the run is taking data. */
export async function startRuns(messages: Message<'start_run'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) {
    await advance(msg, 'running', identity(msg), deps);
    await recordStart(msg, deps);
  }
}

/** pause_run: standby between physics periods. */
export async function pauseRuns(messages: Message<'pause_run'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) await advance(msg, 'paused', identity(msg), deps);
}

/** resume_run: the next physics period; also starts a run whose start_run has not been seen (yet). */
export async function resumeRuns(messages: Message<'resume_run'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) {
    await advance(msg, 'running', identity(msg), deps);
    await recordStart(msg, deps);
  }
}

/** started_at: the earliest start_run or resume_run seen, so a resume_run handled first gives way. */
async function recordStart(msg: DaqMessage, deps: DomainDeps): Promise<void> {
  try {
    await updateRun(deps, msg.run_id, {
      set: { started_at: msg.created_at },
      condition: 'attribute_not_exists(#started_at) OR #started_at > :at',
      values: { ':at': msg.created_at },
    });
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
}

/** end_run: no more STFs; how many there were. The run completes once they are all processed. */
export async function endRuns(messages: Message<'end_run'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) await endRun(msg, deps);
}

async function endRun(msg: Message<'end_run'>, deps: DomainDeps): Promise<void> {
  const total = msg.content.total_stf_files;
  if (total === undefined) {
    deps.log.warn('end_run without total_stf_files: the STFs registered so far are taken as all', {
      run_id: msg.run_id,
    });
  }
  const facts = {
    set: { ended: true, total_stf_files: total },
    keep: { ...identity(msg), ended_at: msg.created_at },
  };
  let run: RunRecord | undefined;
  try {
    run = await updateRun(
      deps,
      msg.run_id,
      {
        ...facts,
        set: { ...facts.set, phase: 'ended' },
        condition: '(attribute_not_exists(#phase) OR #phase <> :completed)',
        values: { ':completed': 'completed' },
      },
      'ALL_NEW',
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    run = await updateRun(deps, msg.run_id, facts, 'ALL_NEW');
  }
  await recordDaqState(msg, deps);
  if (run) await checkCompletion(deps, msg.run_id, run);
}

/**
 * run_stop (from an upstream processing agent): stop the run's processing now, as the transceiver does at
 * run end: close the task, stop the transformers and the workers. The run's phase is left as it is.
 * Every delivery sends the stops again: they change nothing the second time.
 */
/**
 * The run_stop that cancels a run (`testbed cancel`, Ctrl-C on `testbed run`): upstream's run_stop with who
 * cancels and why. Any producer may send it; upstream's handlers take it as a plain stop.
 */
export function cancelMessage(
  runId: string,
  o: { by: string; reason?: string; namespace?: string; createdAt?: string },
): Message<'run_stop'> {
  return makeMessage(
    'run_stop',
    runId,
    { cancelled_by: o.by, ...(o.reason !== undefined && { reason: o.reason }) },
    {
      sender: `testbed-${o.by}`,
      ...(o.namespace !== undefined && { namespace: o.namespace }),
      ...(o.createdAt !== undefined && { createdAt: o.createdAt }),
    },
  );
}

export async function stopRuns(messages: Message<'run_stop'>[], deps: DomainDeps): Promise<void> {
  for (const msg of messages) await stopRun(msg, deps);
}

/**
 * run_stop: closes the task and stops the run's transformers and workers. A run_stop naming who cancels
 * (`cancelled_by`, as `testbed cancel` sends it) cancels the run instead: its task becomes 'cancelled', its
 * dataset closed, and it never completes. A run already completed is left as it is; a plain stop does not
 * undo a cancel, whichever arrives first.
 */
async function stopRun(msg: Message<'run_stop'>, deps: DomainDeps): Promise<void> {
  const cancelledBy = text(msg.content.cancelled_by);
  const spec: UpdateSpec = cancelledBy
    ? {
        set: { task_state: 'cancelled', dataset_state: 'closed' },
        keep: {
          ...identity(msg),
          cancelled_at: msg.created_at,
          cancel_reason: text(msg.content.reason) ?? `cancelled by ${cancelledBy}`,
        },
        condition: 'attribute_not_exists(#completion)',
      }
    : {
        set: { task_state: 'closed' },
        keep: identity(msg),
        condition: 'attribute_not_exists(#cancelled_at)',
      };
  let run: RunRecord;
  try {
    run = (await updateRun(deps, msg.run_id, spec, 'ALL_NEW')) as RunRecord;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    // Completed before the cancel came, or cancelled before this stop: the workers are stopped already.
    deps.log.info(cancelledBy ? 'cancel of a completed run: nothing to do' : 'run_stop of a cancelled run', {
      run_id: msg.run_id,
    });
    return;
  }
  const namespace = msg.namespace ?? run.namespace;
  const opts = { namespace, sender: TRANSCEIVER };
  await Promise.all([
    send(
      deps,
      destinations.transformer,
      makeMessage('stop_transformer', msg.run_id, { requested_at: msg.created_at }, opts),
    ),
    send(deps, destinations.workers, stopWorkers(run, msg.created_at, opts)),
  ]);
  deps.log.info(cancelledBy ? 'run cancelled' : 'run stopped on request', {
    run_id: msg.run_id,
    task_id: run.task_id,
    ...(cancelledBy && { reason: run.cancel_reason }),
  });
}
