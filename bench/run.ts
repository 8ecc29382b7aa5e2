// `npm run bench`: the prompt path measured side by side with the raw broker it runs on, in one run, on
// stacks of its own (a bare test broker, then a cold `testbed up` in a temporary state folder on free
// ports). Prints one table; writes bench/results.json, bench/delays.svg and the table into bench/README.md.
// Each figure is the median of at least 3 repetitions after an unreported warm-up. A benchmark, not a
// test: nothing here fails on a slow machine. `bench/broker.ts` and `bench/runner.ts` still run alone.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { credentialsFile } from '#local/state.ts';
import { percentiles as nearestRank } from '#query/percentiles.ts';
import { destinations } from '#routes/destinations.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { bundleTransformer, transformerEntry } from '../functions/bundling.ts';
import { startTestBroker, type TestBroker } from '../test/support/broker.ts';
import { testDir } from '../test/support/temp.ts';
import { bundleSizes } from './lib/bundles.ts';
import { cpuMeter } from './lib/cpu.ts';
import { machine } from './lib/machine.ts';
import { prepareStfs, publishBurst, publishPaced, type Recorded, Tables } from './lib/pipeline.ts';
import { logLogPlot } from './lib/plot.ts';
import { profilesOf, summariseProfiles } from './lib/profile.ts';
import { rawBrokerRun } from './lib/raw-broker.ts';
import { drainRate, ResultWatch } from './lib/result-watch.ts';
import { type BenchStack, upStack } from './lib/stack.ts';
import { median, quantile, repeat, sleep } from './lib/stats.ts';
import { startTransformerProcess, type TransformerProcess } from './lib/transformers.ts';
import { defaultLayout, publishAll, sliceMessage, slicesOf, writeStfs } from './lib/workload.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const REPS = 3;
const namespace = 'bench';
const layout = defaultLayout;
const loads = [50, 100, 200, 400, 800];
/** BENCH_SCALE=0.2 shrinks every count and duration, for trying the benchmark itself out. */
const scale = Number(process.env.BENCH_SCALE ?? 1);
const n = (count: number) =>
  Math.max(layout.slicesPerStf, Math.round((count * scale) / layout.slicesPerStf) * layout.slicesPerStf);
const say = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const started = performance.now();
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** One row of the table: a median over repetitions, with the target it is held to. */
interface Figure {
  readonly id: string;
  readonly figure: string;
  readonly unit: string;
  readonly median: number;
  readonly runs: readonly number[];
  readonly target?: string;
  readonly met?: boolean;
}

const figures: Figure[] = [];
const extra: Record<string, unknown> = {};
function figure(f: Omit<Figure, 'median'> & { median?: number }): Figure {
  const full = { ...f, median: f.median ?? median(f.runs) } as Figure;
  figures.push(full);
  return full;
}

/** CPU ms per slice of each process, over one measured repetition. */
function cpuPerSlice(pids: Record<string, readonly number[]>): (slices: number) => Record<string, number> {
  const meters = Object.entries(pids).map(([name, list]) => [name, cpuMeter(list)] as const);
  const self = process.cpuUsage();
  return (slices) => {
    const out: Record<string, number> = {};
    for (const [name, stop] of meters) out[name] = (stop() * 1000) / slices;
    const own = process.cpuUsage(self);
    out['bench (publisher)'] = (own.user + own.system) / slices;
    return out;
  };
}

const medianOf = (rows: readonly Record<string, number>[]): Record<string, number> =>
  Object.fromEntries(
    Object.keys(rows[0] ?? {}).map((k) => [k, Math.round(median(rows.map((r) => r[k] ?? 0)))]),
  );

// --- 0. Lambda bundles ---------------------------------------------------------------------------------

say('bundling every Lambda handler as CDK does (esbuild, minified)');
const bundles = await bundleSizes();
const bundle = await bundleTransformer(join(testDir('bench-pilot-'), 'transformer.mjs'));
/**
 * `npm run bench -- --profile`: the same run with CPU profiles of the transformers (run from their sources,
 * for readable names) and of the runner, summarised into bench/profile.md instead of saved as results.
 */
