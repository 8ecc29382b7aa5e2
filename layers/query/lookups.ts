import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { notFound } from './bounds.ts';
import { docOf, type MonitorContext } from './context.ts';

/** The run an execution or a task belongs to: one Get on the lookups the message recorder writes. */
async function lookup(c: MonitorContext, key: string): Promise<string | undefined> {
  const { Item } = await docOf(c).send(
    new GetCommand({ TableName: c.tableNames.lookups, Key: { lookup: key } }),
  );
  return typeof Item?.run_id === 'string' ? Item.run_id : undefined;
}

export async function runOfExecution(c: MonitorContext, executionId: string): Promise<string> {
  const runId = await lookup(c, `execution:${executionId}`);
  if (runId === undefined) throw notFound(`execution ${executionId} not found`);
  return runId;
}

export async function runOfTask(c: MonitorContext, taskId: number): Promise<string> {
  const runId = await lookup(c, `task:${taskId}`);
  if (runId === undefined) throw notFound(`task ${taskId} not found`);
  return runId;
}
