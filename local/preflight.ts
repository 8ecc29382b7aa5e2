import { unusedKeysLine, type WorkflowConfig } from '#config/workflow.ts';
import { whyNoRun } from '#domain/daq-plan.ts';

/**
 * Refuses a configuration that cannot make a run, in the words of its keys; else says what a user should
 * know before the run starts: keys its files set that the testbed does not read (a typo
 * shows here), and settings that change what the run can do.
 */
export function preflight(cfg: WorkflowConfig): string[] {
  const refusal = whyNoRun(cfg);
  if (refusal !== undefined) throw new Error(refusal);
  const unused = unusedKeysLine(cfg);
  const notes: string[] = unused === undefined ? [] : [unused];
  if (cfg.promptProcessing.target_worker_count === 0)
    notes.push(
      'prompt_processing.target_worker_count = 0: no pilot of ours starts; the slices wait for a ' +
        "transformer you start (e.g. upstream's), and without one the run ends after the drain timeout, " +
        'not completed',
    );
  return notes;
}
