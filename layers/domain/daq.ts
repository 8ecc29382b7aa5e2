import type { BrokerPort } from '#broker/port.ts';
import { sliceQueueFor, type WorkflowConfig } from '#config/workflow.ts';
import { type ContentInput, encodeMessage, makeMessage } from '#contract/messages.ts';
import type { Logger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import type { StfStore } from '#stf/store.ts';
import {
  type DaqCheckpoint,
  type DaqTables,
  datasetName,
  isCancelled,
  saveCheckpoint,
} from './daq-checkpoints.ts';
import { type DaqClock, daqTime, timestampAt } from './daq-clock.ts';
import { type DaqBroadcast, type DaqStep, planRun } from './daq-plan.ts';
import { type DaqRequest, startOrContinueRun } from './daq-run-start.ts';
import { settleAll } from './deps.ts';

/** Default time kept back from the Lambda time limit to finish a step, checkpoint and chain. */
export const DEFAULT_MARGIN_MS = 30_000;

/**
 * Default STFs of a fast run between two checkpoints: a checkpoint per STF paced a fast run at ~40 STFs/s
 * (it writes the run item, which every registration handler writes too); 25 make it a few percent.
 */
export const DEFAULT_STFS_PER_CHECKPOINT = 25;

export type DaqMsgType = DaqBroadcast | 'stf_gen';

export interface DaqDeps extends DaqTables {
  readonly broker: BrokerPort;
  readonly log: Logger;
  readonly stfStore: StfStore;
  readonly clock: DaqClock;
  /** Time left in this invocation (Lambda); without it the run goes to its end in one go. */
  readonly remainingMs?: () => number;
  /** Starts the next invocation of this run; called after the checkpoint is saved. */
  readonly chain?: (continuation: { run_id: string }) => Promise<void>;
  /** Time kept back for a step, the checkpoint and chaining. @default max(30 s, 2 stf_intervals) */
  readonly marginMs?: number;
  /**
   * STFs a fast (not realtime) run announces between two checkpoints; a realtime run saves one per step.
   * A run cut short and chained resumes exactly; one that dies, or a cancel, may take up to this many STFs
   * more. @default 25
   */
  readonly stfsPerCheckpoint?: number;
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

/**
 * Simulates one DAQ run (see planRun for the walk), broadcasting to /topic/epictopic and writing every STF
 * to the STF store. Realtime runs wait for each step's simulated time (1 simulated s = 1 wall s); others
 * run as fast as they can and only report simulated time. Progress is checkpointed in the run item after
 * every message (in a fast run, after every group of `stfsPerCheckpoint` STFs), so when the invocation runs
 * short of time the run goes on in a chained invocation, exactly where it stopped. Messages are repeated
 * only if an invocation dies between sending them and saving the checkpoint.
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
  const stfsPerCheckpoint = deps.stfsPerCheckpoint ?? DEFAULT_STFS_PER_CHECKPOINT;
  const sliceQueue = sliceQueueFor(workflow);

  const opened = await startOrContinueRun(request, deps);
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

  /** Generates and stores one STF's file; what its stf_gen says of it. */
  const writeStf = async (step: StfStep) => {
    const filename = stfFileName(runId, step.sequence);
    const data = generateStf({
      runId,
      sequence: step.sequence,
      tfCount: pp.tfs_per_stf,
      sizeBytes: pp.stf_size_bytes,
    });
    const url = await deps.stfStore.put(filename, data);
    return { filename, size: data.length, checksum: adlerChecksum(data), url };
  };
  const announce = (step: StfStep, stf: Awaited<ReturnType<typeof writeStf>>) =>
    publish('stf_gen', {
      ...common(step),
      filename: stf.filename,
      sequence: step.sequence,
      size: stf.size,
      checksum: stf.checksum,
      start: daqTime(wallAt(step.startMs)),
      end: daqTime(wallAt(step.atMs)),
      tf_count: pp.tfs_per_stf,
      slices_per_stf: pp.slices_per_stf,
      slice_queue: sliceQueue,
      url: stf.url,
    });
  /**
   * A fast run's STFs between two checkpoints: their files are written side by side and each stf_gen
   * leaves once its file is whole, in sequence order, without waiting for the receipt of the one before.
   */
  const announceAll = async (steps: readonly StfStep[]) => {
    let issued: Promise<unknown> = Promise.resolve();
    const receipts = steps.map((step) => {
      // The receipt is wrapped, so that `issued` resolves once the message is handed to the broker.
      const handed = Promise.all([writeStf(step), issued]).then(([stf]) => ({
        receipt: announce(step, stf),
      }));
      issued = handed.catch(() => {});
      return handed.then((h) => h.receipt);
    });
    await settleAll(receipts);
  };

  for (let index = checkpoint.step; index < plan.steps.length; ) {
    const step = plan.steps[index] as DaqStep;
    if (!(await awaitTurn(step.kind === 'stf' ? step.generateAtMs : step.atMs))) {
      log.info('DAQ run continues in a chained invocation', { step: index });
      await (deps.chain as NonNullable<DaqDeps['chain']>)({ run_id: runId });
      return result('continued');
    }
    // Realtime runs wait between STFs anyway: a checkpoint each. Fast runs save one per group of STFs.
    const steps = realtime ? [step] : stepsUntilCheckpoint(plan.steps, index, stfsPerCheckpoint);
    const last = steps.at(-1) as DaqStep;
    let nextSequence = checkpoint.next_sequence;
    if (step.kind === 'broadcast') {
      await publish(step.msgType, {
        ...common(step),
        ...broadcastContent(step.msgType, workflow, dataset, nextSequence - 1),
      });
      log.info(step.msgType, { simulation_tick: step.atMs / 1000 });
    } else if (step.kind === 'stf') {
      const stfs = steps as StfStep[];
      if (realtime) {
        const stf = await writeStf(step);
        await sleepUntil(step.atMs);
        await announce(step, stf);
      } else await announceAll(stfs);
      nextSequence = (stfs.at(-1) as StfStep).sequence + 1;
    } else {
      log.info('DAQ run ended', { stf_count: nextSequence - 1, simulation_tick: step.atMs / 1000 });
    }
    const next: DaqCheckpoint = {
      ...checkpoint,
      step: index + steps.length,
      period: last.period,
      next_sequence: nextSequence,
      simulation_tick: last.atMs / 1000,
      state: last.state,
      substate: last.substate,
      status: last.kind === 'finish' ? 'ended' : 'running',
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
    index += steps.length;
  }
  return result('ended');
}

type StfStep = Extract<DaqStep, { kind: 'stf' }>;

/** The step at `index` and, if it is an STF, the STFs right after it: at most `count` in all. */
function stepsUntilCheckpoint(steps: readonly DaqStep[], index: number, count: number): DaqStep[] {
  const first = steps[index] as DaqStep;
  if (first.kind !== 'stf') return [first];
  let end = index + 1;
  while (end < steps.length && end - index < count && steps[end]?.kind === 'stf') end++;
  return steps.slice(index, end);
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
        slice_queue: sliceQueueFor(workflow),
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
