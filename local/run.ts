import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import type { WorkflowConfig } from '#config/workflow.ts';
import type { MonitorContext } from '#query/context.ts';
import { emptyLogSource } from '#query/logs.ts';
import { NO_ADJUSTER_PILOTS } from '#query/pilots.ts';
import { type RunReport, readRun, reportRun } from '#query/run-report.ts';
import { recordedSlices, resultHostLines } from '#query/slices.ts';
import { destinations } from '#routes/destinations.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { closeEnvironment, dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { runProgress } from './progress.ts';
import { type StackConfig, stackEnvironment, up } from './stack.ts';

export interface RunOptions {
  readonly workflow: WorkflowConfig;
  readonly stack: StackConfig;
  /** Seconds to wait for the last result after the DAQ simulator has ended the run. @default 120 */
  readonly drainTimeoutS?: number;
  readonly out?: (line: string) => void;
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

async function watchBroker(stack: StackConfig, watch: RunWatch): Promise<BrokerPort> {
  const env = stackEnvironment(stack);
  const broker = await connectBroker({
    url: env.BROKER_URL as string,
    ...readCredentials(env.BROKER_CREDENTIALS_FILE as string),
    name: 'monitor',
    log: () => {},
  });
  const topics = [destinations.epic, destinations.workers, destinations.transformer, destinations.results];
  await Promise.all(topics.map((t) => broker.subscribe(t, { ack: 'auto' }, (m) => watch.take(m.body)).ready));
  return broker;
}

/** `testbed run`: brings the stack up, invokes the DAQ simulator, follows the run to its end and reports. */
export async function runWorkflow(o: RunOptions): Promise<{ report: RunReport; watch: RunWatch }> {
  const out = o.out ?? ((l: string) => console.log(l));
  // Evaluated while the stack check runs (run from its sources, its modules take ~0.3 s to load).
  const loadingDaq = import('../functions/daq-simulator/handler.ts');
  loadingDaq.catch(() => {}); // awaited below
  await up(o.stack, (l) => out(l));
  Object.assign(process.env, stackEnvironment(o.stack), {
    // The DAQ simulator runs in this process: its log lines go where `testbed logs` reads them.
    TESTBED_LOG_FILE: join(o.stack.stateDir, 'logs', 'daq-simulator.log'),
  });
  const cfg = o.workflow;
  const expectedStfs = expectedStfCount(cfg);
  const expectedSlices = expectedStfs * cfg.promptProcessing.slices_per_stf;

  const progress = runProgress(expectedStfs, expectedSlices);
  const db = dynamoClient();
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
  const monitor = await watchBroker(o.stack, watch);
  schedule(period);

  try {
    const daq = await loadingDaq;
    const started = Date.now();
    const result = (await daq.handler({ workflow: cfg, user: userInfo().username })) as { run_id: string };
    const completed = await waitForCompletion(db, result.run_id, (o.drainTimeoutS ?? 120) * 1000);
    await stopPolling();
    const report = reportRun(result.run_id, await readRun(db, tableNames(), result.run_id));
    // The bar ends on the summary's own figure.
    slicesRecorded = report.slicesDone + report.slicesFailed;
    show();
    progress.stop();
    out(summary(report, watch, (Date.now() - started) / 1000, completed));
    out(
      `The local stack is still up (dashboard http://127.0.0.1:${o.stack.apiPort}): npx testbed down stops it.`,
    );
    return { report, watch };
  } finally {
    await stopPolling();
    progress.stop();
    db.destroy();
    await Promise.all([monitor.close(), closeEnvironment()]);
  }
}

export function expectedStfCount(cfg: WorkflowConfig): number {
  const s = cfg.simulation;
  const perPeriod =
    s.stf_mode === 'duration' ? Math.floor(s.physics_period_duration / s.stf_interval) : s.stf_count;
  return perPeriod * s.physics_period_count;
}

async function waitForCompletion(db: DynamoDBClient, runId: string, timeoutMs: number): Promise<boolean> {
  const doc = documents(db);
  const runs = tableNames().runs;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { Item } = await doc.send(
      new GetCommand({ TableName: runs, Key: { run_id: runId }, ConsistentRead: true }),
    );
    if (Item?.completion === 'completed') return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** Percentiles in words; a dash when no slice is done (no delay to speak of, rather than 0 ms). */
const spread = (p: RunReport['delayMs']) =>
  p.count === 0 ? '–' : `p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms, p99 ${f(p.p99)} ms`;

export function summary(
  r: RunReport,
  watch: Pick<RunWatch, 'counts' | 'senders'>,
  durationS: number,
  completed: boolean,
): string {
  const types = [...watch.counts].sort(([a], [b]) => a.localeCompare(b));
  const pilots = r.pilots.map((p) => `${p.id} (${p.state}, ${p.slices} slices)`);
  const lines = [
    `Run ${r.runId} Summary: ${completed ? 'completed' : 'NOT COMPLETED'}`,
    `├── Execution: ${r.executionId ?? '?'} (namespace ${r.namespace ?? '?'})`,
    `├── Duration: ${durationS.toFixed(1)} s`,
    `├── STF files: ${r.stfFiles}${r.totalStfFiles === undefined ? '' : ` of ${r.totalStfFiles} announced by end_run`}`,
    `├── Dataset: ${r.dataset ?? '?'} (${r.datasetState ?? '?'})`,
    `├── Task: ${r.taskId ?? '?'} (${r.taskState ?? '?'})`,
    '├── Messages:',
    ...types.map(([t, n], i) => `│   ${i === types.length - 1 ? '└──' : '├──'} ${t}: ${n}`),
    `├── Agents: ${[...watch.senders].sort().join(', ') || '-'}`,
    `├── Pilots: ${pilots.join(', ') || `none (${NO_ADJUSTER_PILOTS})`}`,
    ...resultHostLines(r.resultHosts),
    `├── Slices: ${r.slicesDone} done, ${r.slicesFailed} failed, of ${r.slicesExpected}`,
    `├── Delay (processed_at − requested_at): ${spread(r.delayMs)}`,
    `├── Queue wait (processing_start_at − requested_at): ${spread(r.queueWaitMs)}`,
    `└── First result after the first slice: ${r.firstResultMs === undefined ? '–' : `${f(r.firstResultMs)} ms`}`,
  ];
  return lines.join('\n');
}
