import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type Logger } from '#log/logger.ts';
import { type Daemon, exitStatus, isAlive, pidInFile, readPid, signal } from './processes.ts';

// The local stack's supervisor: one small detached process that starts the parts of the stack (broker,
// dynalite unless DynamoDB is LocalStack's, runner, monitor API) or adopts those already running, watches
// them every second and starts again, with back-off, one that died. A part that keeps dying is left down
// with a message naming its log. `testbed status` and `testbed up` read what it sees from
// <state>/run/supervisor.json.

/** Every part a stack may have, in start order; which a stack has is `stackPartNames` (local/stack.ts). */
export const partNames = ['broker', 'dynalite', 'runner', 'api'] as const;
export type PartName = (typeof partNames)[number];

/** A part of the stack as the supervisor handles it. */
export interface Part {
  readonly name: PartName;
  readonly daemon: Daemon;
  /** Starts it and resolves with its pid once it serves; throws if it does not come up. */
  start(): Promise<number>;
  /** Whether the running part serves (its port answers, or it said it is ready). */
  healthy(pid: number): Promise<boolean>;
  /** Parts that must serve before this one is (re)started: the runner connects to both at start. */
  readonly needs: readonly PartName[];
}

export type PartPhase =
  /** Being started; `restarts` says whether for the first time. */
  | 'starting'
  | 'running'
  /** Died; started again once its back-off has passed. */
  | 'restarting'
  /** To be started once the parts it needs serve. */
  | 'waiting'
  /** Kept dying, or did not come up at its first start: not started again until `testbed up`. */
  | 'left-down'
  /** Stopped by someone else (`testbed down`, a test): its pid file was removed. Not restarted. */
  | 'stopped';

export interface RestartRecord {
  readonly at: string;
  readonly reason: string;
  readonly exit_code?: number;
  readonly signal?: string;
}

/** One part as `testbed status` shows it. */
export interface PartState {
  phase: PartPhase;
  pid?: number;
  healthy: boolean;
  /** Restarts since the supervisor started. */
  restarts: number;
  last_restart?: RestartRecord;
  /** What a person should know: why it waits, or why it was left down and where its log is. */
  message?: string;
  readonly log: string;
}

export interface SupervisorState {
  readonly pid: number;
  readonly started_at: string;
  updated_at: string;
  /** SIGHUPs handled (each starts the parts left down or stopped again): `testbed up` waits for its own. */
  hups: number;
  /** The parts it runs, those of the stack's mode only. */
  readonly parts: Partial<Record<PartName, PartState>>;
}

/** How patient the supervisor is; the environment may change it (tests shorten the back-off). */
export interface RestartPolicy {
  /** @default 1000 (TESTBED_SUPERVISOR_POLL_MS) */
  readonly pollMs: number;
  /** First back-off, doubled for each recent restart. @default 1000 (TESTBED_RESTART_BACKOFF_MS) */
  readonly backoffMs: number;
  /** @default 30000 (TESTBED_RESTART_BACKOFF_MAX_MS) */
  readonly maxBackoffMs: number;
  /** Restarts within `windowMs` after which a part that dies again is left down. @default 5 (TESTBED_RESTART_LIMIT) */
  readonly limit: number;
  /** @default 120000 (TESTBED_RESTART_WINDOW_S × 1000) */
  readonly windowMs: number;
}

