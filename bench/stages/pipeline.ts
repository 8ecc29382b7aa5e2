import type { SliceQueue } from '#routes/destinations.ts';
import { type CpuPerSlice, cpuPerSlice, medianCpu } from '../lib/cpu.ts';
import { atLeast, atMost, type Figure, figure } from '../lib/figures.ts';
import { publishBurst } from '../lib/pipeline.ts';
import { counted, layout, n, namespace, nowMicros, REPS, say } from '../lib/settings.ts';
import type { StackRuns } from '../lib/stack-runs.ts';
import { quantile, repeat, sleep } from '../lib/stats.ts';

export interface PipelineResult {
  /** 3a, 3b, 3a/1a (with the raw broker's rate), 3c, 3c/3a. */
  readonly figures: readonly Figure[];
  /** 6b: the pipeline transformers' memory after the last measured run. */
  readonly memory: Figure;
  readonly cpuPerSlice: CpuPerSlice;
  readonly cpuPerSliceBesideAnotherRun: CpuPerSlice;
  readonly cpuPerSliceBesideAnotherRunShared: CpuPerSlice;
  /** Slices recorded in each measured run. */
  readonly recorded: readonly number[];
}

interface PipelineRun {
  /** Slices/s from the first publish to the last result recorded. */
  readonly endToEnd: number;
  /** Slices/s over the middle 80 % of the results, without the ramps at either end. */
  readonly sustained: number;
  readonly recorded: number;
  readonly cpu: CpuPerSlice;
  /** The transformers' memory after their run's slices, MB. */
  readonly rssMb: readonly number[];
}

/**
 * Slices published at once to a run's 4 transformers, timed until every result is in DynamoDB; on the run's
 * own slice queue unless told.
 */
async function pipelineRun(runs: StackRuns, count: number, queue: SliceQueue = 'run'): Promise<PipelineRun> {
  const pids = runs.stack.pids();
  const runId = runs.startRun('pipeline-transformers', { queue });
  const p = await runs.prepare(runId, count);
  const cpu = cpuPerSlice({
    broker: [pids.broker ?? 0],
    transformers: runs.transformers.map((t) => t.pid),
    runner: [pids.runner ?? 0],
    dynalite: [pids.dynalite ?? 0],
  });
  const t0 = nowMicros();
  await publishBurst(runs.publisher, runId, namespace, p, layout, queue);
  await runs.tables.completed(runId, p.sequences, 300_000);
  const cpuUs = cpu(count);
  const rows = await runs.tables.slices(runId, p.first, p.last);
  runs.cleanUp(p);
  const rssMb = runs.transformers.map((t) => t.rssMb());
  await runs.endRun();
  const recorded = rows.map((r) => r.recorded).sort((a, b) => a - b);
  const last = recorded.at(-1) ?? Number.NaN;
  const [a, b] = [quantile(recorded, 0.1), quantile(recorded, 0.9)];
  return {
    endToEnd: rows.length / ((last - t0) / 1e6),
    sustained: (0.8 * rows.length) / ((b - a) / 1e6),
    recorded: rows.length,
    cpu: cpuUs,
    rssMb,
  };
}