const profileDir = process.argv.includes('--profile') ? testDir('bench-profile-') : undefined;
const transformerCommand = (profileName: string): string[] =>
  profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, profileName)}`, '--import', 'tsx', transformerEntry]
    : [bundle];
let runnerPid: number | undefined;

// --- A. a bare broker: the raw broker and the transformer alone ----------------------------------------

async function stageA(broker: TestBroker): Promise<void> {
  const connect = (name: string): Promise<BrokerPort> =>
    connectBroker({ url: broker.url, ...broker.credentials, name, log: () => {} });

  say('raw broker: persistent messages, one producer, one consumer, prefetch 1 and 1000');
  await rawBrokerRun(connect, 2_000, 1);
  await rawBrokerRun(connect, 2_000, 1000);
  const raw1 = await repeat(REPS, () => rawBrokerRun(connect, 5_000, 1));
  const raw1000 = await repeat(REPS, () => rawBrokerRun(connect, 5_000, 1000));
  const rawPrefetch1 = figure({
    id: '1a',
    figure: 'raw broker, persistent, prefetch 1 (5,000 messages)',
    unit: 'msg/s',
    runs: raw1.map((r) => r.rate),
  });
  figure({
    id: '1b',
    figure: 'raw broker, persistent, prefetch 1000 (5,000 messages)',
    unit: 'msg/s',
    runs: raw1000.map((r) => r.rate),
  });
  extra.rawPrefetch1 = rawPrefetch1.median;

  const store = testDir('bench-stf-');
  const [publisher, observer] = await Promise.all([connect('publisher'), connect('observer')]);
  const watch = await new ResultWatch().start(observer);
  const env = { BROKER_URL: broker.url, BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir) };
  let sequence = 0;
  try {
    for (const count of [1, 4]) {
      const runId = String(700_000 + count);
      say(`transformer throughput: ${count} transformer process(es), zero-cost slices, backlog of 10,000`);
      const transformers = Array.from({ length: count }, (_, i) =>
        startTransformerProcess({
          runId,
          pilotId: `${runId}-p${String(i + 1).padStart(2, '0')}`,
          namespace,
          env,
          command: transformerCommand(`${count}-transformers`),
          logFile: join(store, `${runId}-p${i + 1}.log`),
        }),
      );
      const once = async (slices: number) => {
        const stfs = writeStfs(store, runId, sequence + 1, Math.ceil(slices / layout.slicesPerStf), layout);
        sequence += stfs.length;
        const bodies = slicesOf(stfs, layout).map(({ stf, range }) =>
          sliceMessage(runId, namespace, stf, range, layout),
        );
        const cpu = cpuPerSlice({ broker: [broker.pid], transformers: transformers.map((t) => t.pid) });
        await publishAll(publisher, bodies);
        // From here on the backlog drains with nobody else at work: that is the transformers' rate.
        const published = nowMicros();
        const times = await watch.take(bodies.length, 60_000);
        for (const s of stfs) rmSync(s.path, { force: true });
        return { rate: drainRate(times, published), cpu: cpu(bodies.length) };
      };
      await once(n(3_000));
      const runs = await repeat(REPS, () => once(n(10_000)));
      const rates = runs.map((r) => r.rate);
      figure({
        id: count === 1 ? '2a' : '2b',
        figure: `${count} transformer${count > 1 ? 's' : ''}, zero-cost slices (backlog of ${n(10_000).toLocaleString('en-US')})`,
        unit: 'slices/s',
        runs: rates,
        ...(count === 1 && { target: '≥ 2,500', met: median(rates) >= 2_500 }),
      });
      if (count === 1) {
        figure({
          id: '2a/1a',
          figure: 'one transformer ÷ raw prefetch 1',
          unit: 'ratio',
          runs: rates.map((r) => r / rawPrefetch1.median),
        });
        const rss = transformers.map((t) => t.rssMb());
        figure({
          id: '6a',
          figure: `transformer resident memory after ${(n(3_000) + REPS * n(10_000)).toLocaleString('en-US')} slices (the bundle local pilots run)`,
          unit: 'MB',
          runs: rss,
          target: '≤ 100',
          met: Math.max(...rss) <= 100,
        });
      }
      extra[`cpuPerSlice_${count}transformers_us`] = medianOf(runs.map((r) => r.cpu));
      await Promise.all(transformers.map((t) => t.stop()));
    }
  } finally {
    await watch.stop();
    await Promise.all([publisher.close(), observer.close()]);
    rmSync(store, { recursive: true, force: true });
  }
}

// --- B. the local stack: pipeline, delays, first result ------------------------------------------------

interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}
const percentiles = (ms: readonly number[]): Percentiles => {
  const { p50, p95, p99 } = nearestRank(ms);
  return { p50, p95, p99 };
};
const delaysOf = (rows: readonly Recorded[]) => ({
  queueWait: percentiles(rows.map((r) => (r.started - r.requested) / 1000)),
  recording: percentiles(rows.map((r) => (r.recorded - r.processed) / 1000)),
  slices: rows.length,
});

async function stageB(): Promise<void> {
  say('cold `testbed up` (fresh state folder, ActiveMQ installed), 3 times');
  const ups: number[] = [];
  let stack: BenchStack | undefined;
  for (let i = 0; i < REPS; i++) {
    stack = await upStack(profileDir && join(profileDir, 'stack'));
    ups.push(stack.upMs / 1000);
    if (i < REPS - 1) await stack.destroy();
  }
  figure({
    id: '5b',
    figure: 'cold `testbed up` (broker, dynalite, runner, API)',
    unit: 's',
    runs: ups,
    target: '≤ 8',
    met: median(ups) <= 8,
  });
  if (!stack) return;
  const s = stack;
  const store = join(s.stateDir, 'bench-stf');
  mkdirSync(store, { recursive: true });
  const tables = new Tables(s.env);
  const connect = (name: string) =>
    connectBroker({
      url: s.env.BROKER_URL as string,
      ...readCredentials(s.env.BROKER_CREDENTIALS_FILE as string),
      name,
      log: () => {},
    });
  // Each measured run is a run of its own, with its own 4 transformers (pilots serve one run): one run's
  // item would otherwise hold the STF sets of every run before it, which no real run carries.
  let nextRun = 810_001;
  let transformers: TransformerProcess[] = [];
  let idle: TransformerProcess[] = [];
  let publisher: BrokerPort | undefined;
  const transformersOf = (runId: string, profileName: string) =>
    Array.from({ length: 4 }, (_, i) =>
      startTransformerProcess({
        runId,
        pilotId: `${runId}-p${String(i + 1).padStart(2, '0')}`,
        namespace,
        env: s.env,
        command: transformerCommand(profileName),
        logFile: join(s.stateDir, 'logs', `bench-${runId}-p${i + 1}.log`),
      }),
    );
  /** A new run and its 4 transformers, the measured ones (`endRun` stops them). */
  const startRun = (profileName: string) => {
    const runId = String(nextRun++);
    transformers = transformersOf(runId, profileName);
    return runId;
  };
  const endRun = async () => {
    await Promise.all(transformers.map((t) => t.stop()));
    transformers = [];
  };
  try {
    publisher = await connect('bench-publisher');
    const pub = publisher;
    const prepare = (runId: string, slices: number, first = 1) =>
      prepareStfs(tables, store, runId, first, slices, layout);
    const cleanUp = (p: Awaited<ReturnType<typeof prepare>>) => {
      for (const f of p.stfs) rmSync(f.path, { force: true });
    };

    say('pipeline: 20,000 slices published at once, 4 transformers, until every result is in DynamoDB');
    const pids = s.pids();
    runnerPid = pids.runner;
    const pipelineOnce = async (count: number) => {
      const runId = startRun('pipeline-transformers');
      const p = await prepare(runId, count);
      const cpu = cpuPerSlice({
        broker: [pids.broker ?? 0],
        transformers: transformers.map((t) => t.pid),
        runner: [pids.runner ?? 0],
        dynalite: [pids.dynalite ?? 0],
      });
      const t0 = nowMicros();
      await publishBurst(pub, runId, namespace, p, layout);
      await tables.completed(runId, p.sequences, 300_000);
      const cpuUs = cpu(count);
      const rows = await tables.slices(runId, p.first, p.last);
      cleanUp(p);
      // The transformers' memory after their run's slices, before they go.
      const rssMb = transformers.map((t) => t.rssMb());
      await endRun();
      const recorded = rows.map((r) => r.recorded).sort((a, b) => a - b);
      const last = recorded.at(-1) as number;
      // Sustained: the middle 80 % of the results, without the ramps at either end.
      const [a, b] = [quantile(recorded, 0.1), quantile(recorded, 0.9)];
      return {
        endToEnd: rows.length / ((last - t0) / 1e6),
        sustained: (0.8 * rows.length) / ((b - a) / 1e6),
        recorded: rows.length,
        cpu: cpuUs,
        rssMb,
      };
    };
    await pipelineOnce(n(4_000));
    const pipeline = await repeat(REPS, () => pipelineOnce(n(20_000)));
    const rawP1 = extra.rawPrefetch1 as number;
    const sustained = pipeline.map((r) => r.sustained);
    figure({
      id: '3a',
      figure: `pipeline, sustained (middle 80 %), 4 transformers, ${n(20_000).toLocaleString('en-US')} slices → DynamoDB`,
      unit: 'slices/s',
      runs: sustained,
      target: '≥ 1,500',
      met: median(sustained) >= 1_500,
    });
    figure({
      id: '3b',
      figure: 'pipeline, end to end (first publish → last recorded)',
      unit: 'slices/s',
      runs: pipeline.map((r) => r.endToEnd),
    });
    figure({
      id: '3a/1a',
      figure: 'pipeline sustained ÷ raw prefetch 1',
      unit: 'ratio',
      runs: sustained.map((r) => r / rawP1),
      target: '≥ 0.4',
      met: median(sustained) / rawP1 >= 0.4,
    });
    extra.cpuPerSlice_pipeline_us = medianOf(pipeline.map((r) => r.cpu));
    extra.pipelineRecorded = pipeline.map((r) => r.recorded);

    // Two runs at once share the slice queue, each run's transformers selecting its slices: the broker
    // scans its paged-in slices (up to maxPageSize) for consumers that take none of them.
    say('pipeline beside another run: 4 idle transformers of a second run wait on the slice queue');
    idle = transformersOf(String(nextRun++), 'idle-transformers');
    await sleep(2_000);
    const beside = await repeat(REPS, () => pipelineOnce(n(5_000)));
    await Promise.all(idle.map((t) => t.stop()));
    idle = [];
    const besideRates = beside.map((r) => r.sustained);
    figure({
      id: '3c',
      figure: `pipeline, sustained, ${n(5_000).toLocaleString('en-US')} slices, while 4 transformers of another run wait on the slice queue`,
      unit: 'slices/s',
      runs: besideRates,
    });
    figure({
      id: '3c/3a',
      figure: 'beside another run ÷ alone',
      unit: 'ratio',
      runs: besideRates.map((r) => r / median(sustained)),
    });
    extra.cpuPerSlice_besideAnotherRun_us = medianOf(beside.map((r) => r.cpu));

    say(`delays: offered loads ${loads.join(', ')} slices/s, 4 transformers`);
    const delays: { load: number; runs: ReturnType<typeof delaysOf>[] }[] = [];
    for (const load of loads) {
      const seconds = (load === 200 ? 10 : 5) * Math.min(1, scale * 2);
      const runId = startRun('delay-transformers');
      // Unreported: the run's new transformers warm up on a burst first.
      const warmUp = await prepare(runId, n(1_000));
      await publishBurst(pub, runId, namespace, warmUp, layout);
      await tables.completed(runId, warmUp.sequences, 120_000);
      cleanUp(warmUp);
      let next = warmUp.sequences.length + 1;
      const runs = await repeat(REPS, async () => {
        const p = await prepare(
          runId,
          Math.ceil((load * seconds) / layout.slicesPerStf) * layout.slicesPerStf,
          next,
        );
        next += p.stfs.length;
        await publishPaced(pub, runId, namespace, p, layout, load);
        await tables.completed(runId, p.sequences, 120_000);
        const rows = await tables.slices(runId, p.first, p.last);
        cleanUp(p);
        return delaysOf(rows);
      });
      await endRun();
      delays.push({ load, runs });
    }
    const at200 = delays.find((d) => d.load === 200)?.runs ?? [];
    const pick = (f: (r: ReturnType<typeof delaysOf>) => number) => at200.map(f);
    figure({
      id: '4a',
      figure: 'queue wait p50 (created_at → processing_start_at) at 200 slices/s',
      unit: 'ms',
      runs: pick((r) => r.queueWait.p50),
      target: '≤ 2',
      met: median(pick((r) => r.queueWait.p50)) <= 2,
    });
    figure({
      id: '4b',
      figure: 'queue wait p99 at 200 slices/s',
      unit: 'ms',
      runs: pick((r) => r.queueWait.p99),
      target: '≤ 20',
      met: median(pick((r) => r.queueWait.p99)) <= 20,
    });
    figure({
      id: '4c',
      figure: 'result recording p99 (processed_at → recorded_at) at 200 slices/s',
      unit: 'ms',
      runs: pick((r) => r.recording.p99),
      target: '≤ 100',
      met: median(pick((r) => r.recording.p99)) <= 100,
    });
    extra.delays = delays.map((d) => ({
      load: d.load,
      queueWaitMs: medianPercentiles(d.runs.map((r) => r.queueWait)),
      recordingMs: medianPercentiles(d.runs.map((r) => r.recording)),
      slicesPerRun: d.runs.map((r) => r.slices),
    }));

    const rss = pipeline.at(-1)?.rssMb ?? [];
    figure({
      id: '6b',
      figure: `pipeline transformers, resident memory after their run of ${n(20_000).toLocaleString('en-US')} slices (largest of 4)`,
      unit: 'MB',
      median: Math.max(...rss),
      runs: rss,
      target: '≤ 100',
      met: Math.max(...rss) <= 100,
    });

    say('time to first result: `testbed run prompt_processing --no-realtime` with the stack up, 3 times');
    const first = await repeat(REPS, () => firstResult(s, pub));
    figure({
      id: '5a',
      figure: 'first slice_result after `testbed run --no-realtime` starts (stack up)',
      unit: 'ms',
      runs: first.map((f) => f.fromCommandMs),
      target: '≤ 1,000',
      met: median(first.map((f) => f.fromCommandMs)) <= 1_000,
    });
    figure({
      id: '5a′',
      figure: 'of which: command start → run_imminent published (CLI, stack check, DAQ simulator)',
      unit: 'ms',
      runs: first.map((f) => f.toRunImminentMs),
    });
    figure({
      id: '5a″',
      figure: 'of which: run_imminent published → first slice_result',
      unit: 'ms',
      runs: first.map((f) => f.fromRunImminentMs),
    });
    figure({
      id: '5a‴',
      figure:
        'within that: run_imminent → transformer_start (two runner hops, a pilot started and connected)',
      unit: 'ms',
      runs: first.map((f) => f.toPilotStartMs),
    });
    extra.firstResult = first;
  } finally {
    await Promise.all([endRun(), ...idle.map((t) => t.stop())]);
    await publisher?.close();
    await s.destroy();
  }
}

function medianPercentiles(rows: readonly Percentiles[]): Percentiles {
  return {
    p50: median(rows.map((r) => r.p50)),
    p95: median(rows.map((r) => r.p95)),
    p99: median(rows.map((r) => r.p99)),
  };
}

/** Runs a small workflow through the CLI; the clock starts when the command does. */
async function firstResult(s: BenchStack, listener: BrokerPort) {
  // The first arrival of each message type of the run, by the clock of this process.
  const firstAt = new Map<string, number>();
  const subs = [destinations.epic, destinations.workers, destinations.results].map((d) =>
    listener.subscribe(d, { ack: 'auto' }, (m) => {
      const type = m.headers.msg_type;
      if (type && m.headers.namespace === 'bench-first' && !firstAt.has(type))
        firstAt.set(type, performance.now());
    }),
  );
  await Promise.all(subs.map((sub) => sub.ready));
  const t0 = performance.now();
  const run = await s.testbed(
    [
      'run',
      'prompt_processing',
      '--no-realtime',
      '--stf-count',
      '4',
      '--workers',
      '2',
      '--namespace',
      'bench-first',
    ],
    180_000,
  );
  await Promise.all(subs.map((sub) => sub.unsubscribe()));
  const at = (type: string) => firstAt.get(type) ?? Number.NaN;
  if (run.code !== 0 || !firstAt.has('slice_result') || !firstAt.has('run_imminent'))
    throw new Error(`testbed run failed (${run.code}): ${run.stdout.slice(-1500)}${run.stderr.slice(-1500)}`);
  return {
    fromCommandMs: at('slice_result') - t0,
    toRunImminentMs: at('run_imminent') - t0,
    fromRunImminentMs: at('slice_result') - at('run_imminent'),
    toPilotStartMs: at('transformer_start') - at('run_imminent'),
    commandMs: run.ms,
    summaryFirstResult: /First result after the first slice: (.*)/.exec(run.stdout)?.[1] ?? '?',
  };
}

// --- run it all ----------------------------------------------------------------------------------------

const broker = await startTestBroker();
try {
  await stageA(broker);
} finally {
  await broker.stop();
}
await stageB();

const host = machine();
figure({
  id: '6c',
  figure: `largest Lambda bundle (${bundles.reduce((a, b) => (b.bytes > a.bytes && !b.name.startsWith('transformer') ? b : a)).name})`,
  unit: 'KB',
  median: Math.max(...bundles.filter((b) => !b.name.startsWith('transformer')).map((b) => b.bytes)) / 1024,
  runs: [],
  target: '≤ 1,024 each',
  met: bundles.filter((b) => !b.name.startsWith('transformer')).every((b) => b.bytes <= 1024 * 1024),
});

const rounded = (v: number) =>
  Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
const table = [
  '| # | figure | median | unit | runs | target | met |',
  '|---|---|---:|---|---|---|---|',
  ...figures.map(
    (f) =>
      `| ${f.id} | ${f.figure} | ${rounded(f.median)} | ${f.unit} | ${f.runs.map(rounded).join(' / ')} | ${f.target ?? ''} | ${f.met === undefined ? '' : f.met ? 'yes' : '**no**'} |`,
  ),
].join('\n');
const machineLine = `${host.cpu}, ${host.cores} cores, ${host.memoryGb} GB, Node ${host.node}, ActiveMQ ${host.activemq} (${host.java}); load average at the end ${host.loadAverage}`;
console.log(`\n${machineLine}\n\n${table}\n`);

const durationS = Math.round((performance.now() - started) / 1000);
if (profileDir) {
  const sections = (
    [
      ['one transformer, zero-cost slices (2a)', profilesOf(join(profileDir, '1-transformers'))],
      ['4 transformers in the pipeline (3a, 4)', profilesOf(join(profileDir, 'pipeline-transformers'))],
      ['the local Lambda runner in the pipeline (3a, 4)', profilesOf(join(profileDir, 'stack'), runnerPid)],
    ] as const
  ).map(([name, files]) => {
    const p = summariseProfiles(files);
    const share = (rows: readonly (readonly [string, number])[]) =>
      rows.map(([k, v]) => `| ${k.replaceAll('|', '\\|')} | ${(v * 100).toFixed(1)} % |`);
    return [
      `## ${name}: ${Math.round(p.busyMs).toLocaleString('en-US')} ms busy`,
      '',
      '| where | share of busy time |',
      '|---|---:|',
      ...share(p.areas),
      '',
      '| function (self time) | share of busy time |',
      '|---|---:|',
      ...share(p.functions),
    ].join('\n');
  });
  const profile = [
    '# CPU profiles of the prompt path',
    '',
    `\`npm run bench -- --profile\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, on: ${machineLine}. Busy time excludes idle; a profiled process runs slower than in the figures of README.md.`,
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  writeFileSync(join(here, 'profile.md'), profile);
  console.log(profile);
  say(`done in ${durationS} s: bench/profile.md (results not saved: profiled processes run slower)`);
  process.exit(0);
}
writeFileSync(
  join(here, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), durationS, machine: host, layout, figures, bundles, ...extra }, null, 2)}\n`,
);

const delays = extra.delays as { load: number; queueWaitMs: Percentiles; recordingMs: Percentiles }[];
writeFileSync(
  join(here, 'delays.svg'),
  logLogPlot({
    title: 'Slice delays against offered load (4 transformers, medians of 3 runs)',
    xLabel: 'offered load (slices/s)',
    yLabel: 'delay (ms)',
    series: [
      {
        name: 'queue wait p50',
        color: '#1f77b4',
        points: delays.map((d) => ({ x: d.load, y: d.queueWaitMs.p50 })),
      },
      {
        name: 'queue wait p99',
        color: '#1f77b4',
        dashed: true,
        points: delays.map((d) => ({ x: d.load, y: d.queueWaitMs.p99 })),
      },
      {
        name: 'recording p50',
        color: '#d62728',
        points: delays.map((d) => ({ x: d.load, y: d.recordingMs.p50 })),
      },
      {
        name: 'recording p99',
        color: '#d62728',
        dashed: true,
        points: delays.map((d) => ({ x: d.load, y: d.recordingMs.p99 })),
      },
    ],
    targets: [
      { y: 2, label: 'queue wait p50 target' },
      { y: 20, label: 'queue wait p99 target' },
      { y: 100, label: 'recording p99 target' },
    ],
  }),
);

// The README keeps its prose; only the part between the markers is this run's.
const readme = join(here, 'README.md');
const [begin, end] = ['<!-- results:begin -->', '<!-- results:end -->'];
const text = readFileSync(readme, 'utf8');
if (text.includes(begin) && text.includes(end)) {
  const generated = [
    begin,
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${durationS} s on: ${machineLine}.`,
    '',
    table,
    '',
    '| Lambda bundle (esbuild, minified) | KB |',
    '|---|---:|',
    ...bundles.map((b) => `| ${b.name} | ${Math.round(b.bytes / 1024).toLocaleString('en-US')} |`),
    '',
    '| CPU per slice, µs (medians) | ' +
      Object.keys((extra.cpuPerSlice_pipeline_us as object) ?? {}).join(' | ') +
      ' |',
    `|---|${Object.keys((extra.cpuPerSlice_pipeline_us as object) ?? {})
      .map(() => '---:')
      .join('|')}|`,
    ...Object.entries({
      cpuPerSlice_1transformers_us: '1 transformer, bare broker',
      cpuPerSlice_4transformers_us: '4 transformers, bare broker',
      cpuPerSlice_pipeline_us: 'pipeline',
      cpuPerSlice_besideAnotherRun_us: 'pipeline beside another run',
    }).map(([k, label]) => {
      const row = (extra[k] ?? {}) as Record<string, number>;
      const keys = Object.keys((extra.cpuPerSlice_pipeline_us as object) ?? {});
      return `| ${label} | ${keys.map((c) => row[c] ?? '').join(' | ')} |`;
    }),
    '',
    '| offered load (slices/s) | queue wait p50 / p95 / p99 (ms) | recording p50 / p95 / p99 (ms) |',
    '|---:|---|---|',
    ...delays.map(
      (d) =>
        `| ${d.load} | ${[d.queueWaitMs.p50, d.queueWaitMs.p95, d.queueWaitMs.p99].map(rounded).join(' / ')} | ${[d.recordingMs.p50, d.recordingMs.p95, d.recordingMs.p99].map(rounded).join(' / ')} |`,
    ),
    end,
  ].join('\n');
  writeFileSync(
    readme,
    text.slice(0, text.indexOf(begin)) + generated + text.slice(text.indexOf(end) + end.length),
  );
}
say(`done in ${durationS} s: bench/results.json, bench/delays.svg, bench/README.md`);
await sleep(0);
