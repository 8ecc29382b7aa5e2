import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from '#tables/conditions.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import type { DaqState, DaqSubstate } from './daq-plan.ts';

/** The tables the DAQ simulator keeps its records in: the run item and the counters. */
export interface DaqTables {
  readonly db: DynamoDBClient;
  readonly tableNames: Record<TableName, string>;
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

export const datasetName = (runId: string): string => `swf.${runId}.run`;

export async function loadCheckpoint(deps: DaqTables, runId: string): Promise<DaqCheckpoint | undefined> {
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
export async function saveCheckpoint(
  deps: DaqTables,
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

export async function isCancelled(deps: DaqTables, runId: string): Promise<boolean> {
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
