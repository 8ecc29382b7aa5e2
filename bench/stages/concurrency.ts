import type { BrokerPort } from '#broker/port.ts';
import type { SliceQueue } from '#routes/destinations.ts';
import { type CpuPerSlice, cpuPerSlice, medianCpu } from '../lib/cpu.ts';
import { atLeast, atMost, type Figure, figure } from '../lib/figures.ts';
import { type PreparedStfs, publishBurst } from '../lib/pipeline.ts';
import { counted, layout, n, REPS, say } from '../lib/settings.ts';
import type { RunTeam, StackRuns } from '../lib/stack-runs.ts';
import { median, quantile, repeat, sleep } from '../lib/stats.ts';

/** One row of `concurrent_runs` in bench/results.json. */
export interface ConcurrentRunsRow {
  readonly runs: number;
  /** The same number of transformers in all in every row: 8 ÷ runs each. */
  readonly transformers_per_run: number;
  /** Slices/s of all the runs together, over the middle 80 % of their results. */
  readonly aggregate_slices_per_s: number;
  /** ÷ the same figure for one run alone, on the same kind of slice queue. */
  readonly ratio_to_alone: number;
  readonly broker_cpu_us_per_slice: number;
  /** The largest of the runs' 99th percentiles of processed_at − requested_at. */
  readonly worst_run_delay_p99_ms: number;
}

/** What the stage adds to bench/results.json, under these keys. */
export interface ConcurrencySaved {
  /** 9a, 9b: 1, 2, 4 and 8 runs at once, each on its own slice queue (as the testbed's runs queue slices). */
  readonly concurrent_runs: readonly ConcurrentRunsRow[];
  /** 9c, 9d: the same on the shared slice queue, as upstream's pilots read it (each run's select theirs). */
  readonly concurrent_runs_shared: readonly ConcurrentRunsRow[];
  /** 9e: a run's first result beside another's backlog of 20,000 slices, each run on its own queue, ms. */
  readonly starvation_first_result_ms: number;
  /** 9f: the same on the shared queue, ms. */
  readonly starvation_first_result_shared_ms: number;
  readonly cpuPerSlice_concurrentRuns_us: Readonly<Record<string, CpuPerSlice>>;
}

export interface ConcurrencyResult {
  readonly figures: readonly Figure[];
  readonly saved: ConcurrencySaved;
}

/** Runs side by side, each in its own namespace with its own transformers. */
const RUN_COUNTS = [1, 2, 4, 8] as const;
/**
 * Transformers of all the runs together, in every row, so that a row differs from the run alone only in
 * how many runs share the stack. On a machine of few cores each transformer process added costs every
 * process more CPU per slice, whichever run it serves: that is the machine's size, not a run's neighbours,
 * and row 9g measures it apart.
 */
const TRANSFORMERS_IN_ALL = 8;
/** The transformers of each run in the starvation figure, and the smaller team of 9g. */
const TRANSFORMERS_PER_RUN = 2;
/** 9g's larger team: as many transformers as 8 runs of TRANSFORMERS_PER_RUN. */
const MANY_TRANSFORMERS = 16;

interface Measured {
  readonly aggregate: number;
  readonly worstP99Ms: number;
  readonly cpu: CpuPerSlice;
}

/**
 * `teams` fed `perRun` slices each at once, timed until every result is in DynamoDB. Each call takes the
 * STF sequences after `sequence`'s, so that the same runs and transformers serve every repetition.
 */
async function runTogether(
  runs: StackRuns,
  teams: readonly RunTeam[],
  perRun: number,
  sequence: { next: number },
): Promise<Measured> {
  const pids = runs.stack.pids();
  const total = perRun * teams.length;
  const prepared: PreparedStfs[] = [];
  for (const t of teams) prepared.push(await runs.prepare(t.runId, perRun, sequence.next));
  sequence.next += perRun / layout.slicesPerStf;
  const cpu = cpuPerSlice({
    broker: [pids.broker ?? 0],
    transformers: teams.flatMap((t) => t.transformers.map((p) => p.pid)),
    runner: [pids.runner ?? 0],
    dynalite: [pids.dynalite ?? 0],
  });
  await Promise.all(
    teams.map((t, i) =>
      publishBurst(runs.publisher, t.runId, t.namespace, prepared[i] as PreparedStfs, layout, t.queue),
    ),
  );
  // One run after another: all must complete anyway, and polling 8 run items at once would load dynalite,
  // the stack under measurement, 8 times as much as the run alone's one.
  for (const [i, t] of teams.entries())
    await runs.tables.completed(t.runId, (prepared[i] as PreparedStfs).sequences, 300_000);
  const cpuUs = cpu(total);
  const rows = await Promise.all(
    teams.map((t, i) => {
      const p = prepared[i] as PreparedStfs;
      return runs.tables.slices(t.runId, p.first, p.last);
    }),
  );
  for (const p of prepared) runs.cleanUp(p);
  const recorded = rows
    .flat()
    .map((r) => r.recorded)
    .sort((a, b) => a - b);
  const [a, b] = [quantile(recorded, 0.1), quantile(recorded, 0.9)];
  const p99s = rows.map((r) =>
    quantile(
      r.map((s) => (s.processed - s.requested) / 1000).sort((x, y) => x - y),
      0.99,
    ),
  );
  return { aggregate: (0.8 * recorded.length) / ((b - a) / 1e6), worstP99Ms: Math.max(...p99s), cpu: cpuUs };
}

