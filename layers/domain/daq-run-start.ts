import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowConfig } from '#config/workflow.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { type DaqCheckpoint, type DaqTables, loadCheckpoint, saveCheckpoint } from './daq-checkpoints.ts';
import { type DaqClock, timestampAt } from './daq-clock.ts';

/** Run numbers start here, as in the upstream testbed's run monitor. */
export const FIRST_RUN_NUMBER = 100010;

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

/** Adds one to a counter and returns the new value; a missing counter counts from `start`. */
async function increment(deps: DaqTables, counter: string, start: number): Promise<number> {
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
export async function allocateRunNumber(deps: DaqTables): Promise<string> {
  return String(await increment(deps, 'run_number', FIRST_RUN_NUMBER - 1));
}

/** `<workflow>-<user>-<seq:04d>`, counted per workflow and user from 0001. */
export async function allocateExecutionId(deps: DaqTables, workflow: string, user: string): Promise<string> {
  const seq = await increment(deps, `execution:${workflow}:${user}`, 0);
  return `${workflow}-${user}-${String(seq).padStart(4, '0')}`;
}

/** The run an invocation started, claimed once: a retried invocation gets the first attempt's run. */
async function claimRun(deps: DaqTables, invocationId: string, runId: string): Promise<string> {
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

/**
 * The run the request is about and its checkpoint: the continued run's, the run a first attempt of this
 * invocation started, or a new run number with its first checkpoint saved.
 */
export async function startOrContinueRun(
  request: DaqRequest,
  deps: DaqTables & { readonly clock: DaqClock },
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
