import { userInfo } from 'node:os';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { encodeMessage } from '#contract/messages.ts';
import { cancelMessage } from '#domain/runs.ts';
import { routeFor } from '#routes/route-table.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import type { StackConfig } from './stack.ts';
import { stackBroker } from './stack-broker.ts';

/** How long a cancel waits to see the run cancelled and its pilots gone before it says what it saw. */
const CANCEL_WAIT_MS = 30_000;

export interface CancelOutcome {
  /** cancelled: by this cancel or an earlier one; completed: it had completed, nothing was cancelled. */
  readonly state: 'cancelled' | 'completed' | 'waiting';
  readonly cancelledAt?: string;
  readonly reason?: string;
  readonly completedAt?: string;
  /** Pilots of ours still running when the wait ended (0 once every pilot has stopped). */
  readonly pilotsRunning: number;
}

/**
 * Cancels a run of the local stack as any producer could: a run_stop naming who cancels, on the topic
 * run_stop takes. The run_stop handler closes the task as cancelled and stops the workers; the DAQ
 * simulator stops at its next step. Then waits (bounded) to see it done.
 */
export async function cancelRun(
  stack: StackConfig,
  db: DynamoDBClient,
  runId: string,
  o: { reason?: string; namespace?: string } = {},
): Promise<CancelOutcome> {
  const before = await runState(db, runId);
  if (before.state === 'waiting') {
    const broker = await stackBroker(stack, 'cancel');
    try {
      const msg = cancelMessage(runId, {
        by: userInfo().username,
        ...(o.reason !== undefined && { reason: o.reason }),
        ...(o.namespace !== undefined && { namespace: o.namespace }),
      });
      const { body, headers } = encodeMessage(msg);
      // The topic the run_stop handler listens on (upstream's worker topic).
      const topic = routeFor('run_stop')?.from[0] as string;
      await broker.publish(topic, body, headers);
    } finally {
      await broker.close();
    }
  }
  const deadline = Date.now() + CANCEL_WAIT_MS;
  for (;;) {
    const now = await runState(db, runId);
    if ((now.state !== 'waiting' && now.pilotsRunning === 0) || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runState(db: DynamoDBClient, runId: string): Promise<CancelOutcome> {
  const doc = documents(db);
  const tables = tableNames();
  const [{ Item: run = {} }, { Items: pilots = [] }] = await Promise.all([
    doc.send(new GetCommand({ TableName: tables.runs, Key: { run_id: runId }, ConsistentRead: true })),
    doc.send(
      new QueryCommand({
        TableName: tables.pilots,
        KeyConditionExpression: 'run_id = :r',
        ExpressionAttributeValues: { ':r': runId },
        ProjectionExpression: '#s',
        ExpressionAttributeNames: { '#s': 'state' },
        ConsistentRead: true,
      }),
    ),
  ]);
  const pilotsRunning = pilots.filter((p) => p.state === 'running' || p.state === 'requested').length;
  if (typeof run.cancelled_at === 'string')
    return { state: 'cancelled', cancelledAt: run.cancelled_at, reason: run.cancel_reason, pilotsRunning };
  if (run.completion === 'completed')
    return { state: 'completed', completedAt: run.completed_at, pilotsRunning };
  return { state: 'waiting', pilotsRunning };
}
