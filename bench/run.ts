// `npm run bench`: the prompt path measured side by side with the raw broker it runs on, in one run, on
// stacks of its own (a bare test broker, then a cold `testbed up` in a temporary state folder on free
// ports). Prints one table; writes bench/results.json, bench/delays.svg and the table into bench/README.md.
// Each figure is the median of at least 3 repetitions after an unreported warm-up. A benchmark, not a
// test: nothing here fails on a slow machine. `bench/broker.ts` and `bench/runner.ts` still run alone.
// `--stages a,b` runs only those stages (lib/stage-choice.ts) and prints their figures, saving nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBroker } from '#broker/stomp-broker.ts';
import { startTestBroker } from '../test/support/broker.ts';
import { testDir } from '../test/support/temp.ts';
import { machine } from './lib/machine.ts';
import { profileSections } from './lib/profile.ts';
import { layout, say } from './lib/settings.ts';
import { StackRuns } from './lib/stack-runs.ts';
import { chosenStages, type StageName } from './lib/stage-choice.ts';
import { type TransformerCommand, transformerCommand } from './lib/transformers.ts';
import { delaysPlot, figureTable, machineLine, profileReport, updateReadme } from './report.ts';
import type { BenchResults } from './results.ts';
import { bundlesStage } from './stages/bundles.ts';
import { type ConcurrencyResult, concurrencyStage } from './stages/concurrency.ts';
import { type DelaysResult, delaysStage } from './stages/delays.ts';
import { type FastRunResult, fastRunStage } from './stages/fast-run.ts';
import { type FirstResultResult, firstResultStage } from './stages/first-result.ts';
import { handlerBatchStage } from './stages/handler-batch.ts';
import { type PipelineResult, pipelineStage } from './stages/pipeline.ts';
import { type RawBrokerResult, rawBrokerStage } from './stages/raw-broker.ts';
import { type StackUpResult, stackUpStage } from './stages/stack-up.ts';
import { type TransformersResult, transformersStage } from './stages/transformers.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const started = performance.now();
const only = chosenStages(process.argv);
const runs = (...stages: StageName[]) => stages.some((stage) => !only || only.has(stage));
/**
 * `npm run bench -- --profile`: the same run with CPU profiles of the transformers (run from their sources,
 * for readable names) and of the runner, summarised into bench/profile.md instead of saved as results.
 */
const profileDir = process.argv.includes('--profile') ? testDir('bench-profile-') : undefined;
let command: Promise<TransformerCommand> | undefined;
/** Built once, by the first stage that starts transformers. */
const transformers = () => {
  command ??= transformerCommand(profileDir);
  return command;
};

const bundles = runs('bundles') ? await bundlesStage() : undefined;
// Each stream handler on batches of 100 against dynalite: the AWS capacity model's divisor.
const handlerBatch = runs('handler-batch') ? await handlerBatchStage() : undefined;

// --- A. a bare broker: the raw broker and the transformer alone ----------------------------------------

const bare = await onBareBroker();
async function onBareBroker(): Promise<{ raw?: RawBrokerResult; alone?: TransformersResult }> {
  if (!runs('raw-broker', 'transformers')) return {};
  const broker = await startTestBroker();
  const connect = (name: string) =>
    connectBroker({ url: broker.url, ...broker.credentials, name, log: () => {} });
  try {
    const raw = runs('raw-broker') ? await rawBrokerStage(connect) : undefined;
    const alone = runs('transformers')
      ? await transformersStage(broker, connect, await transformers(), raw?.prefetch1)
      : undefined;
    return { raw, alone };
  } finally {
    await broker.stop();
  }
}

// --- B. the local stack: pipeline, delays, first result ------------------------------------------------

interface OnTheStack {
  readonly up?: StackUpResult;
  readonly runnerPid?: number;
  readonly pipeline?: PipelineResult;
  readonly delays?: DelaysResult;
  readonly first?: FirstResultResult;
  readonly fast?: FastRunResult;
  readonly concurrency?: ConcurrencyResult;
}
const stacked = await onTheStack();
async function onTheStack(): Promise<OnTheStack> {
  if (!runs('stack-up', 'pipeline', 'delays', 'first-result', 'fast-run', 'concurrency')) return {};
  const up = await stackUpStage(profileDir);
  const runnerPid = up.stack.pids().runner;
  try {
    if (!runs('pipeline', 'delays', 'first-result', 'fast-run', 'concurrency')) return { up, runnerPid };
    const session = await StackRuns.open(up.stack, await transformers());
    try {
      const pipeline = runs('pipeline') ? await pipelineStage(session, bare.raw?.prefetch1) : undefined;
      const delays = runs('delays') ? await delaysStage(session) : undefined;
      const first = runs('first-result') ? await firstResultStage(up.stack, session.publisher) : undefined;
      const fast = runs('fast-run') ? await fastRunStage(up.stack, session) : undefined;
      const concurrency = runs('concurrency') ? await concurrencyStage(session) : undefined;
      return { up, runnerPid, pipeline, delays, first, fast, concurrency };
    } finally {
      await session.close();
    }
  } finally {
    await up.stack.destroy();
  }
}

// --- the report ----------------------------------------------------------------------------------------

const { raw, alone } = bare;
const { up, pipeline, delays, first, fast, concurrency } = stacked;
const figures = [
  ...(raw?.figures ?? []),
  ...(alone?.figures ?? []),
  ...(up ? [up.figure] : []),
  ...(pipeline?.figures ?? []),
  ...(delays?.figures ?? []),
  ...(pipeline ? [pipeline.memory] : []),
  ...(first?.figures ?? []),
  ...(fast?.figures ?? []),
  ...(concurrency?.figures ?? []),
  ...(bundles ? [bundles.largest] : []),
  ...(handlerBatch?.figures ?? []),
];
const host = machine();
console.log(`\n${machineLine(host)}\n\n${figureTable(figures)}\n`);
const durationS = Math.round((performance.now() - started) / 1000);

if (profileDir) {
  const profile = profileReport(profileSections(profileDir, stacked.runnerPid), host);
  writeFileSync(join(here, 'profile.md'), profile);
  console.log(profile);
  say(`done in ${durationS} s: bench/profile.md (results not saved: profiled processes run slower)`);
  process.exit(0);
}
if (!(bundles && handlerBatch && raw && alone && up && pipeline && delays && first && fast && concurrency)) {
  say(`done in ${durationS} s: stages ${[...(only ?? [])].join(', ')} only (results not saved)`);
  process.exit(0);
}
const results: BenchResults = {
  date: new Date().toISOString(),
  durationS,
  machine: host,
  layout,
  figures,
  bundles: bundles.sizes,
  rawPrefetch1: raw.prefetch1,
  cpuPerSlice_1transformers_us: alone.cpuPerSlice.one,
  cpuPerSlice_4transformers_us: alone.cpuPerSlice.four,
  cpuPerSlice_pipeline_us: pipeline.cpuPerSlice,
  pipelineRecorded: pipeline.recorded,
  cpuPerSlice_besideAnotherRun_us: pipeline.cpuPerSliceBesideAnotherRun,
  cpuPerSlice_besideAnotherRunShared_us: pipeline.cpuPerSliceBesideAnotherRunShared,
  delays: delays.delays,
  firstResult: first.firstResult,
  ...concurrency.saved,
  fastRun: fast.fastRun,
  handlerBatch: handlerBatch.handlerBatch,
};
writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(here, 'delays.svg'), delaysPlot(results.delays));
updateReadme(join(here, 'README.md'), results);
say(`done in ${durationS} s: bench/results.json, bench/delays.svg, bench/README.md`);
