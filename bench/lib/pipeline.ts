import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { toEpochMicros } from '#contract/timestamps.ts';
import { type SliceQueue, sliceDestination } from '#routes/destinations.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { queryAll } from '#tables/pages.ts';
import { sleep } from './stats.ts';
import { type Layout, publishAll, sliceMessage, slicesOf, type WrittenStf, writeStfs } from './workload.ts';

/** One slices item's timestamps, epoch µs. */
export interface Recorded {
  readonly requested: number;
  readonly started: number;
  readonly processed: number;
  readonly recorded: number;
}

/** The benchmark's view of the stack's tables. */
export class Tables {
  readonly db: DynamoDBClient;
  readonly names: Record<TableName, string>;

  constructor(env: Record<string, string>) {
    this.db = dynamoClient(env);
    this.names = tableNames(env);
  }

  private get doc() {
    return documents(this.db);
  }

  /** The STF items stf_gen would have written: what the slice_result handler counts slices against. */
  async seedStfs(runId: string, stfs: readonly WrittenStf[], l: Layout): Promise<void> {
    for (let i = 0; i < stfs.length; i += 25) {
      const items = stfs.slice(i, i + 25).map((s) => ({
        PutRequest: {
          Item: {
            run_id: runId,
            filename: s.filename,
            sequence: s.sequence,
            checksum: s.checksum,
            url: s.path,
            tf_count: l.tfsPerStf,
            slice_count: l.slicesPerStf,
            state: 'sliced',
          },
        },
      }));
      let pending: Record<string, unknown>[] | undefined = items;
      while (pending && pending.length > 0) {
        const out = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.names.stfs]: pending as never } }),
        );
        pending = out.UnprocessedItems?.[this.names.stfs] as Record<string, unknown>[] | undefined;
      }
    }
  }

  /** Resolves once every STF of `sequences` is counted complete on the run (all its slices recorded). */
  async completed(runId: string, sequences: readonly number[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.names.runs,
          Key: { run_id: runId },
          ConsistentRead: true,
          ProjectionExpression: 'completed_stfs',
        }),
      );
      const done = (Item?.completed_stfs as Set<number> | undefined) ?? new Set<number>();
      const missing = sequences.filter((s) => !done.has(s)).length;
      if (missing === 0) return;
      if (performance.now() > deadline)
        throw new Error(
          `run ${runId}: ${missing} of ${sequences.length} STFs not complete in ${timeoutMs} ms`,
        );
      await sleep(100);
    }
  }

  /** The recorded slices of the STFs from `first` to `last` (by file name). */
  async slices(runId: string, first: string, last: string): Promise<Recorded[]> {
    const { items } = await queryAll(this.doc, {
      TableName: this.names.slices,
      KeyConditionExpression: 'run_id = :r AND slice_key BETWEEN :a AND :b',
      ExpressionAttributeValues: { ':r': runId, ':a': `${first}#`, ':b': `${last}#9999` },
      ProjectionExpression: 'requested_at, processing_start_at, processed_at, recorded_at',
    });
    return items.map((item) => ({
      requested: toEpochMicros(item.requested_at as string),
      started: toEpochMicros(item.processing_start_at as string),
      processed: toEpochMicros(item.processed_at as string),
      recorded: toEpochMicros(item.recorded_at as string),
    }));
  }
}

/** A batch of STFs of a run written to disk and registered, with their slices, sequences `first`... */
export async function prepareStfs(
  tables: Tables,
  store: string,
  runId: string,
  first: number,
  slices: number,
  l: Layout,
) {
  const stfs = writeStfs(store, runId, first, Math.ceil(slices / l.slicesPerStf), l);
  await tables.seedStfs(runId, stfs, l);
  return {
    stfs,
    sequences: stfs.map((s) => s.sequence),
    first: (stfs[0] as WrittenStf).filename,
    last: (stfs.at(-1) as WrittenStf).filename,
    slices: slicesOf(stfs, l),
  };
}

export type PreparedStfs = Awaited<ReturnType<typeof prepareStfs>>;

/**
 * Publishes every slice at once (bounded windows in flight), as stf_ready does for a burst of STFs, to the
 * run's own queue unless told (StackRuns' transformers read there).
 */
export async function publishBurst(
  broker: BrokerPort,
  runId: string,
  namespace: string,
  prepared: PreparedStfs,
  l: Layout,
  queue: SliceQueue = 'run',
): Promise<void> {
  const bodies = prepared.slices.map(({ stf, range }) => sliceMessage(runId, namespace, stf, range, l));
  await publishAll(broker, bodies, sliceDestination(runId, queue));
}

/**
 * Publishes the slices at `perSecond`, each created the moment it is sent (its created_at is when it was
 * requested), in small bursts on a 5 ms tick.
 */
export async function publishPaced(
  broker: BrokerPort,
  runId: string,
  namespace: string,
  prepared: PreparedStfs,
  l: Layout,
  perSecond: number,
  queue: SliceQueue = 'run',
): Promise<void> {
  const destination = sliceDestination(runId, queue);
  const t0 = performance.now();
  const all = prepared.slices;
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  while (sent < all.length) {
    const due = Math.min(all.length, Math.floor(((performance.now() - t0) / 1000) * perSecond) + 1);
    for (; sent < due; sent++) {
      const { stf, range } = all[sent] as (typeof all)[number];
      const m = sliceMessage(runId, namespace, stf, range, l);
      inFlight.push(broker.publish(destination, m.body, m.headers));
    }
    await sleep(5);
  }
  await Promise.all(inFlight);
}