/** The pipeline alone, then beside the idle transformers of another run. */
export async function pipelineStage(runs: StackRuns, rawPrefetch1?: number): Promise<PipelineResult> {
  say('pipeline: 20,000 slices published at once, 4 transformers, until every result is in DynamoDB');
  await pipelineRun(runs, n(4_000));
  const alone = await repeat(REPS, () => pipelineRun(runs, n(20_000)));
  const sustained = alone.map((r) => r.sustained);
  const figures = [
    figure({
      id: '3a',
      figure: `pipeline, sustained (middle 80 %), 4 transformers, ${counted(n(20_000))} slices → DynamoDB`,
      unit: 'slices/s',
      runs: sustained,
      goal: atLeast(1_500),
    }),
    figure({
      id: '3b',
      figure: 'pipeline, end to end (first publish → last recorded)',
      unit: 'slices/s',
      runs: alone.map((r) => r.endToEnd),
    }),
  ];
  if (rawPrefetch1 !== undefined)
    figures.push(
      figure({
        id: '3a/1a',
        figure: 'pipeline sustained ÷ raw prefetch 1',
        unit: 'ratio',
        runs: sustained.map((r) => r / rawPrefetch1),
        goal: atLeast(0.4),
      }),
    );

  // Beside the idle transformers of a second run: on the shared queue each run's transformers select their
  // slices, and the broker scans its paged-in slices (up to maxPageSize) for consumers that take none of
  // them; on a queue of its own (as the testbed's runs queue them) it does not.
  const { paired, alone5k } = await besideAnotherRun(runs);
  const besideRates = paired.map((r) => r.own.sustained);
  const sharedRates = paired.map((r) => r.shared.sustained);
  figures.push(
    figure({
      id: '3c',
      figure: `pipeline, sustained, ${counted(n(5_000))} slices, while 4 transformers of another run wait (each run on its own slice queue)`,
      unit: 'slices/s',
      runs: besideRates,
    }),
    figure({
      id: '3c/3a',
      figure: `beside another run ÷ alone (${counted(n(5_000))} slices each, measured in turn)`,
      unit: 'ratio',
      runs: paired.map((r) => r.own.sustained / r.alone.sustained),
      goal: atLeast(0.9),
    }),
    figure({
      id: '3d',
      figure: `the same on the shared slice queue (as upstream's pilots read it), ${counted(n(5_000))} slices`,
      unit: 'slices/s',
      runs: sharedRates,
    }),
    figure({
      id: '3d/3a',
      figure: 'shared queue beside another run ÷ alone (measured in turn)',
      unit: 'ratio',
      runs: paired.map((r) => r.shared.sustained / r.alone.sustained),
    }),
  );
  say(
    `pipeline alone, ${counted(n(5_000))} slices (the reference of 3c and 3d): ${alone5k.map(Math.round).join(' / ')} slices/s`,
  );

  const rss = alone.at(-1)?.rssMb ?? [];
  return {
    figures,
    memory: figure({
      id: '6b',
      figure: `pipeline transformers, resident memory after their run of ${counted(n(20_000))} slices (largest of 4)`,
      unit: 'MB',
      runs: rss,
      value: Math.max(...rss),
      goal: atMost(100),
    }),
    cpuPerSlice: medianCpu(alone.map((r) => r.cpu)),
    cpuPerSliceBesideAnotherRun: medianCpu(paired.map((r) => r.own.cpu)),
    cpuPerSliceBesideAnotherRunShared: medianCpu(paired.map((r) => r.shared.cpu)),
    recorded: alone.map((r) => r.recorded),
  };
}

/** One repetition of 3c and 3d with the run alone that they are divided by, all of one size. */
interface BesidePair {
  readonly alone: PipelineRun;
  readonly own: PipelineRun;
  readonly shared: PipelineRun;
}

/**
 * Pipeline runs of 5,000 slices: alone, then while 4 transformers of another run wait on their own queue,
 * then on the shared queue, in turn within each repetition. The run alone is measured at the same size and
 * beside the others in time: a run of fewer slices spends more of itself in its transformers' warm-up, and
 * the stack slows as its tables fill, so a ratio to 3a (20,000 slices, measured earlier) reads low.
 */
async function besideAnotherRun(runs: StackRuns): Promise<{ paired: BesidePair[]; alone5k: number[] }> {
  say(
    'pipeline beside another run: alone, then beside 4 idle transformers of a second run (own, shared queue)',
  );
  const besideIdle = async (queue: SliceQueue) => {
    const idle = runs.otherRun('idle-transformers', { queue });
    try {
      await sleep(2_000);
      return await pipelineRun(runs, n(5_000), queue);
    } finally {
      await Promise.all(idle.map((t) => t.stop()));
    }
  };
  const kinds = {
    alone: () => pipelineRun(runs, n(5_000)),
    own: () => besideIdle('run'),
    shared: () => besideIdle('shared'),
  };
  // Every other repetition in the reverse order, so that neither side always goes first.
  const paired = await repeat(REPS, async (i) => {
    const order = i % 2 === 0 ? (['alone', 'own', 'shared'] as const) : (['shared', 'own', 'alone'] as const);
    const out: Partial<Record<keyof typeof kinds, PipelineRun>> = {};
    for (const kind of order) out[kind] = await kinds[kind]();
    return out as BesidePair;
  });
  return { paired, alone5k: paired.map((r) => r.alone.sustained) };
}
