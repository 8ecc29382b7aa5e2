// Each stream handler's time per batch of 100, against dynalite as a stand-in for DynamoDB: the figure the
// AWS capacity model (bench/README.md) divides by. The handlers are the Lambda entries themselves
// (functions/<handler>/handler.ts, through mqHandler), given Amazon MQ-shaped events as the poller gives them.
import { rmSync } from 'node:fs';
import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { decodeMessage, encodeMessage, type Message, makeMessage } from '#contract/messages.ts';
import { createTables, localDynamoClient, startDynalite, stopDynalite } from '#local/dynalite.ts';
import { freePort } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { isTransient } from '#messaging/failures.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { destinations } from '#routes/destinations.ts';
import { handlerQueue, routeFor } from '#routes/route-table.ts';
import { closeEnvironment, environment } from '#runtime/env.ts';
import { handler as runImminent } from '../../functions/run-imminent/handler.ts';
import { handler as sliceResult } from '../../functions/slice-result/handler.ts';
import { handler as stfGen } from '../../functions/stf-gen/handler.ts';
import { handler as stfReady } from '../../functions/stf-ready/handler.ts';
import { handler as transformerHeartbeat } from '../../functions/transformer-heartbeat/handler.ts';
import { startTestBroker } from '../../test/support/broker.ts';
import { type Capture, capture } from '../../test/support/capture.ts';
import { daqRunMessages } from '../../test/support/daq-messages.ts';
import { testDir } from '../../test/support/temp.ts';
import { type Figure, figure } from '../lib/figures.ts';
import { layout, REPS, say } from '../lib/settings.ts';
import { median } from '../lib/stats.ts';

/** results.json's `handlerBatch`: one row per stream handler. */
export interface HandlerBatchRow {
  readonly handler: string;
  readonly batch_size: number;
  readonly ms_per_batch: number;
  /** DynamoDB item writes of a batch (PutItem, UpdateItem, DeleteItem, each item of a BatchWriteItem) ÷ its messages. */
  readonly dynamodb_writes_per_message: number;
  /** DynamoDB item reads of a batch (GetItem, each key of a BatchGetItem, each Query) ÷ its messages. */
  readonly dynamodb_reads_per_message: number;
}

export interface HandlerBatchResult {
  /** 8a..8d, ms per batch of 100. */
  readonly figures: readonly Figure[];
  readonly handlerBatch: readonly HandlerBatchRow[];
}

/** The stack's stream batch size (lib/handlers.ts `streamBatching`). */
const BATCH = 100;
/** Batches per handler: one unreported warm-up, then REPS measured (at least 5 for a steadier median). */
const MEASURED = Math.max(REPS, 5);

type Handler = (event: MqEvent) => Promise<unknown>;

interface Requests {
  /** Item writes: PutItem, UpdateItem, DeleteItem, each item of a BatchWriteItem. */
  readonly writes: number;
  /** Item reads: GetItem, each key of a BatchGetItem, each Query (one page). */
  readonly reads: number;
}

/** Counts the item writes and reads that reach DynamoDB, from the requests the SDK sends. */
function countRequests(): {
  readonly middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes>;
  take(): Requests;
} {
  let writes = 0;
  let reads = 0;
  const items = (body: unknown, field: 'RequestItems') => {
    const text = body instanceof Uint8Array ? Buffer.from(body).toString() : body;
    if (typeof text !== 'string') throw new Error('handler-batch: a batch request without a text body');
    return Object.values(JSON.parse(text)[field] as Record<string, unknown[] | { Keys: unknown[] }>);
  };
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const operation = request.headers?.['x-amz-target']?.split('.')[1] ?? '';
      if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(operation)) writes++;
      if (['GetItem', 'Query'].includes(operation)) reads++;
      if (operation === 'BatchWriteItem')
        for (const requests of items(request.body, 'RequestItems')) writes += (requests as unknown[]).length;
      if (operation === 'BatchGetItem')
        for (const table of items(request.body, 'RequestItems'))
          reads += (table as { Keys: unknown[] }).Keys.length;
      return next(args);
    };
  return {
    middleware,
    take() {
      const counted = { writes, reads };
      writes = 0;
      reads = 0;
      return counted;
    },
  };
}

