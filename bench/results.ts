import type { BundleSize } from './lib/bundles.ts';
import type { CpuPerSlice } from './lib/cpu.ts';
import type { Figure } from './lib/figures.ts';
import type { Machine } from './lib/machine.ts';
import type { Layout } from './lib/workload.ts';
import type { ConcurrencySaved } from './stages/concurrency.ts';
import type { DelayRow } from './stages/delays.ts';
import type { FastRun } from './stages/fast-run.ts';
import type { FirstResult } from './stages/first-result.ts';
import type { HandlerBatchRow } from './stages/handler-batch.ts';

/** What bench/results.json holds: the README and bench/README.md quote these keys. */
export interface BenchResults extends ConcurrencySaved {
  readonly date: string;
  readonly durationS: number;
  readonly machine: Machine;
  readonly layout: Layout;
  /** Every row of the table, in its order. */
  readonly figures: readonly Figure[];
  readonly bundles: readonly BundleSize[];
  /** 1a, msg/s. */
  readonly rawPrefetch1: number;
  readonly cpuPerSlice_1transformers_us: CpuPerSlice;
  readonly cpuPerSlice_4transformers_us: CpuPerSlice;
  readonly cpuPerSlice_pipeline_us: CpuPerSlice;
  /** Slices recorded in each measured pipeline run. */
  readonly pipelineRecorded: readonly number[];
  readonly cpuPerSlice_besideAnotherRun_us: CpuPerSlice;
  /** The same, both runs on the shared slice queue (as upstream's pilots read it). */
  readonly cpuPerSlice_besideAnotherRunShared_us: CpuPerSlice;
  readonly delays: readonly DelayRow[];
  readonly firstResult: readonly FirstResult[];
  /** 7a, 7b: a 1,000-STF `--no-realtime` run and the pipeline's own time for its slices. */
  readonly fastRun: FastRun;
  /** 8a..8d: each stream handler's time per batch of 100 (dynalite) and its DynamoDB writes per message. */
  readonly handlerBatch: readonly HandlerBatchRow[];
}
