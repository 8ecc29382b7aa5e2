import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import type { WorkflowConfig } from '#config/workflow.ts';
import { stfsPerPeriod } from '#domain/daq-plan.ts';
import type { MonitorContext } from '#query/context.ts';
import { emptyLogSource } from '#query/logs.ts';
import { runSummary } from '#query/run-summary.ts';
import { recordedSlices } from '#query/slices.ts';
import { destinations } from '#routes/destinations.ts';
import { closeEnvironment, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { cancelRun } from './cancel.ts';
import { type Interruption, onInterrupt } from './interrupt.ts';
import { preflight } from './preflight.ts';
import { type RunProgress, runProgress } from './progress.ts';
import { type Patience, patiently } from './retry.ts';
import { dynamodbEndpoint, type StackConfig, stackEnvironment } from './stack.ts';
import { stackBroker } from './stack-broker.ts';
import { stackDynamoClient, whyDynamoNotComingBack } from './stack-dynamo.ts';
import { up } from './stack-lifecycle.ts';
import { type RunReport, settledSummary, summary } from './summary.ts';
import { whyNotComingBack } from './supervisor.ts';

export interface RunOptions {
  readonly workflow: WorkflowConfig;
  readonly stack: StackConfig;
  /** Seconds to wait for the last result after the DAQ simulator has ended the run. @default 120 */
  readonly drainTimeoutS?: number;
  readonly out?: (line: string) => void;
  /** Where the stack check and waits are said when no progress bar shows. @default stderr */
  readonly err?: (line: string) => void;
}

/**
 * What the CLI watched go by on the broker for one run, as any monitoring agent would: messages by type
 * and their senders. Slices are not counted here: a slice_result the handlers refuse is no result, so the
 * progress bar reads the recorded ones, as the summary does.
 */
class RunWatch {
  runId: string | undefined;
  readonly counts = new Map<string, number>();
  readonly senders = new Set<string>();

  constructor(
    private readonly namespace: string,
    private readonly onChange: () => void,
  ) {}

  take(body: string): void {
    let m: { msg_type?: string; run_id?: unknown; namespace?: string; sender?: string };
    try {
      m = JSON.parse(body);
    } catch {
      return;
    }
    const runId = m.run_id === undefined ? undefined : String(m.run_id);
    if (this.runId === undefined && m.msg_type === 'run_imminent' && m.namespace === this.namespace)
      this.runId = runId;
    if (runId === undefined || runId !== this.runId || !m.msg_type) return;
    this.counts.set(m.msg_type, (this.counts.get(m.msg_type) ?? 0) + 1);
    if (m.sender) this.senders.add(m.sender);
    this.onChange();
  }

  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }
}

async function watchBroker(stack: StackConfig, watch: RunWatch, patience: Patience): Promise<BrokerPort> {
  const broker = await patiently(() => stackBroker(stack, 'monitor'), patience);
  const topics = [destinations.epic, destinations.workers, destinations.transformer, destinations.results];
  await Promise.all(topics.map((t) => broker.subscribe(t, { ack: 'auto' }, (m) => watch.take(m.body)).ready));
  return broker;
}

/**
 * What `testbed run` saw: the report of a run followed to its end (none when the user left it going), and
 * the interruption if Ctrl-C stopped the following.
 */
export interface RunOutcome {
  readonly report: RunReport | undefined;
  readonly watch: RunWatch;
  readonly interruption?: Interruption;
}

