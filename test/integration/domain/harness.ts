import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { decodeMessage, type Message, type MsgType, makeMessage } from '#contract/messages.ts';
import type { DomainDeps } from '#domain/deps.ts';
import { recordSliceResults } from '#domain/slices.ts';
import { registerStfs, sliceStfs } from '#domain/stfs.ts';
import { createLogger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { tableNames } from '#runtime/env.ts';
import type { TableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { type Capture, capture } from '../../support/capture.ts';
import { daqRunMessages } from '../../support/daq-messages.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

export const NAMESPACE = 'test-ns';
const TF_COUNT = 10;
const SLICES_PER_STF = 3;

/** A real broker and dynalite, the deps domain functions take, and a listener on every destination. */
export interface Harness {
  readonly broker: TestBroker;
  readonly dynamo: TestDynamo;
  readonly deps: DomainDeps;
  /** A second connection, for captures. */
  readonly listener: BrokerPort;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('domain-')]);
  const connect = () => connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  const [port, listener] = await Promise.all([connect(), connect()]);
  const deps: DomainDeps = {
    broker: port,
    db: dynamo.client,
    tableNames: tableNames(dynamo.env),
    log: createLogger({}, () => {}),
  };
  return {
    broker,
    dynamo,
    deps,
    listener,
    async stop() {
      await Promise.all([port.close(), listener.close()]);
      await Promise.all([broker.stop(), dynamo.stop()]);
    },
  };
}

/** What the run's handlers send, captured by run_id on each destination. */
export interface RunCaptures {
  readonly epic: Capture;
  readonly workers: Capture;
  readonly slices: Capture;
  readonly transformer: Capture;
  stop(): Promise<void>;
}

export async function captureRun(h: Harness, runId: string): Promise<RunCaptures> {
  const selector = `run_id = '${runId}'`;
  const [epic, workers, slices, transformer] = await Promise.all(
    [destinations.epic, destinations.workers, destinations.slices, destinations.transformer].map((d) =>
      capture(h.listener, d, selector),
    ),
  );
  const all = [epic, workers, slices, transformer] as Capture[];
  return {
    epic: epic as Capture,
    workers: workers as Capture,
    slices: slices as Capture,
    transformer: transformer as Capture,
    stop: async () => {
      await Promise.all(all.map((c) => c.stop()));
    },
  };
}

export const decoded = <T extends MsgType>(m: ReceivedMessage) => decodeMessage(m.body) as Message<T>;

export const ofType = <T extends MsgType>(c: Capture, type: T): Message<T>[] =>
  c.messages.map((m) => decoded<T>(m)).filter((m) => m.msg_type === type);

/** Waits until `count` messages of `type` have arrived (other types may arrive meanwhile). */
export async function until<T extends MsgType>(
  c: Capture,
  type: T,
  count: number,
  timeoutMs = 15_000,
): Promise<Message<T>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = ofType(c, type);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`${found.length} of ${count} ${type} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lets messages in flight arrive, so that a count of "none more" means something. */
export const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

let clock = Date.parse('2026-07-20T14:00:00Z');
/** Distinct, increasing created_at values, as one DAQ simulator would send them. */
export function tick(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

/** The DAQ simulator's messages for a run of `stfs` STFs. */
export const daqMessages = (runId: string, stfs: number) =>
  daqRunMessages(runId, stfs, {
    namespace: NAMESPACE,
    sender: 'daq_simulator-test',
    slicesPerStf: SLICES_PER_STF,
    tfsPerStf: TF_COUNT,
    stfBytes: 4096,
    createdAt: tick,
  });

/** A transformer's result for a slice, as the pilot sends it. */
export function resultFor(slice: Message<'slice'>, pilot = 'pilot-1', state: 'done' | 'failed' = 'done') {
  const c = slice.content;
  return makeMessage(
    'slice_result',
    slice.run_id,
    {
      requested_at: slice.created_at,
      processing_start_at: tick(),
      processed_at: tick(),
      state,
      hostname: 'node-1',
      id: pilot,
      pilot_id: pilot,
      filename: c.filename,
      slice_id: c.slice_id,
      start: c.start,
      end: c.end,
      result: { hits: 12, energySumMeV: 60.5 },
      ...(state === 'failed' && { error: 'checksum mismatch' }),
    },
    { namespace: NAMESPACE, sender: pilot },
  );
}

/** Everything one STF goes through: stf_gen -> stf_ready -> slices -> results; returns what was handled. */
export async function processStf(h: Harness, c: RunCaptures, stfGen: Message<'stf_gen'>) {
  const filename = stfGen.content.filename;
  const readyBefore = ofType(c.epic, 'stf_ready').filter((m) => m.content.filename === filename).length;
  await registerStfs([stfGen], h.deps);
  const ready = (await untilFile(c.epic, 'stf_ready', filename, readyBefore + 1)).at(
    -1,
  ) as Message<'stf_ready'>;
  const slicesBefore = ofType(c.slices, 'slice').filter((m) => m.content.filename === filename).length;
  await sliceStfs([ready], h.deps);
  const slices = (await untilFile(c.slices, 'slice', filename, slicesBefore + SLICES_PER_STF)).slice(
    slicesBefore,
  );
  const results = slices.map((s) => resultFor(s));
  await recordSliceResults(results, h.deps);
  return { ready, slices, results };
}

async function untilFile<T extends 'stf_ready' | 'slice'>(
  c: Capture,
  type: T,
  filename: string,
  count: number,
) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = ofType(c, type).filter((m) => m.content.filename === filename);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`${found.length} of ${count} ${type} for ${filename}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every item a run has in a table (by its partition key). */
export async function itemsOf(
  h: Harness,
  table: TableName,
  runId: string,
): Promise<Record<string, unknown>[]> {
  const { Items } = await documents(h.dynamo.client).send(
    new QueryCommand({
      TableName: h.deps.tableNames[table],
      KeyConditionExpression: 'run_id = :r',
      ExpressionAttributeValues: { ':r': runId },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}

export async function recordsOf(h: Harness, runId: string) {
  const [runs, stfs, slices] = await Promise.all([
    itemsOf(h, 'runs', runId),
    itemsOf(h, 'stfs', runId),
    itemsOf(h, 'slices', runId),
  ]);
  return { run: runs[0], stfs, slices };
}
