import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SliceQueue } from '#routes/destinations.ts';
import { bundleTransformer, transformerEntry } from '../../functions/bundling.ts';
import { testDir } from '../../test/support/temp.ts';

export interface TransformerProcess {
  readonly pilotId: string;
  readonly pid: number;
  /** Resident memory now, in MB (VmRSS). */
  rssMb(): number;
  /** SIGTERM (the transformer drains and sends transformer_end), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface TransformerOptions {
  readonly runId: string;
  readonly pilotId: string;
  readonly namespace: string;
  /** BROKER_URL, BROKER_CREDENTIALS_FILE and, under a stack, the rest of its environment. */
  readonly env: Record<string, string>;
  /** Where the transformer's JSON log lines go. */
  readonly logFile: string;
  /**
   * Node's arguments that run the transformer: the bundle (functions/bundling.ts) as local pilots and the
   * pilot image run it, or its sources under tsx with `--cpu-prof` to profile it.
   */
  readonly command: readonly string[];
  /** Where the run's slices are queued. @default 'shared' */
  readonly sliceQueue?: SliceQueue;
}

/** A pilot's transformer as its own process, as the local launcher starts it. */
export function startTransformerProcess(o: TransformerOptions): TransformerProcess {
  const log = openSync(o.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [...o.command], {
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      ...o.env,
      RUN_ID: o.runId,
      PILOT_ID: o.pilotId,
      NAMESPACE: o.namespace,
      SLICE_PROCESSING_TIME: '0',
      HEARTBEAT_INTERVAL: '5',
      IDLE_TIMEOUT: '0',
      SLICE_QUEUE: o.sliceQueue ?? 'shared',
    },
  });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error('transformer process did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pilotId: o.pilotId,
    pid,
    rssMb() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : Number.NaN;
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `count` transformers of one run, pilots `<run>-p01`, `<run>-p02`...; the i-th (from 1) logs to `logFile(i)`. */
export function startTransformers(
  count: number,
  o: Omit<TransformerOptions, 'pilotId' | 'logFile'> & { readonly logFile: (i: number) => string },
): TransformerProcess[] {
  return Array.from({ length: count }, (_, i) =>
    startTransformerProcess({
      ...o,
      pilotId: `${o.runId}-p${String(i + 1).padStart(2, '0')}`,
      logFile: o.logFile(i + 1),
    }),
  );
}

/** Node's arguments for a transformer; `profileName` is the folder its CPU profile goes to, if profiled. */
export type TransformerCommand = (profileName: string) => string[];

/**
 * The bundle local pilots run or, with `profileDir` (`--profile`), the transformer's sources under tsx with
 * `--cpu-prof`, for readable names in the profiles.
 */
export async function transformerCommand(profileDir?: string): Promise<TransformerCommand> {
  if (profileDir)
    return (profileName) => [
      '--cpu-prof',
      `--cpu-prof-dir=${join(profileDir, profileName)}`,
      '--import',
      'tsx',
      transformerEntry,
    ];
  const bundle = await bundleTransformer(join(testDir('bench-pilot-'), 'transformer.mjs'));
  return () => [bundle];
}
