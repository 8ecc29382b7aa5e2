import { defaultLayout } from './workload.ts';

/** Each figure is the median of this many repetitions, after an unreported warm-up. */
export const REPS = 3;
export const namespace = 'bench';
export const layout = defaultLayout;
/** BENCH_SCALE=0.2 shrinks every count and duration, for trying the benchmark itself out. */
export const scale = Number(process.env.BENCH_SCALE ?? 1);

/** `count` slices under BENCH_SCALE, in whole STFs. */
export const n = (count: number): number =>
  Math.max(layout.slicesPerStf, Math.round((count * scale) / layout.slicesPerStf) * layout.slicesPerStf);

/** A count as the report prints it: 10,000. */
export const counted = (count: number): string => count.toLocaleString('en-US');

export const say = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

export const nowMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
