import { numberOf } from '#contract/numbers.ts';
import { fromEpochMicros, toEpochMicros } from '#contract/timestamps.ts';
import { documents } from '#tables/documents.ts';
import { scanAll } from '#tables/pages.ts';
import type { RunConfig } from './deps.ts';
import { describeExit, type PilotStatus, pilotStatus } from './pilot-launcher-port.ts';
import {
  isLiveState,
  LOST_AFTER_INTERVALS,
  type PilotRecord,
  queryPilots,
  spentAttempts,
} from './pilot-records.ts';
import { pilotDefaults, transformerEnv } from './pilot-settings.ts';
import { MAX_PILOT_ATTEMPTS, markEnded, markLost, type PilotSlotDeps, startInSlot } from './pilot-slots.ts';

export interface WatchdogDeps extends PilotSlotDeps {
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** How long a pilot found gone is given for its transformer_end to be recorded. @default a second */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface WatchdogOptions {
  /** Only this run; otherwise every run not completed whose task is open. */
  readonly runId?: string;
  /**
   * A pilot found gone is judged again after this pause: one that ended cleanly has sent transformer_end
   * before exiting, and the pause lets that be recorded first. @default 1000
   */
  readonly confirmGoneMs?: number;
  /** A requested pilot neither gone nor started after this long is lost (a container stuck starting). @default 300 */
  readonly startTimeoutS?: number;
  /** A requested pilot the launcher does not know yet is given this long to appear. @default 10 */
  readonly startGraceS?: number;
  /** A pilot silent for longer is not replaced any more: its run was abandoned (a stack stopped mid-run). @default 3600 */
  readonly abandonAfterS?: number;
}

export interface WatchOutcome {
  readonly runId: string;
  /** Gone after a normal exit (exit code 0) its transformer_end did not record: marked 'ended', not replaced. */
  readonly ended: string[];
  /** Marked 'lost' by this pass. */
  readonly lost: string[];
  /** Started again in their slot (a new attempt). */
  readonly replaced: string[];
  /** Ended normally while their run is still open: started again, spending no attempt. */
  readonly refilled: string[];
  /** Lost with every attempt spent: left lost. */
  readonly exhausted: string[];
  /** Lost but still running (silent, hung): asked to stop; replaced once gone. */
  readonly stopping: string[];
}

/** The runs item attributes the watchdog reads. */
interface WatchedRun {
  readonly run_id: string;
  readonly namespace?: string;
  readonly task_id?: number;
  readonly config?: RunConfig;
  readonly registered_stfs?: Set<number>;
  readonly completed_stfs?: Set<number>;
}

/** Refills of one slot at most: a run whose slices are gone for good does not start pilots forever. */
export const MAX_REFILLS = 20;

/** An STF registered and not yet completed: its slices wait in the queue, or their results do. */
const hasPendingStfs = (run: WatchedRun): boolean =>
  [...(run.registered_stfs ?? [])].some((sequence) => !run.completed_stfs?.has(sequence));

/**
 * The pilot watchdog (what Harvester's monitor does for PanDA's workers): finds pilots of runs still
 * being processed (not completed, task open) that are lost, marks them 'lost' and starts a new attempt in
 * their slot, MAX_PILOT_ATTEMPTS per slot at most. A pilot is lost when the launcher no longer knows it (its
 * process or container is gone) without a transformer_end and not after a normal exit, or when it is silent
 * (no heartbeat, else no start) for LOST_AFTER_INTERVALS heartbeat intervals; a lost pilot still running is
 * asked to stop first. One the launcher saw exit normally (exit code 0) is marked 'ended' and not replaced,
 * whether or not its transformer_end was recorded: while the broker or DynamoDB is away it cannot be.
 * Silence counts only while some pilot's heartbeats still arrive: when every pilot is silent at once, the
 * message path (broker, handlers) is down, not the pilots, and stopping them all would only stall the runs.
 * Every write is conditional on the attempt read, so overlapping passes, or a pass racing the worker
 * adjuster, start one pilot per slot. Runs as a scheduled function in AWS, on a timer in the local runner.
 */
export async function watchPilots(deps: WatchdogDeps, o: WatchdogOptions = {}): Promise<WatchOutcome[]> {
  const now = deps.now ?? Date.now;
  const runs = await Promise.all(
    (await runsToWatch(deps, o.runId)).map(async (run) => ({
      run,
      pilots: await queryPilots(deps, run.run_id),
    })),
  );
  const heard = runs.some(({ run, pilots }) =>
    pilots.some((p) => p.state === 'running' && silentS(p, now()) <= LOST_AFTER_INTERVALS * intervalOf(run)),
  );
  const outcomes: WatchOutcome[] = [];
  for (const { run, pilots } of runs) outcomes.push(await watchRun(deps, run, pilots, heard, o));
  return outcomes.filter(
    (x) =>
      x.ended.length +
        x.lost.length +
        x.replaced.length +
        x.refilled.length +
        x.exhausted.length +
        x.stopping.length >
      0,
  );
}

/** Seconds since the pilot's last sign of life: its newest heartbeat, else its start, else its request. */
function silentS(p: PilotRecord, nowMs: number): number {
  const sign = p.last_heartbeat_at ?? p.started_at ?? p.requested_at;
  return sign === undefined ? Number.POSITIVE_INFINITY : nowMs / 1000 - toEpochMicros(sign) / 1e6;
}

function settingOf(run: WatchedRun, key: keyof typeof pilotDefaults): number {
  return numberOf(run.config?.[key]) ?? pilotDefaults[key];
}

const intervalOf = (run: WatchedRun): number => {
  const s = settingOf(run, 'heartbeat_interval');
  return s > 0 ? s : pilotDefaults.heartbeat_interval;
};

/** The runs a pass looks after: not completed, their task open (or only `runId`'s, when given). */
async function runsToWatch(deps: WatchdogDeps, runId: string | undefined): Promise<WatchedRun[]> {
  // Runs are few (one per execution): a Scan per pass is cheaper than keeping an index of open ones.
  const { items } = await scanAll<WatchedRun>(documents(deps.db), {
    TableName: deps.tableNames.runs,
    ProjectionExpression: 'run_id, #namespace, task_id, config, registered_stfs, completed_stfs',
    FilterExpression:
      'attribute_exists(task_id) AND attribute_not_exists(completion) AND ' +
      '(attribute_not_exists(task_state) OR NOT task_state IN (:closed, :cancelled))' +
      (runId === undefined ? '' : ' AND run_id = :run'),
    ExpressionAttributeNames: { '#namespace': 'namespace' },
    ExpressionAttributeValues: {
      ':closed': 'closed',
      ':cancelled': 'cancelled',
      ...(runId !== undefined && { ':run': runId }),
    },
    ConsistentRead: true,
  });
  return items;
}

/** `exited`: gone after a normal exit, which ends it; the others make it lost. */
type Verdict = 'fine' | 'exited' | 'silent' | 'gone' | 'stuck';

/** Lost, or lost and then ended (a pilot stopped for its silence still drains and sends transformer_end). */
const givenUp = (p: PilotRecord): boolean =>
  p.state === 'lost' || (p.state === 'ended' && p.lost_at !== undefined);

async function watchRun(
  deps: WatchdogDeps,
  run: WatchedRun,
  recorded: PilotRecord[],
  heard: boolean,
  o: WatchdogOptions,
): Promise<WatchOutcome> {
  const runId = run.run_id;
  const outcome: WatchOutcome = {
    runId,
    ended: [],
    lost: [],
    replaced: [],
    refilled: [],
    exhausted: [],
    stopping: [],
  };
  const log = deps.log.child({ service: 'pilot-watchdog', run_id: runId });
  const intervalS = intervalOf(run);
  // Slots above the run's target were scaled away on purpose: nothing to replace there.
  const target = run.config?.target_worker_count;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const silentLimit = LOST_AFTER_INTERVALS * intervalS;
  let warned = false;
  const unheard = (p: PilotRecord): Verdict => {
    if (heard) return p.state === 'running' ? 'silent' : 'stuck';
    if (!warned) {
      warned = true;
      log.warn('every pilot is silent: the broker or the handlers are suspected, not the pilots', {
        pilot_id: p.pilot_id,
        silent_s: Math.round(silentS(p, now())),
      });
    }
    return 'fine';
  };

  const judge = async (p: PilotRecord): Promise<{ verdict: Verdict; alive: boolean; exit: PilotStatus }> => {
    const exit = await pilotStatus(deps.launcher, p);
    const alive = exit.state === 'running';
    // Gone: a normal exit (idle timeout, stop, a drain) whose transformer_end was not recorded ends it;
    // only a failed one (non-zero exit, killed, no trace) is lost and costs its slot an attempt.
    const gone: Verdict = exit.state === 'exited' ? 'exited' : 'gone';
    const silent = silentS(p, now());
    if (p.state === 'running') {
      if (!alive) return { verdict: gone, alive, exit };
      return { verdict: silent > silentLimit ? unheard(p) : 'fine', alive, exit };
    }
    // Requested: the launcher may not show it for a moment after the claim; a container takes time to start.
    // An exit of this attempt is news enough without waiting out the grace.
    if (!alive && (exit.state !== 'unknown' || silent > (o.startGraceS ?? 10)))
      return { verdict: gone, alive, exit };
    if (silent > Math.max(o.startTimeoutS ?? 300, silentLimit)) return { verdict: unheard(p), alive, exit };
    return { verdict: 'fine', alive, exit };
  };

  let pilots = recorded;
  let suspects = false;
  for (const p of pilots) {
    if (isLiveState(p.state) && ['gone', 'exited'].includes((await judge(p)).verdict)) suspects = true;
  }
  if (suspects) {
    // A clean exit sends transformer_end first: give its handler a moment, then read the records again.
    await sleep(o.confirmGoneMs ?? 1000);
    pilots = await queryPilots(deps, runId);
  }

  for (const p of pilots) {
    if (p.slot === undefined || (target !== undefined && p.slot > target)) continue;
    let alive: boolean | undefined;
    if (isLiveState(p.state)) {
      const j = await judge(p);
      if (j.verdict === 'fine') continue;
      const at = fromEpochMicros(Math.round(now() * 1000));
      if (j.verdict === 'exited') {
        if (await markEnded(deps, p, describeExit(j.exit), at)) {
          outcome.ended.push(p.pilot_id);
          log.info('pilot exited normally: ended, not replaced', {
            pilot_id: p.pilot_id,
            slot: p.slot,
            attempts: p.attempts,
            exit: describeExit(j.exit),
            recorded_state: p.state,
          });
        }
        continue;
      }
      if (!(await markLost(deps, p, at))) continue;
      alive = j.alive;
      outcome.lost.push(p.pilot_id);
      log.warn('pilot lost', {
        pilot_id: p.pilot_id,
        slot: p.slot,
        attempts: p.attempts,
        why: j.verdict,
        ...(j.verdict === 'gone' && { exit: describeExit(j.exit) }),
        silent_s: Math.round(silentS(p, now()) * 10) / 10,
        recorded_state: p.state,
      });
    } else if (!givenUp(p)) {
      if (p.state === 'ended') await refill(deps, run, p, outcome, log, o.abandonAfterS ?? 3600);
      continue;
    }
    await replace(deps, run, { ...p, state: 'lost' }, alive, outcome, log, {
      silentS: silentS(p, now()),
      abandonAfterS: o.abandonAfterS ?? 3600,
    });
  }
  return outcome;
}

async function replace(
  deps: WatchdogDeps,
  run: WatchedRun,
  p: PilotRecord,
  knownAlive: boolean | undefined,
  outcome: WatchOutcome,
  log: WatchdogDeps['log'],
  o: { silentS: number; abandonAfterS: number },
): Promise<void> {
  if (spentAttempts(p) >= MAX_PILOT_ATTEMPTS) {
    // Reported once, when it is marked lost; later passes leave the slot quietly.
    if (outcome.lost.includes(p.pilot_id)) {
      outcome.exhausted.push(p.pilot_id);
      log.warn('pilot slot has had all its attempts: left lost', {
        pilot_id: p.pilot_id,
        attempts: p.attempts,
      });
    }
    return;
  }
  if (o.silentS > o.abandonAfterS) return;
  const alive = knownAlive ?? (await deps.launcher.isAlive(run.run_id, p.pilot_id));
  if (alive) {
    // Silent but running (hung, or cut off from the broker): one id runs once, so it must go first. A
    // second SIGTERM (the next pass) is fatal to a transformer; ECS follows its StopTask with SIGKILL.
    await deps.launcher.stop(run.run_id, p.pilot_id);
    outcome.stopping.push(p.pilot_id);
    log.info('lost pilot still running: asked to stop before it is replaced', { pilot_id: p.pilot_id });
    return;
  }
  if (await startAgain(deps, run, p, log, false)) outcome.replaced.push(p.pilot_id);
}

/**
 * A slot whose pilot ended normally (it idled out while DynamoDB or the handlers were away, say, or the stack
 * was stopped) while its run still has STFs to finish gets a pilot again, spending no attempt: without it the
 * run would wait for good. A slot left for longer than `abandonAfterS`, or refilled MAX_REFILLS times, stays
 * empty.
 */
async function refill(
  deps: WatchdogDeps,
  run: WatchedRun,
  p: PilotRecord,
  outcome: WatchOutcome,
  log: WatchdogDeps['log'],
  abandonAfterS: number,
): Promise<void> {
  if (!hasPendingStfs(run) || (p.refills ?? 0) >= MAX_REFILLS) return;
  if (silentS(p, (deps.now ?? Date.now)()) > abandonAfterS) return;
  if (await deps.launcher.isAlive(run.run_id, p.pilot_id)) return;
  if (!(await startAgain(deps, run, p, log, true))) return;
  outcome.refilled.push(p.pilot_id);
  log.info('pilot ended while its run is still open: slot refilled', {
    pilot_id: p.pilot_id,
    slot: p.slot,
    end_reason: p.end_reason,
  });
}

function startAgain(
  deps: WatchdogDeps,
  run: WatchedRun,
  p: PilotRecord,
  log: WatchdogDeps['log'],
  refill: boolean,
): Promise<boolean> {
  return startInSlot(deps, {
    runId: run.run_id,
    slot: p.slot as number,
    record: p,
    requestedAt: fromEpochMicros(Math.round((deps.now ?? Date.now)() * 1000)),
    taskId: run.task_id,
    namespace: run.namespace ?? '',
    // The same environment the worker adjuster gives a pilot of this run, payload included.
    env: transformerEnv(run.config ?? {}),
    ...(typeof run.config?.num_cores_per_worker === 'number' && {
      resources: {
        cores: run.config.num_cores_per_worker,
        ramPerCoreMb: run.config.num_ram_per_core ?? 2000,
      },
    }),
    log,
    refill,
  });
}
