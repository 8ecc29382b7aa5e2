import { readFileSync } from 'node:fs';
import { median } from './stats.ts';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU time (user + system) a process has used so far, in ms; NaN once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** CPU ms of several processes between `start()` and `stop()`. */
export function cpuMeter(pids: readonly number[]): () => number {
  const before = pids.map(cpuMs);
  return () => pids.reduce((sum, pid, i) => sum + cpuMs(pid) - (before[i] as number), 0);
}

/** CPU µs per slice of each kind of process (broker, transformers...) and of the bench's publisher. */
export type CpuPerSlice = Readonly<Record<string, number>>;

/** Starts measuring the CPU of each group of processes; the function returned stops it, per slice. */
export function cpuPerSlice(pids: Record<string, readonly number[]>): (slices: number) => CpuPerSlice {
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

/** The median of each process's CPU per slice over repetitions, rounded to µs. */
export const medianCpu = (rows: readonly CpuPerSlice[]): CpuPerSlice =>
  Object.fromEntries(
    Object.keys(rows[0] ?? {}).map((k) => [k, Math.round(median(rows.map((r) => r[k] ?? 0)))]),
  );
