import { makeMessage } from '#contract/messages.ts';
import { stfFileName } from '#stf/format.ts';

export interface DaqRunShape {
  readonly namespace: string;
  readonly sender: string;
  readonly slicesPerStf: number;
  readonly tfsPerStf: number;
  readonly stfBytes: number;
  /** Each message's created_at. @default now */
  readonly createdAt?: () => string;
}

/**
 * What the DAQ simulator sends for a run of `stfs` STFs (run_imminent, start_run, an stf_gen per STF,
 * end_run), for the domain's tests and the bench's handler batches.
 */
export function daqRunMessages(runId: string, stfs: number, o: DaqRunShape) {
  const opts = () => ({
    namespace: o.namespace,
    sender: o.sender,
    ...(o.createdAt && { createdAt: o.createdAt() }),
  });
  const execution_id = `prompt_processing-test-${runId}`;
  const imminent = makeMessage(
    'run_imminent',
    runId,
    {
      execution_id,
      workflow: 'prompt_processing',
      dataset: `swf.${runId}.run`,
      state: 'beam',
      substate: 'not_ready',
      num_workers: 2,
      num_cores_per_worker: 1,
      num_ram_per_core: 2000,
      slices_per_stf: o.slicesPerStf,
      tfs_per_stf: o.tfsPerStf,
      slice_processing_time: 0,
      heartbeat_interval: 5,
      transformer_idle_timeout: 60,
    },
    opts(),
  );
  const start = makeMessage('start_run', runId, { execution_id, state: 'run', substate: 'physics' }, opts());
  const stfGens = Array.from({ length: stfs }, (_, i) =>
    makeMessage(
      'stf_gen',
      runId,
      {
        execution_id,
        filename: stfFileName(runId, i + 1),
        sequence: i + 1,
        size: o.stfBytes,
        checksum: 'ad:0a1b2c3d',
        start: `2026072014030${i}000000`,
        end: `2026072014030${i}900000`,
        state: 'run',
        substate: 'physics',
        tf_count: o.tfsPerStf,
        slices_per_stf: o.slicesPerStf,
        url: `/tmp/stfs/${stfFileName(runId, i + 1)}`,
      },
      opts(),
    ),
  );
  const end = makeMessage('end_run', runId, { execution_id, total_stf_files: stfs }, opts());
  return { imminent, start, stfGens, end };
}
