import { stfFileName } from '#stf/format.ts';
import { atMost, type Figure, figure } from '../lib/figures.ts';
import { publishBurst } from '../lib/pipeline.ts';
import { counted, layout, n, namespace, nowMicros, REPS, say } from '../lib/settings.ts';
import type { BenchStack } from '../lib/stack.ts';
import type { StackRuns } from '../lib/stack-runs.ts';
import { median, repeat } from '../lib/stats.ts';

/** results.json's `fastRun`. */
export interface FastRun {
  readonly stfs: number;
  readonly slices: number;
  /** Each measured run, command start → last slice result recorded. */
  readonly seconds: readonly number[];
  /** The pipeline's own time for as many slices, published at once (the median of the runs paired with 7a). */
  readonly pipeline_seconds: number;
}

export interface FastRunResult {
  /** 7a, 7b and 7a/7b. */
  readonly figures: readonly Figure[];
  readonly fastRun: FastRun;
}

const WORKERS = 4;

/**
 * One `testbed run --no-realtime` of `stfs` STFs with as many pilots as the pipeline stage's transformers,
 * seconds from the command's start to the run's last slice result recorded (the slices table's recorded_at).
 */
async function fastRun(stack: BenchStack, runs: StackRuns, stfs: number): Promise<number> {
  const t0 = nowMicros();
  const run = await stack.testbed(
    [
      'run',
      'prompt_processing',
      '--no-realtime',
      '--stf-count',
      String(stfs),
      '--workers',
      String(WORKERS),
      '--namespace',
      'bench-fast',
    ],
    600_000,
  );
  const runId = /Run (\d+) Summary: completed/.exec(run.stdout)?.[1];
  if (run.code !== 0 || runId === undefined)
    throw new Error(`testbed run failed (${run.code}): ${run.stdout.slice(-1500)}${run.stderr.slice(-1500)}`);
  const rows = await runs.tables.slices(runId, stfFileName(runId, 1), stfFileName(runId, stfs));
  if (rows.length !== stfs * layout.slicesPerStf)
    throw new Error(`run ${runId}: ${rows.length} of ${stfs * layout.slicesPerStf} slices recorded`);
  const last = Math.max(...rows.map((r) => r.recorded));
  return (last - t0) / 1e6;
}

/** `slices` slices published at once to a run's 4 transformers, first publish → last result recorded, s. */
async function pipelineTime(runs: StackRuns, slices: number): Promise<number> {
  const runId = runs.startRun('fast-run-pipeline');
  const p = await runs.prepare(runId, slices);
  const t0 = nowMicros();
  await publishBurst(runs.publisher, runId, namespace, p, layout);
  await runs.tables.completed(runId, p.sequences, 300_000);
  const rows = await runs.tables.slices(runId, p.first, p.last);
  runs.cleanUp(p);
  await runs.endRun();
  return (Math.max(...rows.map((r) => r.recorded)) - t0) / 1e6;
}

/**
 * A fast run (`--no-realtime`) of 1,000 STFs through the CLI, against the pipeline's own time for its
 * 5,000 slices (published at once to 4 transformers, their STFs registered beforehand): what the producer
 * side (DAQ simulator, STF files, registration, slicing) adds. The two are measured in turn, as pairs, so
 * that the machine's drift and its neighbours weigh on both sides of each ratio alike.
 */
export async function fastRunStage(stack: BenchStack, runs: StackRuns): Promise<FastRunResult> {
  const slices = n(5_000);
  const stfs = slices / layout.slicesPerStf;
  say(
    `fast run: \`testbed run --no-realtime --stf-count ${stfs} --workers ${WORKERS}\` and the pipeline alone on ${counted(slices)} slices, in turn, 3 times`,
  );
  await fastRun(stack, runs, Math.max(1, Math.round(stfs / 5)));
  await pipelineTime(runs, Math.round(slices / 5));
  const pairs = await repeat(REPS, async () => ({
    fast: await fastRun(stack, runs, stfs),
    pipeline: await pipelineTime(runs, slices),
  }));
  const seconds = pairs.map((p) => p.fast);
  const pipelineSeconds = pairs.map((p) => p.pipeline);
  return {
    figures: [
      figure({
        id: '7a',
        figure: `fast run, ${counted(stfs)} STFs (${counted(slices)} slices): command start → last result recorded`,
        unit: 's',
        runs: seconds,
      }),
      figure({
        id: '7b',
        figure: `the pipeline's own time for ${counted(slices)} slices (published at once → last recorded)`,
        unit: 's',
        runs: pipelineSeconds,
      }),
      figure({
        id: '7a/7b',
        figure: 'fast run ÷ pipeline alone (each pair measured in turn)',
        unit: 'ratio',
        runs: pairs.map((p) => p.fast / p.pipeline),
        goal: atMost(2),
      }),
    ],
    fastRun: { stfs, slices, seconds, pipeline_seconds: median(pipelineSeconds) },
  };
}
