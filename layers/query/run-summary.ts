import type { MonitorContext } from './context.ts';
import { nowMs } from './context.ts';
import { delayStats } from './delays.ts';
import type { Percentiles } from './percentiles.ts';
import { type RunFigures, readFigureRecords, runFigures } from './run-figures.ts';
import { type RunRow, runRow } from './run-row.ts';
import { readRunItem } from './runs.ts';

/** One run: its row, DAQ state, its figures (STFs, slices, messages, pilots, why not completed) and delays. */
export interface RunSummary extends RunRow, RunFigures {
  readonly daq_state?: string;
  readonly daq_substate?: string;
  readonly config?: Record<string, unknown>;
  readonly delay_ms: Percentiles;
  readonly queue_wait_ms: Percentiles;
  readonly first_result_ms?: number;
}

export async function runSummary(c: MonitorContext, runId: string): Promise<RunSummary> {
  const run = await readRunItem(c, runId);
  const records = await readFigureRecords(c, run);
  const delays = delayStats(runId, records.slices, records.truncated === true);
  return {
    ...runRow(run),
    ...(typeof run.daq_state === 'string' && { daq_state: run.daq_state }),
    ...(typeof run.daq_substate === 'string' && { daq_substate: run.daq_substate }),
    ...(run.config !== undefined && { config: run.config as Record<string, unknown> }),
    ...runFigures(records, nowMs(c)),
    delay_ms: delays.delay_ms,
    queue_wait_ms: delays.queue_wait_ms,
    ...(delays.first_result_ms !== undefined && { first_result_ms: delays.first_result_ms }),
  };
}
