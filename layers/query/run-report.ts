import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { type Item, queryAll } from '#tables/pages.ts';

export type { Item };

/**
 * What the records say of one run, whole: the run item and its STFs, slices and pilots, for the tests that
 * check every record (the faces read a run's figures through run-figures.ts).
 */
export interface RunRecords {
  readonly run: Item | undefined;
  readonly stfs: Item[];
  readonly slices: Item[];
  readonly pilots: Item[];
}

/** Reads every record of a run; a run's records are bounded by its size, so all pages are read. */
export async function readRun(
  db: DynamoDBClient,
  tables: Record<TableName, string>,
  runId: string,
): Promise<RunRecords> {
  const doc = documents(db);
  const all = async (table: string) =>
    (
      await queryAll(doc, {
        TableName: table,
        KeyConditionExpression: 'run_id = :r',
        ExpressionAttributeValues: { ':r': runId },
      })
    ).items;
  const [run, stfs, slices, pilots] = await Promise.all([
    doc
      .send(new GetCommand({ TableName: tables.runs, Key: { run_id: runId }, ConsistentRead: true }))
      .then((r) => r.Item),
    all(tables.stfs),
    all(tables.slices),
    all(tables.pilots),
  ]);
  return { run, stfs, slices, pilots };
}