/** `count` runs at once on `queue`, with new transformers warmed up first: one measurement. */
async function runsAtOnce(
  runs: StackRuns,
  queue: SliceQueue,
  count: number,
  total: number,
): Promise<Measured> {
  const teams = Array.from({ length: count }, (_, i) =>
    runs.team('concurrent-transformers', {
      queue,
      transformers: TRANSFORMERS_IN_ALL / count,
      namespace: `bench-c${i + 1}`,
    }),
  );
  try {
    await sleep(1_500);
    const sequence = { next: 1 };
    await runTogether(runs, teams, n(total / count / 4), sequence);
    return await runTogether(runs, teams, n(total / count), sequence);
  } finally {
    await Promise.all(teams.flatMap((t) => t.transformers.map((p) => p.stop())));
  }
}

/**
 * 1, 2, 4 and 8 runs at once on `queue`, the same number of slices in all. The rows are measured in turn
 * within each repetition, every other repetition in the reverse order: the stack slows as its tables fill,
 * and rows measured one after another would charge that to the later ones.
 */
async function concurrencyRows(
  runs: StackRuns,
  queue: SliceQueue,
): Promise<{ rows: ConcurrentRunsRow[]; cpu: Record<string, CpuPerSlice> }> {
  // Slices of all the runs together, before BENCH_SCALE.
  const total = 4_000;
  say(
    `concurrency: ${RUN_COUNTS.join(', ')} run(s) at once in turn, ${TRANSFORMERS_IN_ALL} transformers in all, ${counted(n(total))} slices in all, ${REPS} times (slice queue: ${queue})`,
  );
  const measured = RUN_COUNTS.map((count) => ({ count, reps: [] as Measured[] }));
  await repeat(REPS, async (i) => {
    const order = i % 2 === 0 ? measured : [...measured].reverse();
    for (const row of order) row.reps.push(await runsAtOnce(runs, queue, row.count, total));
  });
  const alone = median(measured[0]?.reps.map((r) => r.aggregate) ?? []);
  const rows = measured.map(({ count, reps }) => {
    const aggregate = median(reps.map((r) => r.aggregate));
    return {
      runs: count,
      transformers_per_run: TRANSFORMERS_IN_ALL / count,
      aggregate_slices_per_s: Math.round(aggregate),
      ratio_to_alone: Number((aggregate / alone).toFixed(3)),
      broker_cpu_us_per_slice: Math.round(median(reps.map((r) => r.cpu.broker ?? 0))),
      worst_run_delay_p99_ms: Math.round(median(reps.map((r) => r.worstP99Ms))),
    };
  });
  const cpu = Object.fromEntries(
    measured.map(({ count, reps }) => [`${count} run(s), ${queue} queue`, medianCpu(reps.map((r) => r.cpu))]),
  );
  return { rows, cpu };
}

/**
 * One run's aggregate with MANY_TRANSFORMERS ÷ with TRANSFORMERS_PER_RUN, on its own queue: what more
 * processes cost on this machine, with no second run at all.
 */
async function processCount(runs: StackRuns): Promise<number[]> {
  const total = n(4_000);
  const rates: Record<number, number[]> = {};
  for (const transformers of [TRANSFORMERS_PER_RUN, MANY_TRANSFORMERS]) {
    say(`processes: one run, ${transformers} transformers, ${counted(total)} slices`);
    const team = runs.team('process-count-transformers', { transformers, namespace: 'bench-processes' });
    try {
      await sleep(1_500);
      const sequence = { next: 1 };
      await runTogether(runs, [team], n(total / 4), sequence);
      const reps = await repeat(REPS, () => runTogether(runs, [team], total, sequence));
      rates[transformers] = reps.map((r) => r.aggregate);
    } finally {
      await Promise.all(team.transformers.map((p) => p.stop()));
    }
  }
  const few = median(rates[TRANSFORMERS_PER_RUN] ?? []);
  return (rates[MANY_TRANSFORMERS] ?? []).map((r) => r / few);
}

