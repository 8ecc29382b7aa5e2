import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerPort } from '#broker/port.ts';
import { credentialsFile } from '#local/state.ts';
import type { TestBroker } from '../../test/support/broker.ts';
import { testDir } from '../../test/support/temp.ts';
import { type CpuPerSlice, cpuPerSlice, medianCpu } from '../lib/cpu.ts';
import { atLeast, atMost, type Figure, figure } from '../lib/figures.ts';
import { drainRate, ResultWatch } from '../lib/result-watch.ts';
import { counted, layout, n, namespace, nowMicros, REPS, say } from '../lib/settings.ts';
import { repeat } from '../lib/stats.ts';
import { startTransformers, type TransformerCommand } from '../lib/transformers.ts';
import { publishAll, sliceMessage, slicesOf, writeStfs } from '../lib/workload.ts';

export interface TransformersResult {
  /** 2a, 2a/1a (with the raw broker's rate), 6a, 2b. */
  readonly figures: readonly Figure[];
  readonly cpuPerSlice: { readonly one: CpuPerSlice; readonly four: CpuPerSlice };
}

interface Drain {
  readonly rate: number;
  readonly cpu: CpuPerSlice;
}

/** 1 and then 4 transformer processes on a bare broker, draining backlogs of zero-cost slices. */
export async function transformersStage(
  broker: TestBroker,
  connect: (name: string) => Promise<BrokerPort>,
  command: TransformerCommand,
  rawPrefetch1?: number,
): Promise<TransformersResult> {
  const store = testDir('bench-stf-');
  const [publisher, observer] = await Promise.all([connect('publisher'), connect('observer')]);
  const watch = await new ResultWatch().start(observer);
  const env = { BROKER_URL: broker.url, BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir) };
  let sequence = 0;
  const figures: Figure[] = [];
  const cpu: CpuPerSlice[] = [];
  try {
    for (const count of [1, 4]) {
      const runId = String(700_000 + count);
      say(`transformer throughput: ${count} transformer process(es), zero-cost slices, backlog of 10,000`);
      const transformers = startTransformers(count, {
        runId,
        namespace,
        env,
        command: command(`${count}-transformers`),
        logFile: (i) => join(store, `${runId}-p${i}.log`),
      });
      const once = async (slices: number): Promise<Drain> => {
        const stfs = writeStfs(store, runId, sequence + 1, Math.ceil(slices / layout.slicesPerStf), layout);
        sequence += stfs.length;
        const bodies = slicesOf(stfs, layout).map(({ stf, range }) =>
          sliceMessage(runId, namespace, stf, range, layout),
        );
        const meter = cpuPerSlice({ broker: [broker.pid], transformers: transformers.map((t) => t.pid) });
        await publishAll(publisher, bodies);
        // From here on the backlog drains with nobody else at work: that is the transformers' rate.
        const published = nowMicros();
        const times = await watch.take(bodies.length, 60_000);
        for (const s of stfs) rmSync(s.path, { force: true });
        return { rate: drainRate(times, published), cpu: meter(bodies.length) };
      };
      await once(n(3_000));
      const runs = await repeat(REPS, () => once(n(10_000)));
      const rates = runs.map((r) => r.rate);
      figures.push(
        figure({
          id: count === 1 ? '2a' : '2b',
          figure: `${count} transformer${count > 1 ? 's' : ''}, zero-cost slices (backlog of ${counted(n(10_000))})`,
          unit: 'slices/s',
          runs: rates,
          ...(count === 1 && { goal: atLeast(2_500) }),
        }),
      );
      if (count === 1) figures.push(...oneTransformer(rates, transformers, rawPrefetch1));
      cpu.push(medianCpu(runs.map((r) => r.cpu)));
      await Promise.all(transformers.map((t) => t.stop()));
    }
  } finally {
    await watch.stop();
    await Promise.all([publisher.close(), observer.close()]);
    rmSync(store, { recursive: true, force: true });
  }
  const [one = {}, four = {}] = cpu;
  return { figures, cpuPerSlice: { one, four } };
}

/** 2a/1a and 6a: the one transformer against the raw broker, and its memory after every backlog. */
function oneTransformer(
  rates: readonly number[],
  transformers: readonly { rssMb(): number }[],
  rawPrefetch1: number | undefined,
): Figure[] {
  const ratio =
    rawPrefetch1 === undefined
      ? []
      : [
          figure({
            id: '2a/1a',
            figure: 'one transformer ÷ raw prefetch 1',
            unit: 'ratio',
            runs: rates.map((r) => r / rawPrefetch1),
          }),
        ];
  const rss = transformers.map((t) => t.rssMb());
  return [
    ...ratio,
    figure({
      id: '6a',
      figure: `transformer resident memory after ${counted(n(3_000) + REPS * n(10_000))} slices (the bundle local pilots run)`,
      unit: 'MB',
      runs: rss,
      goal: atMost(100),
    }),
  ];
}