/** What the poller hands a handler for messages read from its queue. */
const eventOf = (messages: readonly ReceivedMessage[]): MqEvent =>
  mqEvent(messages.map((m) => toMqMessage(m)));

/** A message as it would arrive from the handler's queue, for the messages the bench makes itself. */
function received(msg: Message): ReceivedMessage {
  const { body, headers } = encodeMessage(msg);
  const route = routeFor(msg.msg_type);
  const queue = route ? handlerQueue(route) : msg.msg_type;
  return {
    body,
    headers: { ...headers, timestamp: String(Date.now()) },
    destination: `/queue/${queue}`,
    messageId: `ID:bench-handler-batch-${++sent}`,
    redelivered: false,
    ack: () => {},
    nack: () => {},
  };
}
let sent = 0;

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** The STF messages of one run of `stfs` STFs, as the DAQ simulator sends them. */
const runMessages = (runId: string, stfs: number) =>
  daqRunMessages(runId, stfs, { namespace: 'bench-hb', sender: 'daq_simulator-bench', ...layout });

/** A transformer's result for a slice it was sent. */
function resultFor(slice: ReceivedMessage, pilot: string): Message<'slice_result'> {
  const s = decodeMessage(slice.body) as Message<'slice'>;
  const at = new Date().toISOString();
  return makeMessage(
    'slice_result',
    s.run_id,
    {
      requested_at: s.created_at,
      processing_start_at: at,
      processed_at: at,
      state: 'done',
      hostname: 'bench-node',
      id: pilot,
      pilot_id: pilot,
      filename: s.content.filename,
      slice_id: s.content.slice_id,
      start: s.content.start,
      end: s.content.end,
      result: { hits: 12, energySumMeV: 60.5 },
    },
    { namespace: s.namespace, sender: pilot },
  );
}

interface Timed extends Requests {
  readonly ms: number;
}

/**
 * One run's worth of batches through the four stream handlers, in the order a run sends them: 100 stf_gen,
 * the 100 stf_ready they announce, a batch of 100 of the 500 slices' results at a time, 100 heartbeats.
 */
async function oneRun(
  runId: string,
  listener: BrokerPort,
  requests: ReturnType<typeof countRequests>,
): Promise<Record<string, Timed[]>> {
  // A batch failing for a transient reason (on a loaded machine, a connection to dynalite not made within
  // the client's 3 s) is redone, as the poller redoes it (handlers are idempotent); the redo is the one timed.
  const timed = async (handler: Handler, batch: readonly ReceivedMessage[]): Promise<Timed> => {
    for (let attempt = 1; ; attempt++) {
      requests.take();
      const t0 = performance.now();
      try {
        await handler(eventOf(batch));
        return { ms: performance.now() - t0, ...requests.take() };
      } catch (error) {
        if (!isTransient(error) || attempt === 5) throw error;
        say(`a batch failed for a transient reason, redone: ${(error as Error).message.slice(0, 120)}`);
      }
    }
  };
  const selector = `run_id = '${runId}'`;
  const ready: Capture = await capture(listener, destinations.epic, `${selector} AND msg_type = 'stf_ready'`);
  const slices: Capture = await capture(listener, destinations.slices, selector);
  try {
    const { imminent, stfGens } = runMessages(runId, BATCH);
    await runImminent(eventOf([received(imminent)]));
    const gen = await timed(stfGen, stfGens.map(received));
    const cut = await timed(stfReady, await ready.until(BATCH, 60_000));
    const results = (await slices.until(BATCH * layout.slicesPerStf, 60_000)).map((s, i) =>
      received(resultFor(s, `pilot-${i % 4}`)),
    );
    const recorded: Timed[] = [];
    for (const batch of chunks(results, BATCH)) recorded.push(await timed(sliceResult, batch));
    const beats = Array.from({ length: BATCH }, (_, i) =>
      received(
        makeMessage(
          'transformer_heartbeat',
          runId,
          { hostname: 'bench-node', id: `pilot-${i}`, pilot_id: `pilot-${i}`, slices_done: i },
          { namespace: 'bench-hb', sender: `pilot-${i}` },
        ),
      ),
    );
    const beat = await timed(transformerHeartbeat, beats);
    return { stf_gen: [gen], stf_ready: [cut], slice_result: recorded, transformer_heartbeat: [beat] };
  } finally {
    await Promise.all([ready.stop(), slices.stop()]);
  }
}

