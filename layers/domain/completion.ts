import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { defined } from '#contract/fields.ts';
import { makeMessage } from '#contract/messages.ts';
import { destinations } from '#routes/destinations.ts';
import { isConditionFailed } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { type UpdateSpec, updateOf } from '#tables/update.ts';
import { type DomainDeps, now, type RunRecord, readRunItem, send } from './deps.ts';

export const TRANSCEIVER = 'transceiver';

/**
 * Ended, and every STF counted is done: as many completed STFs as end_run announced, and every STF
 * registered so far among them. Without a total (an end_run that carried none) the registered STFs count.
 */
export function isRunComplete(run: RunRecord): boolean {
  if (run.ended !== true) return false;
  const completed = run.completed_stfs ?? new Set<number>();
  const registered = run.registered_stfs ?? new Set<number>();
  for (const sequence of registered) if (!completed.has(sequence)) return false;
  return completed.size >= (run.total_stf_files ?? registered.size);
}

/** Whether the run's task takes no more pilots: completed (or completing), stopped or cancelled. */
export function isTaskOver(run: Pick<RunRecord, 'task_state' | 'completion'>): boolean {
  return run.task_state === 'closed' || run.task_state === 'cancelled' || run.completion !== undefined;
}

/**
 * Completes the run if its recorded state says it is complete; called by whichever handler may have made
 * it so (end_run, slice_result). The claim (`completion` absent -> 'completing') is a conditional write,
 * so of handlers racing only one finishes; whoever later finds it still 'completing' (the winner crashed
 * half-way and its batch is redelivered) finishes again. Returns whether the run is completed.
 * @param fresh the run as a strongly consistent read or an update's ALL_NEW returned it; read if omitted
 */
export async function checkCompletion(deps: DomainDeps, runId: string, fresh?: RunRecord): Promise<boolean> {
  const run = fresh ?? (await readRunItem(deps, runId, true));
  if (!run) return false;
  if (run.completion === 'completed') return true;
  if (run.completion !== 'completing') {
    if (!isRunComplete(run)) return false;
    try {
      await updateRun(deps, runId, {
        set: { completion: 'completing' },
        // A cancelled run stays cancelled, whatever results come in after the cancel.
        condition: 'attribute_not_exists(#completion) AND attribute_not_exists(#cancelled_at)',
      });
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }
  await finishRun(deps, run);
  return true;
}

/** Closes the dataset, stops the transformers and workers, closes the task; each step may repeat. */
async function finishRun(deps: DomainDeps, run: RunRecord): Promise<void> {
  const at = now(deps);
  const requestedAt = run.ended_at ?? at;
  const opts = { namespace: run.namespace, sender: TRANSCEIVER };
  await updateRun(deps, run.run_id, { set: { dataset_state: 'closed' } });
  await Promise.all([
    send(
      deps,
      destinations.transformer,
      makeMessage('stop_transformer', run.run_id, { requested_at: requestedAt }, opts),
    ),
    send(deps, destinations.workers, stopWorkers(run, requestedAt, opts)),
  ]);
  await updateRun(deps, run.run_id, {
    set: { task_state: 'closed', completion: 'completed', phase: 'completed' },
    keep: { completed_at: at },
  });
  deps.log.info('run completed', {
    run_id: run.run_id,
    task_id: run.task_id,
    dataset: run.dataset,
    stfs: run.completed_stfs?.size ?? 0,
  });
}

/** `adjuster_worker` with zeros: the worker adjuster stops the run's pilots. */
export function stopWorkers(
  run: Pick<RunRecord, 'run_id' | 'task_id' | 'namespace'>,
  requestedAt: string,
  opts: { namespace?: string | undefined; sender: string },
) {
  const content = defined({
    num_workers: 0,
    num_cores_per_worker: 0,
    num_ram_per_core: 0,
    requested_at: requestedAt,
    task_id: run.task_id,
    namespace: opts.namespace,
  });
  return makeMessage('adjuster_worker', run.run_id, content, defined(opts));
}

export async function updateRun(
  deps: DomainDeps,
  runId: string,
  spec: UpdateSpec,
  returnValues?: 'ALL_NEW' | 'UPDATED_NEW',
): Promise<RunRecord | undefined> {
  const { Attributes } = await documents(deps.db).send(
    new UpdateCommand({
      TableName: deps.tableNames.runs,
      Key: { run_id: runId },
      ...updateOf(spec),
      ...(returnValues && { ReturnValues: returnValues }),
    }),
  );
  return Attributes as RunRecord | undefined;
}
