import { UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { defined, text } from '#contract/fields.ts';
import type { Message } from '#contract/messages.ts';
import { integerOf } from '#contract/numbers.ts';
import { conditionalWrite } from '#tables/conditions.ts';
import { documents } from '#tables/documents.ts';
import { type UpdateSpec, updateOf } from '#tables/update.ts';
import type { PilotTableDeps } from './pilot-records.ts';

type Lifecycle = 'transformer_start' | 'transformer_heartbeat' | 'transformer_end';

/** What a lifecycle message says about its pilot; `attempt` tells restarts of one pilot id apart. */
interface PilotReport {
  readonly runId: string;
  readonly pilotId: string;
  readonly at: string;
  readonly attempt?: number;
  readonly hostname?: string;
  readonly pid?: number;
  readonly taskId?: number;
  readonly slicesDone?: number;
}

/** One write of a pilots item, `conditions` joined by AND. */
type LifecycleWrite = Omit<UpdateSpec, 'condition'> & { readonly conditions?: readonly string[] };

const notEnded = '(attribute_not_exists(#state) OR #state <> :ended)';

/** transformer_start: the pilot runs. An end recorded first (messages cross) keeps the pilot 'ended'. */
export async function recordTransformerStart(
  messages: Message<'transformer_start'>[],
  deps: PilotTableDeps,
): Promise<void> {
  await recordReports(messages, deps, (r) => [
    {
      set: { state: 'running', started_at: r.at, hostname: r.hostname, pid: r.pid },
      keep: { task_id: r.taskId },
      conditions: [notEnded],
      values: { ':ended': 'ended' },
    },
    // Already ended: keep the state, fill in what only the start says.
    { keep: { started_at: r.at, hostname: r.hostname, pid: r.pid, task_id: r.taskId } },
  ]);
}

/**
 * transformer_heartbeat: the newest heartbeat wins. One handled after the end only moves last_heartbeat_at:
 * the end's slices_done is final.
 */
export async function recordTransformerHeartbeat(
  messages: Message<'transformer_heartbeat'>[],
  deps: PilotTableDeps,
): Promise<void> {
  const newer = '(attribute_not_exists(last_heartbeat_at) OR last_heartbeat_at < :heartbeat_at)';
  await recordReports(messages, deps, (r) => [
    {
      set: { last_heartbeat_at: r.at, slices_done: r.slicesDone },
      keep: { hostname: r.hostname, task_id: r.taskId },
      conditions: [newer, notEnded],
      values: { ':heartbeat_at': r.at, ':ended': 'ended' },
    },
    { set: { last_heartbeat_at: r.at }, conditions: [newer], values: { ':heartbeat_at': r.at } },
  ]);
}

/** transformer_end: the pilot ended, with its final slice count; whatever arrives later keeps it ended. */
export async function recordTransformerEnd(
  messages: Message<'transformer_end'>[],
  deps: PilotTableDeps,
): Promise<void> {
  await recordReports(messages, deps, (r) => [
    {
      set: { state: 'ended', ended_at: r.at, slices_done: r.slicesDone },
      keep: { hostname: r.hostname, pid: r.pid, task_id: r.taskId },
    },
  ]);
}

/**
 * Records each message's report with the first of `writes` whose conditions hold (the later ones are what is
 * left to record when an earlier one is refused). A message that names no pilot is logged and skipped.
 */
async function recordReports(
  messages: Message<Lifecycle>[],
  deps: PilotTableDeps,
  writes: (r: PilotReport) => readonly LifecycleWrite[],
): Promise<void> {
  const doc = documents(deps.db);
  await Promise.all(
    messages.map(async (m) => {
      const r = reportOf(m);
      if (!r) {
        deps.log.warn('lifecycle message names no pilot (content.pilot_id or content.id): not recorded', {
          msg_type: m.msg_type,
          run_id: m.run_id,
        });
        return;
      }
      for (const w of writes(r)) {
        if (await conditionalWrite(doc.send(new UpdateCommand(lifecycleUpdate(deps, r, w))))) return;
      }
    }),
  );
}

function reportOf(msg: Message<Lifecycle>): PilotReport | undefined {
  const c = msg.content as Record<string, unknown>;
  const pilotId = text(c.pilot_id) ?? text(c.id);
  if (pilotId === undefined) return undefined;
  return {
    runId: msg.run_id,
    pilotId,
    at: msg.created_at,
    ...defined({
      attempt: integerOf(c.attempt),
      hostname: text(c.hostname),
      pid: integerOf(c.pid),
      taskId: integerOf(c.task_id),
      slicesDone: integerOf(c.slices_done),
    }),
  };
}

/** The pilots item update for a report; one of an older attempt than the recorded one is refused. */
function lifecycleUpdate(deps: PilotTableDeps, r: PilotReport, write: LifecycleWrite): UpdateCommandInput {
  const { conditions = [], values = {}, ...writes } = write;
  const byAttempt = r.attempt !== undefined;
  const all = [
    ...conditions,
    ...(byAttempt ? ['(attribute_not_exists(attempts) OR attempts <= :attempt)'] : []),
  ];
  return {
    TableName: deps.tableNames.pilots,
    Key: { run_id: r.runId, pilot_id: r.pilotId },
    ...updateOf({
      ...writes,
      ...(all.length > 0 && { condition: all.join(' AND ') }),
      values: { ...values, ...(byAttempt && { ':attempt': r.attempt }) },
    }),
  };
}