/** Runs the stream handlers on batches of 100 against a test broker and dynalite; see the file comment. */
export async function handlerBatchStage(): Promise<HandlerBatchResult> {
  say(`handler batches: stf_gen, stf_ready, slice_result, transformer_heartbeat, ${BATCH} messages a batch`);
  // dynalite in a process of its own, as the local stack runs it: in this one it would share the handler's
  // event loop, and DynamoDB's time would count twice.
  const dynamoDir = testDir('bench-hb-dynalite-');
  const dynamoPort = await freePort();
  const [broker] = await Promise.all([startTestBroker(), startDynalite(dynamoDir, dynamoPort)]);
  const dynamoEnv = { DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`, TABLE_PREFIX: 'bench-hb-' };
  await createTables(localDynamoClient(dynamoPort), dynamoEnv);
  // environment() reads these on first use, as it reads a Lambda's or the local runner's.
  Object.assign(process.env, dynamoEnv, {
    BROKER_URL: broker.url,
    BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
    // The handlers' log lines (a few per batch) are not the figure.
    TESTBED_LOG_FILE: '/dev/null',
  });
  const listener = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  try {
    const requests = countRequests();
    (await environment()).db.middlewareStack.add(requests.middleware, {
      step: 'finalizeRequest',
      name: 'benchCountRequests',
    });
    const byHandler: Record<string, Timed[]> = {};
    for (let run = 0; run <= MEASURED; run++) {
      const batches = await oneRun(`${Date.now()}${run}`, listener, requests);
      if (run === 0) continue; // the warm-up: connections, JIT, dynalite's first pages
      for (const [handler, timed] of Object.entries(batches))
        byHandler[handler] = [...(byHandler[handler] ?? []), ...timed];
    }
    const names = ['slice_result', 'stf_ready', 'stf_gen', 'transformer_heartbeat'];
    const handlerBatch = names.map((handler) => {
      const timed = byHandler[handler] ?? [];
      return {
        handler,
        batch_size: BATCH,
        ms_per_batch: Math.round(median(timed.map((t) => t.ms)) * 10) / 10,
        dynamodb_writes_per_message: median(timed.map((t) => t.writes)) / BATCH,
        dynamodb_reads_per_message: median(timed.map((t) => t.reads)) / BATCH,
      };
    });
    const figures = names.map((handler, i) =>
      figure({
        id: `8${String.fromCharCode(97 + i)}`,
        figure: `${handler} handler, batch of ${BATCH} (dynalite; ${handlerBatch[i]?.dynamodb_writes_per_message} DynamoDB writes, ${handlerBatch[i]?.dynamodb_reads_per_message} reads/message)`,
        unit: 'ms',
        runs: (byHandler[handler] ?? []).map((t) => Math.round(t.ms * 10) / 10),
      }),
    );
    return { figures, handlerBatch };
  } finally {
    await listener.close();
    await closeEnvironment();
    await Promise.all([broker.stop(), stopDynalite(dynamoDir)]);
    rmSync(dynamoDir, { recursive: true, force: true });
  }
}
