import { userInfo } from 'node:os';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import type { WorkflowConfig } from '#config/workflow.ts';
import { type RunReport, readRun, reportRun } from '#query/run-report.ts';
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

/** What the CLI watched go by on the broker for one run, as any monitoring agent would. */
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
  const watch = new RunWatch(cfg.testbed.namespace, () => {
    progress.update(watch.count('stf_gen'), watch.count('slice_result'));
  });
  const monitor = await watchBroker(o.stack, watch);
  const ticker = progress.shown
    ? undefined
    : setInterval(
        () =>
          out(
            `  STFs ${watch.count('stf_gen')}/${expectedStfs}, slices ${watch.count('slice_result')}/${expectedSlices}`,
          ),
        5000,
      );

  try {
    const daq = await loadingDaq;
    const started = Date.now();
    const result = (await daq.handler({ workflow: cfg, user: userInfo().username })) as { run_id: string };
    const completed = await waitForCompletion(result.run_id, (o.drainTimeoutS ?? 120) * 1000);
    progress.stop();
    const report = reportRun(result.run_id, await readRun(dynamoClient(), tableNames(), result.run_id));
    out(summary(report, watch, (Date.now() - started) / 1000, completed));
    return { report, watch };
  } finally {
    progress.stop();
    clearInterval(ticker);
    await Promise.all([monitor.close(), closeEnvironment()]);
  }
}

export function expectedStfCount(cfg: WorkflowConfig): number {
  const s = cfg.simulation;
  const perPeriod =
    s.stf_mode === 'duration' ? Math.floor(s.physics_period_duration / s.stf_interval) : s.stf_count;
  return perPeriod * s.physics_period_count;
}

async function waitForCompletion(runId: string, timeoutMs: number): Promise<boolean> {
  const doc = documents(dynamoClient());
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

export function summary(
  r: RunReport,
  watch: Pick<RunWatch, 'counts' | 'senders'>,
  durationS: number,
  completed: boolean,
): string {
  const types = [...watch.counts].sort(([a], [b]) => a.localeCompare(b));
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
    `├── Pilots: ${r.pilots.map((p) => `${p.id} (${p.state}, ${p.slices} slices)`).join(', ') || '-'}`,
    `├── Slices: ${r.slicesDone} done, ${r.slicesFailed} failed, of ${r.slicesExpected}`,
    `├── Delay (processed_at − requested_at): p50 ${f(r.delayMs.p50)} ms, p95 ${f(r.delayMs.p95)} ms, p99 ${f(r.delayMs.p99)} ms`,
    `├── Queue wait (processing_start_at − requested_at): p50 ${f(r.queueWaitMs.p50)} ms, p95 ${f(r.queueWaitMs.p95)} ms, p99 ${f(r.queueWaitMs.p99)} ms`,
    `└── First result after the first slice: ${r.firstResultMs === undefined ? '-' : `${f(r.firstResultMs)} ms`}`,
  ];
  return lines.join('\n');
}