export function restartPolicy(env: NodeJS.ProcessEnv = process.env): RestartPolicy {
  const n = (key: string, fallback: number) => {
    const v = env[key] === undefined || env[key] === '' ? fallback : Number(env[key]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${key}: not a non-negative number: ${env[key]}`);
    return v;
  };
  return {
    pollMs: n('TESTBED_SUPERVISOR_POLL_MS', 1000),
    backoffMs: n('TESTBED_RESTART_BACKOFF_MS', 1000),
    maxBackoffMs: n('TESTBED_RESTART_BACKOFF_MAX_MS', 30_000),
    limit: n('TESTBED_RESTART_LIMIT', 5),
    windowMs: n('TESTBED_RESTART_WINDOW_S', 120) * 1000,
  };
}

export const supervisorDaemon = (stateDir: string): Daemon => ({
  name: 'supervisor',
  pidFile: join(stateDir, 'run', 'supervisor.pid'),
  logFile: join(stateDir, 'logs', 'supervisor.log'),
});

export const supervisorStateFile = (stateDir: string): string => join(stateDir, 'run', 'supervisor.json');

/** What the running supervisor last wrote; undefined when none runs (a stale file says nothing). */
export function readSupervisorState(stateDir: string): SupervisorState | undefined {
  const pid = readPid(supervisorDaemon(stateDir));
  const file = supervisorStateFile(stateDir);
  if (pid === undefined || !existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as SupervisorState;
    return state.pid === pid ? state : undefined;
  } catch {
    return undefined; // being replaced: the next read has it
  }
}

/** The parts a supervisor runs, with their state, in start order. */
export const supervisedParts = (state: SupervisorState): [PartName, PartState][] =>
  partNames.flatMap((n) => {
    const p = state.parts[n];
    return p === undefined ? [] : [[n, p]];
  });

/**
 * Whether waiting for a part makes sense: undefined while the supervisor expects it back (it runs, starts,
 * or restarts), else the sentence saying why not (no supervisor: the stack is down; or it was left down).
 */
export function whyNotComingBack(stateDir: string, part: PartName): string | undefined {
  const state = readSupervisorState(stateDir);
  if (state === undefined) return 'the local stack is not up (no supervisor runs): testbed up';
  const p = state.parts[part];
  if (p === undefined) return `${part} is not one of the local stack's parts`;
  if (p.phase === 'left-down' || p.phase === 'stopped') return p.message ?? `${part} is ${p.phase}`;
  return undefined;
}

interface Tracked {
  readonly part: Part;
  readonly state: PartState;
  /** When restarts began, within the policy's window. */
  recent: number[];
  /** When a part in back-off may start again (epoch ms). */
  notBefore: number;
  /** The death that the coming restart answers. */
  pending?: RestartRecord;
}

/** Runs until SIGTERM or SIGINT; the parts keep running after it ends (`testbed down` stops them next). */
export async function supervise(
  stateDir: string,
  parts: readonly Part[],
  policy: RestartPolicy = restartPolicy(),
): Promise<void> {
  const log = createLogger({ service: 'supervisor' });
  // The part's own log says it was restarted too, where a person reading it looks.
  const partLog = (p: Part): Logger =>
    createLogger({ service: 'supervisor', part: p.name }, (line) => {
      try {
        appendFileSync(p.daemon.logFile, `${line}\n`);
      } catch {
        // its folder is gone: the supervisor's log has the line
      }
    });
  const state: SupervisorState = {
    pid: process.pid,
    started_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    hups: 0,
    parts: {},
  };
  const tracked = new Map<PartName, Tracked>();
  for (const part of parts) {
    const pid = readPid(part.daemon);
    const s: PartState = {
      phase: pid === undefined ? 'waiting' : 'running',
      healthy: false,
      restarts: 0,
      log: part.daemon.logFile,
      ...(pid !== undefined && { pid }),
    };
    if (pid !== undefined) log.info('adopted', { part: part.name, pid });
    state.parts[part.name] = s;
    tracked.set(part.name, { part, state: s, recent: [], notBefore: 0 });
  }
  const save = () => {
    state.updated_at = new Date().toISOString();
    const file = supervisorStateFile(stateDir);
    try {
      // Whole or not at all: readers never see half a file.
      writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      log.error('state not saved', { error: (error as Error).message });
    }
  };

  const serving = (name: PartName) => {
    const s = tracked.get(name)?.state;
    return s === undefined || (s.phase === 'running' && s.healthy);
  };

  const died = (t: Tracked, record: RestartRecord) => {
    const { part, state: s } = t;
    const now = Date.now();
    t.recent = t.recent.filter((at) => now - at < policy.windowMs);
    s.healthy = false;
    delete s.pid;
    if (t.recent.length >= policy.limit) {
      s.phase = 'left-down';
      s.message =
        `${part.name} keeps crashing: left down after ${t.recent.length} restarts within ` +
        `${Math.round(policy.windowMs / 1000)} s (last: ${record.reason}); see its log ${part.daemon.logFile}, ` +
        'then testbed up starts it again';
      log.error('left down', { part: part.name, reason: record.reason, log: part.daemon.logFile });
      partLog(part).error('left down by the supervisor', { reason: record.reason, why: s.message });
      return;
    }
    const delay = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** t.recent.length);
    s.phase = 'restarting';
    s.message = `${record.reason}: restarting in ${(delay / 1000).toFixed(1)} s`;
    t.notBefore = now + delay;
    t.pending = record;
    log.warn('died', { part: part.name, ...record, restart_in_ms: delay });
  };

  const start = (t: Tracked) => {
    const { part, state: s } = t;
    const restart = t.pending;
    t.pending = undefined;
    s.phase = 'starting';
    s.healthy = false;
    delete s.message;
    if (restart) {
      t.recent.push(Date.now());
      s.restarts += 1;
      s.last_restart = { ...restart, at: new Date().toISOString() };
      const fields = { restart: s.restarts, ...s.last_restart };
      log.warn('restarting', { part: part.name, ...fields });
      partLog(part).warn('restarted by the supervisor', fields);
    } else log.info('starting', { part: part.name });
    part.start().then(
      (pid) => {
        if (stopping) return;
        s.phase = 'running';
        s.pid = pid;
        s.healthy = true;
        if (restart) log.info('back', { part: part.name, pid });
        save();
      },
      (error: Error) => {
        if (stopping) return;
        // Whatever it left running half-started goes, so the next start finds its port free.
        const left = pidInFile(part.daemon);
        if (left !== undefined) signal(left, 'SIGKILL');
        const reason = `did not come up: ${error.message.split('\n')[0]}`;
        if (restart) died(t, { at: new Date().toISOString(), reason });
        else {
          s.phase = 'left-down';
          s.message = `${part.name} ${reason}; see its log ${part.daemon.logFile}`;
          log.error('did not come up', { part: part.name, error: error.message });
        }
        save();
      },
    );
  };

  const check = async (t: Tracked) => {
    const { part, state: s } = t;
    const inFile = pidInFile(part.daemon);
    switch (s.phase) {
      case 'running': {
        if (inFile !== s.pid) {
          // Its pid file was removed or rewritten: someone else stopped or replaced it on purpose.
          if (inFile !== undefined && isAlive(inFile)) {
            s.pid = inFile;
            log.info('adopted', { part: part.name, pid: inFile });
          } else {
            s.phase = 'stopped';
            s.healthy = false;
            s.message = `${part.name} was stopped (its pid file removed), not by the supervisor: testbed up starts it`;
            log.info('stopped by someone else', { part: part.name, pid: s.pid });
            delete s.pid;
            return;
          }
        }
        const pid = s.pid as number;
        if (!isAlive(pid)) {
          const exit = exitStatus(pid);
          const record: RestartRecord = {
            at: new Date().toISOString(),
            reason: exit?.signal
              ? `killed by ${exit.signal}`
              : exit
                ? `exited with code ${exit.code}`
                : `pid ${pid} ended (how is unknown: the supervisor did not start it)`,
            ...(exit?.code !== undefined && exit.code !== null && { exit_code: exit.code }),
            ...(exit?.signal && { signal: exit.signal }),
          };
          died(t, record);
          return;
        }
        s.healthy = await part.healthy(pid).catch(() => false);
        return;
      }
      case 'stopped':
      case 'left-down':
        // Started by someone else meanwhile (a test, a person): watched again.
        if (inFile !== undefined && isAlive(inFile)) {
          s.phase = 'running';
          s.pid = inFile;
          delete s.message;
          t.recent = [];
          log.info('adopted', { part: part.name, pid: inFile });
        }
        return;
      case 'restarting':
      case 'waiting': {
        if (Date.now() < t.notBefore) return;
        const missing = part.needs.filter((n) => !serving(n));
        if (missing.length === 0) start(t);
        else {
          s.phase = 'waiting';
          s.message = `waiting for ${missing.join(' and ')} before starting`;
        }
        return;
      }
      case 'starting':
        return;
    }
  };

  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      // Nothing more is started; what runs stays up for `testbed down` to stop.
      stopping = true;
      log.info('supervisor stopped', { signal: sig });
      process.exit(0);
    });
  process.on('SIGHUP', () => {
    for (const t of tracked.values()) {
      if (t.state.phase !== 'left-down' && t.state.phase !== 'stopped') continue;
      // As at a first start: one try, and a clear message if it fails.
      t.state.phase = 'waiting';
      t.recent = [];
      t.notBefore = 0;
      t.pending = undefined;
      delete t.state.message;
      log.info('starting again on request', { part: t.part.name });
    }
    state.hups += 1;
    save();
  });

  save();
  log.info('supervisor started', { pid: process.pid, parts: parts.map((p) => p.name), ...policy });
  for (;;) {
    for (const t of tracked.values())
      await check(t).catch((error: Error) =>
        log.error('check failed', { part: t.part.name, error: error.message }),
      );
    save();
    await sleep(policy.pollMs);
  }
}