/** `testbed run`: brings the stack up, invokes the DAQ simulator, follows the run to its end and reports. */
export async function runWorkflow(o: RunOptions): Promise<RunOutcome> {
  const out = o.out ?? ((l: string) => console.log(l));
  // Evaluated while the stack check runs (run from its sources, its modules take ~0.3 s to load).
  const loadingDaq = import('../functions/daq-simulator/handler.ts');
  loadingDaq.catch(() => {}); // awaited below
  const err = o.err ?? ((l: string) => console.error(l));
  const cfg = o.workflow;
  for (const line of preflight(cfg)) err(line);
  // Parts the supervisor left down are named here, and tried again.
  await up(o.stack, err);
  Object.assign(process.env, stackEnvironment(o.stack), {
    // The DAQ simulator runs in this process: its log lines go where `testbed logs` reads them.
    TESTBED_LOG_FILE: join(o.stack.stateDir, 'logs', 'daq-simulator.log'),
  });
  const expectedStfs = expectedStfCount(cfg);
  const expectedSlices = expectedStfs * cfg.promptProcessing.slices_per_stf;

  const progress = runProgress(expectedStfs, expectedSlices);
  // Bounded requests: a stopped dynalite takes the connection and never answers.
  const db = stackDynamoClient(o.stack, { requestTimeoutMs: 10_000, maxAttempts: 1 });
  // Outages (a part restarting) stretch the drain deadline: it counts time the stack could answer.
  let outageMs = 0;
  const patience = runPatience(o.stack, progress, (ms) => {
    outageMs += ms;
  });
  const context: MonitorContext = { db, tableNames: tableNames(), logs: emptyLogSource };
  let slicesRecorded = 0;
  const show = () => progress.update(watch.count('stf_gen'), slicesRecorded);
  const watch = new RunWatch(cfg.testbed.namespace, show);
  // The slices table, polled: the bar counts the results the summary counts (done + failed).
  const poll = async () => {
    if (watch.runId === undefined) return;
    const { done, failed } = await recordedSlices(context, watch.runId);
    slicesRecorded = done + failed;
    show();
    if (!progress.shown)
      out(`  STFs ${watch.count('stf_gen')}/${expectedStfs}, slices ${slicesRecorded}/${expectedSlices}`);
  };
  // Every second on a terminal, else every 5 s with a line; a slow read (a large run) spaces them out.
  const period = progress.shown ? 1000 : 5000;
  let polling: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      const t0 = Date.now();
      polling = poll()
        .catch(() => {}) // a missed poll only leaves the bar where it was
        .finally(() => {
          if (!stopped) schedule(Math.max(period, 5 * (Date.now() - t0)));
        });
    }, ms);
  };
  const stopPolling = async () => {
    stopped = true;
    clearTimeout(timer);
    await polling;
  };
  const monitor = await watchBroker(o.stack, watch, patience);
  schedule(period);
  let interruption: Interruption | undefined;
  let cancelling: Promise<unknown> | undefined;
  // A function: the interruption is set by the Ctrl-C listener, between awaits.
  const left = () => interruption === 'leave';
  const stopListening = onInterrupt({
    runId: () => watch.runId,
    say: err,
    decided: (choice, runId) => {
      interruption = choice;
      progress.stop();
      if (choice === 'leave') {
        err(`run ${runId} goes on: testbed status ${runId} follows it, testbed cancel ${runId} ends it`);
        if (!cfg.simulation.realtime) return;
        err('  (the DAQ simulator runs in this command: it returns once the DAQ has ended the run)');
        return;
      }
      err(`cancelling run ${runId}…`);
      cancelling = cancelRun(o.stack, db, runId, { namespace: cfg.testbed.namespace }).catch((e: Error) =>
        err(`the cancel of run ${runId} failed: ${e.message}`),
      );
    },
  });

  try {
    const daq = await loadingDaq;
    // Tried again through an outage as Lambda retries an invocation: the same invocation id gets the
    // same run, which goes on from its checkpoint.
    const invocation = { awsRequestId: randomUUID() };
    const result = (await patiently(
      () => daq.handler({ workflow: cfg, user: userInfo().username }, invocation),
      patience,
    )) as { run_id: string };
    if (left()) return { report: undefined, watch, interruption: 'leave' };
    await waitForCompletion(
      db,
      result.run_id,
      (o.drainTimeoutS ?? 120) * 1000,
      patience,
      () => outageMs,
      left,
    );
    if (left()) return { report: undefined, watch, interruption: 'leave' };
    // A cancel waits for the pilots to stop, so that the summary shows them stopped.
    await cancelling;
    await stopPolling();
    // Read again until the pilots have ended, so that the summary does not call them running.
    const report = await settledSummary(() => patiently(() => runSummary(context, result.run_id), patience));
    // The bar ends on the summary's own figure.
    slicesRecorded = report.slices.done + report.slices.failed;
    show();
    progress.stop();
    out(summary(report));
    out(
      `The local stack is still up (dashboard http://127.0.0.1:${o.stack.apiPort}): npx testbed down stops it.`,
    );
    return { report, watch, ...(interruption && { interruption }) };
  } finally {
    stopListening();
    await stopPolling();
    progress.stop();
    db.destroy();
    await Promise.all([monitor.close(), closeEnvironment()]);
  }
}

export function expectedStfCount(cfg: WorkflowConfig): number {
  return stfsPerPeriod(cfg.simulation) * cfg.simulation.physics_period_count;
}

/**
 * How `testbed run` waits out an outage: DynamoDB or the broker, told by the error; said on the progress
 * line; hopeless once the supervisor has left that part down or no supervisor runs.
 */
function runPatience(stack: StackConfig, progress: RunProgress, waited: (ms: number) => void): Patience {
  const endpoint = new URL(dynamodbEndpoint(stack));
  const dynamoPort = endpoint.port || (endpoint.protocol === 'https:' ? '443' : '80');
  const dynamo = (e: unknown): boolean => {
    for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; depth++) {
      const { $metadata, message } = c as { $metadata?: unknown; message?: unknown };
      if ($metadata !== undefined) return true;
      if (typeof message === 'string' && message.includes(`:${dynamoPort}`)) return true;
      c = (c as { cause?: unknown }).cause;
    }
    return false;
  };
  return {
    what: (e) => (dynamo(e) ? 'DynamoDB' : 'the broker'),
    say: (line) => progress.note(line),
    hopeless: (what) =>
      what === 'DynamoDB' ? whyDynamoNotComingBack(stack) : whyNotComingBack(stack.stateDir, 'broker'),
    waited,
  };
}

/**
 * Until the run is completed, cancelled or given up, or the drain deadline passes (stretched by the
 * outages met meanwhile).
 */
async function waitForCompletion(
  db: DynamoDBClient,
  runId: string,
  timeoutMs: number,
  patience: Patience,
  outageMs: () => number,
  givenUp: () => boolean,
): Promise<boolean> {
  const doc = documents(db);
  const runs = tableNames().runs;
  const start = Date.now();
  while (Date.now() < start + timeoutMs + outageMs()) {
    const { Item } = await patiently(
      () => doc.send(new GetCommand({ TableName: runs, Key: { run_id: runId }, ConsistentRead: true })),
      patience,
    );
    if (Item?.completion === 'completed') return true;
    if (Item?.cancelled_at !== undefined || givenUp()) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