/** ms from a slice published to its first slice_result on the results topic. */
async function firstResultOf(
  runs: StackRuns,
  broker: BrokerPort,
  team: RunTeam,
  sequence: number,
): Promise<number> {
  const p = await runs.prepare(team.runId, layout.slicesPerStf, sequence);
  let first: number | undefined;
  const sub = broker.subscribe(
    '/topic/panda.results',
    { selector: `run_id = '${team.runId}' AND msg_type = 'slice_result'`, ack: 'auto' },
    () => {
      first ??= performance.now();
    },
  );
  await sub.ready;
  const t0 = performance.now();
  await publishBurst(broker, team.runId, team.namespace, p, layout, team.queue);
  const deadline = t0 + 120_000;
  while (first === undefined && performance.now() < deadline) await sleep(5);
  await sub.unsubscribe();
  await runs.tables.completed(team.runId, p.sequences, 120_000);
  runs.cleanUp(p);
  if (first === undefined) throw new Error(`run ${team.runId}: no result within 120 s`);
  return first - t0;
}

/**
 * A run starting while another holds a backlog of 20,000 slices: on the shared queue its slices wait until
 * the backlog has drained below the broker's page (maxPageSize 5,000); on a queue of its own they do not.
 * Runs on their own queues are measured three times within one backlog; the shared queue once.
 */
async function starvation(runs: StackRuns, queue: SliceQueue): Promise<number[]> {
  const backlog = n(20_000);
  say(
    `starvation: a run starts beside another's backlog of ${counted(backlog)} slices (slice queue: ${queue})`,
  );
  const busy = runs.team('backlog-transformers', {
    queue,
    transformers: TRANSFORMERS_PER_RUN,
    namespace: 'bench-backlog',
  });
  const newcomers = Array.from({ length: queue === 'run' ? REPS : 1 }, (_, i) =>
    runs.team('newcomer-transformers', { queue, transformers: 1, namespace: `bench-new${i + 1}` }),
  );
  try {
    await sleep(1_500);
    const held = await runs.prepare(busy.runId, backlog);
    await publishBurst(runs.publisher, busy.runId, busy.namespace, held, layout, queue);
    const times: number[] = [];
    for (const team of newcomers) times.push(await firstResultOf(runs, runs.publisher, team, 1));
    await runs.tables.completed(busy.runId, held.sequences, 300_000);
    runs.cleanUp(held);
    return times;
  } finally {
    await Promise.all([busy, ...newcomers].flatMap((t) => t.transformers.map((p) => p.stop())));
  }
}

/** Runs side by side on one broker: throughput, broker CPU and delays as runs are added; a newcomer's wait. */
export async function concurrencyStage(runs: StackRuns): Promise<ConcurrencyResult> {
  const own = await concurrencyRows(runs, 'run');
  const shared = await concurrencyRows(runs, 'shared');
  const starvedOwn = await starvation(runs, 'run');
  const starvedShared = await starvation(runs, 'shared');
  const manyProcesses = await processCount(runs);
  const eight = own.rows.at(-1) as ConcurrentRunsRow;
  const eightShared = shared.rows.at(-1) as ConcurrentRunsRow;
  const brokerGrowth = (rows: readonly ConcurrentRunsRow[]) =>
    (rows.at(-1)?.broker_cpu_us_per_slice ?? 0) / (rows[0]?.broker_cpu_us_per_slice ?? 1);
  const figures = [
    figure({
      id: '9a',
      figure: '8 runs × 1 transformer at once, own slice queues: aggregate ÷ 1 run × 8 transformers',
      unit: 'ratio',
      runs: [],
      value: eight.ratio_to_alone,
      goal: atLeast(0.9),
    }),
    figure({
      id: '9b',
      figure: 'the same: broker CPU per slice ÷ 1 run × 8 transformers',
      unit: 'ratio',
      runs: [],
      value: brokerGrowth(own.rows),
      goal: atMost(1.2),
    }),
    figure({
      id: '9c',
      figure: '8 runs × 1 transformer on the shared slice queue: aggregate ÷ 1 run × 8',
      unit: 'ratio',
      runs: [],
      value: eightShared.ratio_to_alone,
    }),
    figure({
      id: '9d',
      figure: 'the same: broker CPU per slice ÷ 1 run × 8',
      unit: 'ratio',
      runs: [],
      value: brokerGrowth(shared.rows),
    }),
    figure({
      id: '9e',
      figure: `first result of a run started beside a backlog of ${counted(n(20_000))} slices (own queues)`,
      unit: 'ms',
      runs: starvedOwn,
      goal: atMost(1_000),
    }),
    figure({ id: '9f', figure: 'the same on the shared slice queue', unit: 'ms', runs: starvedShared }),
    figure({
      id: '9g',
      figure: `one run, ${MANY_TRANSFORMERS} transformers ÷ ${TRANSFORMERS_PER_RUN} (more processes, no other run)`,
      unit: 'ratio',
      runs: manyProcesses,
    }),
  ];
  return {
    figures,
    saved: {
      concurrent_runs: own.rows,
      concurrent_runs_shared: shared.rows,
      starvation_first_result_ms: Math.round(median(starvedOwn)),
      starvation_first_result_shared_ms: Math.round(median(starvedShared)),
      cpuPerSlice_concurrentRuns_us: { ...own.cpu, ...shared.cpu },
    },
  };
}
