import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleTransformer } from '../functions/bundling.ts';
import { brokerDaemon, brokerPid, ensureActiveMq, startBroker, stopBroker } from './activemq.ts';
import {
  createTables,
  dynaliteDaemon,
  dynalitePid,
  localDynamoClient,
  startDynalite,
  stopDynalite,
} from './dynalite.ts';
import { pilotBundle } from './pilot-launcher.ts';
import {
  assertPortFree,
  type Daemon,
  isAlive,
  portAccepts,
  readPid,
  startDaemon,
  stopDaemon,
  tail,
  waitFor,
} from './processes.ts';
import { credentialsFile, defaultStateDir, loadOrCreateCredentials, projectRoot } from './state.ts';
import {
  type Part,
  type PartName,
  type PartPhase,
  partNames,
  type RestartRecord,
  readSupervisorState,
  type SupervisorState,
  supervisorDaemon,
  supervisorStateFile,
} from './supervisor.ts';

/** Where the local stack lives and listens. */
export interface StackConfig {
  readonly stateDir: string;
  /** @default 61613 (TESTBED_STOMP_PORT) */
  readonly stompPort: number;
  /** @default 4567, dynalite's own default (TESTBED_DYNAMODB_PORT) */
  readonly dynamodbPort: number;
  /** The monitor's HTTP API and dashboard, on loopback. @default 8642 (TESTBED_API_PORT) */
  readonly apiPort: number;
}

export interface StackOverrides {
  stateDir?: string;
  stompPort?: number;
  dynamodbPort?: number;
  apiPort?: number;
}

const stackFile = (stateDir: string) => join(stateDir, 'stack.json');

/** Flags win, then the environment, then what the running stack recorded, then the defaults. */
export function resolveStack(o: StackOverrides = {}, env: NodeJS.ProcessEnv = process.env): StackConfig {
  const stateDir = o.stateDir ?? defaultStateDir();
  const saved: Partial<StackConfig> = existsSync(stackFile(stateDir))
    ? JSON.parse(readFileSync(stackFile(stateDir), 'utf8'))
    : {};
  const port = (flag: number | undefined, key: string, fallback: number) => {
    const v = flag ?? (env[key] ? Number(env[key]) : undefined) ?? fallback;
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${key}: not a TCP port: ${v}`);
    return v;
  };
  return {
    stateDir,
    stompPort: port(o.stompPort, 'TESTBED_STOMP_PORT', saved.stompPort ?? 61613),
    dynamodbPort: port(o.dynamodbPort, 'TESTBED_DYNAMODB_PORT', saved.dynamodbPort ?? 4567),
    apiPort: port(o.apiPort, 'TESTBED_API_PORT', saved.apiPort ?? 8642),
  };
}

/** The environment handlers, pilots and the CLI use to reach the local stack (no secret in it: a file name). */
export function stackEnvironment(s: StackConfig): Record<string, string> {
  return {
    TESTBED_STATE_DIR: s.stateDir,
    BROKER_URL: `stomp://127.0.0.1:${s.stompPort}`,
    BROKER_CREDENTIALS_FILE: credentialsFile(s.stateDir),
    DYNAMODB_ENDPOINT: `http://127.0.0.1:${s.dynamodbPort}`,
    TABLE_PREFIX: 'testbed-',
    STF_STORE: join(s.stateDir, 'stf'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

export const runnerDaemon = (stateDir: string): Daemon => ({
  name: 'runner',
  pidFile: join(stateDir, 'run', 'runner.pid'),
  logFile: join(stateDir, 'logs', 'runner.log'),
});

export const runnerReadyFile = (stateDir: string) => join(stateDir, 'run', 'runner.ready');

export const apiDaemon = (stateDir: string): Daemon => ({
  name: 'api',
  pidFile: join(stateDir, 'run', 'api.pid'),
  logFile: join(stateDir, 'logs', 'api.log'),
});

export const apiReadyFile = (stateDir: string) => join(stateDir, 'run', 'api.ready');

/**
 * Node running TypeScript through tsx, for the runner and the monitor API. With TESTBED_CPU_PROF_DIR set,
 * each writes a CPU profile there when it ends (Node refuses `--cpu-prof` in NODE_OPTIONS).
 */
export const tsNode = (entry: string, flags: readonly string[] = []): [string, string[]] => {
  const profileDir = process.env.TESTBED_CPU_PROF_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return [process.execPath, [...flags, ...profile, '--import', 'tsx', join(projectRoot, entry)]];
};

/**
 * The runner allocates fast (every message of every handler) and lives long: without a ceiling V8 lets its
 * heap grow by hundreds of MB before it collects (a 20,000-slice run peaked at 600 MB), which a 2-core
 * machine's broker JVM and pilots then lack. Its working set is a few batches: a ceiling costs a little CPU.
 */
const RUNNER_FLAGS = ['--max-old-space-size=192'];

/** The parts of the stack as the supervisor starts and watches them (local/supervisor-main.ts). */
export function stackParts(s: StackConfig): Part[] {
  return [
    {
      name: 'broker',
      daemon: brokerDaemon(s.stateDir),
      needs: [],
      // A restart after SIGKILL recovers KahaDB before STOMP answers: more time than a first start.
      start: () =>
        startBroker({
          stateDir: s.stateDir,
          stompPort: s.stompPort,
          credentials: loadOrCreateCredentials(s.stateDir),
          readyTimeoutMs: 90_000,
        }),
      healthy: () => portAccepts(s.stompPort),
    },
    {
      name: 'dynalite',
      daemon: dynaliteDaemon(s.stateDir),
      needs: [],
      start: async () => {
        const pid = await startDynalite(s.stateDir, s.dynamodbPort);
        // Its LevelDB keeps the tables across restarts; this only creates what is missing.
        const client = localDynamoClient(s.dynamodbPort, { requestTimeoutMs: 10_000 });
        try {
          await createTables(client, stackEnvironment(s));
        } finally {
          client.destroy();
        }
        return pid;
      },
      healthy: () => portAccepts(s.dynamodbPort),
    },
    {
      name: 'runner',
      daemon: runnerDaemon(s.stateDir),
      needs: ['broker', 'dynalite'],
      start: () => startRunner(s),
      healthy: async (pid) => readFileSync(runnerReadyFile(s.stateDir), 'utf8').startsWith(String(pid)),
    },
    {
      name: 'api',
      daemon: apiDaemon(s.stateDir),
      needs: [],
      start: () => startApi(s),
      healthy: () => portAccepts(s.apiPort),
    },
  ];
}

/** How long `testbed up` waits for the parts to serve (a JVM on a busy machine is slow). */
const UP_TIMEOUT_MS = 180_000;

/** What `up` found: whether it had to start anything, and the command whose start it waited for, if any. */
export interface UpOutcome {
  readonly started: boolean;
  /** The pid of another `testbed up` or `run` that was starting the stack meanwhile. */
  readonly waitedFor?: number;
}

export const upLockFile = (stateDir: string) => join(stateDir, 'run', 'up.lock');

/**
 * Brings the stack up under its supervisor: the supervisor starts broker, dynalite, runner and the monitor
 * API (adopting what already runs) and restarts what dies. With a supervisor running, nothing new is
 * started: parts it left down (or someone stopped) are tried again, and this waits until all serve.
 * Commands started together share one start: the first holds the state folder's lock, the others wait.
 */
export async function up(s: StackConfig, say: (line: string) => void = console.error): Promise<UpOutcome> {
  mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
  const waitedFor = await takeUpLock(s.stateDir, say);
  try {
    const started = await upLocked(s, say);
    return { started, ...(waitedFor !== undefined && { waitedFor }) };
  } finally {
    releaseUpLock(s.stateDir);
  }
}

/** A lock file whose writer died before writing its pid is stale after this long. */
const EMPTY_LOCK_STALE_MS = 5_000;

/**
 * Takes the state folder's `up` lock (a file created exclusively, holding our pid); while another live
 * process holds it, waits. A lock left by a dead process is taken over. Resolves with the pid waited for.
 */
async function takeUpLock(stateDir: string, say: (line: string) => void): Promise<number | undefined> {
  const file = upLockFile(stateDir);
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + UP_TIMEOUT_MS + 60_000;
  let waitedFor: number | undefined;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return waitedFor;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number;
    let age: number;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
      age = Date.now() - statSync(file).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    const written = Number.isInteger(holder) && holder > 0;
    if (written ? !isAlive(holder) : age > EMPTY_LOCK_STALE_MS) {
      // Renamed aside, not removed: of two takers of one stale lock, only one moves it.
      try {
        renameSync(file, `${file}.stale-${process.pid}`);
        rmSync(`${file}.stale-${process.pid}`, { force: true });
      } catch {
        // the other taker moved it
      }
      continue;
    }
    if (written && waitedFor === undefined) {
      waitedFor = holder;
      say(`waiting for testbed (pid ${holder}), which is starting the local stack…`);
    }
    if (Date.now() > deadline)
      throw new Error(`the local stack is still being started by pid ${holder}: try again later`);
    await sleep(200);
  }
}

function releaseUpLock(stateDir: string): void {
  const file = upLockFile(stateDir);
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/** `up` under the lock; true when something had to start (the supervisor, or parts it left down). */
async function upLocked(s: StackConfig, say: (line: string) => void): Promise<boolean> {
  loadOrCreateCredentials(s.stateDir);
  const sup = supervisorDaemon(s.stateDir);
  let supervisorPid = readPid(sup);
  const started = supervisorPid === undefined;
  let hups = 0;
  let again: PartName[] = [];
  if (supervisorPid === undefined) {
    // Checked here, before anything starts, so a conflict is named at once: broker and dynalite first.
    if (brokerPid(s.stateDir) === undefined) {
      ensureActiveMq(say);
      await assertPortFree(s.stompPort, 'broker STOMP', '--stomp-port or TESTBED_STOMP_PORT');
    }
    if (dynalitePid(s.stateDir) === undefined)
      await assertPortFree(s.dynamodbPort, 'dynalite', '--dynamodb-port or TESTBED_DYNAMODB_PORT');
    if (readPid(apiDaemon(s.stateDir)) === undefined)
      await assertPortFree(s.apiPort, 'monitor API', '--api-port or TESTBED_API_PORT');
    writeFileSync(
      stackFile(s.stateDir),
      JSON.stringify({ stompPort: s.stompPort, dynamodbPort: s.dynamodbPort, apiPort: s.apiPort }),
    );
    rmSync(supervisorStateFile(s.stateDir), { force: true });
    // Its command line names only the script; where the stack is comes in its environment, and the
    // broker password stays in the credentials file.
    const [node, args] = tsNode('local/supervisor-main.ts');
    supervisorPid = startDaemon(sup, node, args, {
      ...process.env,
      ...stackEnvironment(s),
      TESTBED_STOMP_PORT: String(s.stompPort),
      TESTBED_DYNAMODB_PORT: String(s.dynamodbPort),
      TESTBED_API_PORT: String(s.apiPort),
    }).pid as number;
  } else {
    const state = await supervisorState(s.stateDir, supervisorPid);
    hups = state.hups;
    again = partNames.filter((n) => ['left-down', 'stopped'].includes(state.parts[n].phase));
    if (again.length > 0) {
      for (const n of again) say(state.parts[n].message ?? `${n} is ${state.parts[n].phase}`);
      say(`starting ${again.join(', ')} again`);
      process.kill(supervisorPid, 'SIGHUP');
      hups += 1;
    }
  }
  // Built beside the rest, so the first run's pilots start at once. Only a head start: a launch builds
  // it when stale, so a failure here stops nothing.
  const bundling = bundleTransformer(pilotBundle(s.stateDir)).catch((error: Error) =>
    say(`transformer bundle not built yet (${error.message}): the first pilot launch builds it`),
  );
  try {
    await untilServing(s.stateDir, supervisorPid, hups);
  } catch (error) {
    if (started) await down(s);
    throw error;
  }
  await bundling;
  return started || again.length > 0;
}

/** The supervisor's state once it has written it. */
async function supervisorState(stateDir: string, pid: number): Promise<SupervisorState> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const state = readSupervisorState(stateDir);
    if (state !== undefined) return state;
    if (!isAlive(pid) || Date.now() > deadline)
      throw new Error(
        `the stack's supervisor did not start\n--- last lines of ${supervisorDaemon(stateDir).logFile} ---\n` +
          tail(supervisorDaemon(stateDir).logFile),
      );
    await sleep(50);
  }
}

/** Waits until every part serves; fails with the supervisor's message when one is left down. */
async function untilServing(stateDir: string, pid: number, hups: number): Promise<void> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  for (;;) {
    const state = await supervisorState(stateDir, pid);
    if (state.hups >= hups) {
      const parts = partNames.map((n) => [n, state.parts[n]] as const);
      const down = parts.filter(([, p]) => p.phase === 'left-down' || p.phase === 'stopped');
      if (down.length > 0)
        throw new Error(
          down
            .map(
              ([n, p]) =>
                `${p.message ?? `${n}: ${p.phase}`}\n--- last lines of ${p.log} ---\n${tail(p.log)}`,
            )
            .join('\n'),
        );
      if (parts.every(([, p]) => p.phase === 'running' && p.healthy)) return;
      if (Date.now() > deadline) {
        const waiting = parts.filter(([, p]) => !(p.phase === 'running' && p.healthy));
        throw new Error(
          `not serving within ${UP_TIMEOUT_MS / 1000} s: ${waiting.map(([n, p]) => `${n} (${p.message ?? p.phase})`).join(', ')}`,
        );
      }
    }
    await sleep(100);
  }
}

/** Starts the local Lambda runner; resolves with its pid once it said it is ready. */
export const startRunner = (s: StackConfig): Promise<number> =>
  startNodePart(s, {
    what: 'the local Lambda runner',
    daemon: runnerDaemon(s.stateDir),
    ready: runnerReadyFile(s.stateDir),
    entry: 'local/runner-main.ts',
    flags: RUNNER_FLAGS,
  });

/** Starts the monitor API; resolves with its pid once it listens. */
export const startApi = (s: StackConfig): Promise<number> =>
  startNodePart(s, {
    what: 'the monitor API',
    daemon: apiDaemon(s.stateDir),
    ready: apiReadyFile(s.stateDir),
    entry: 'local/api/main.ts',
    env: { TESTBED_API_PORT: String(s.apiPort) },
  });

/** A part of ours that runs on Node: started detached, ready once it writes its pid into its ready file. */
async function startNodePart(
  s: StackConfig,
  p: {
    what: string;
    daemon: Daemon;
    ready: string;
    entry: string;
    flags?: readonly string[];
    env?: Record<string, string>;
  },
): Promise<number> {
  mkdirSync(dirname(p.ready), { recursive: true });
  writeFileSync(p.ready, '');
  const [node, args] = tsNode(p.entry, p.flags);
  const child = startDaemon(p.daemon, node, args, { ...process.env, ...stackEnvironment(s), ...p.env });
  const pid = child.pid as number;
  await waitFor(p.what, async () => readFileSync(p.ready, 'utf8').startsWith(String(pid)), {
    alive: () => isAlive(pid),
    logFile: p.daemon.logFile,
    timeoutMs: 60_000,
  });
  return pid;
}

/**
 * Stops the supervisor first (so it restarts nothing of what follows), then the monitor API, pilots,
 * runner, broker and dynalite; leaves their data for the next `up`.
 */
export async function down(s: StackConfig): Promise<string[]> {
  const stopped: string[] = [];
  if (await stopDaemon(supervisorDaemon(s.stateDir), 5_000)) stopped.push('supervisor');
  if (await stopDaemon(apiDaemon(s.stateDir), 5_000)) stopped.push('api');
  // The runner first: its worker adjuster and watchdog would start pilots again for a run still open.
  if (await stopDaemon(runnerDaemon(s.stateDir))) stopped.push('runner');
  const pilotsDir = join(s.stateDir, 'run', 'pilots');
  if (existsSync(pilotsDir)) {
    for (const f of readdirSync(pilotsDir).filter((f) => f.endsWith('.pid'))) {
      const pilot: Daemon = { name: f, pidFile: join(pilotsDir, f), logFile: '' };
      if (await stopDaemon(pilot, 5_000)) stopped.push(`pilot ${f.replace(/\.pid$/, '')}`);
    }
  }
  const [b, d] = await Promise.all([stopBroker(s.stateDir), stopDynalite(s.stateDir)]);
  if (b) stopped.push('broker');
  if (d) stopped.push('dynalite');
  return stopped;
}

export interface ServiceStatus {
  readonly service: string;
  readonly pid?: number;
  readonly address?: string;
  readonly healthy: boolean;
  /** Its log file. */
  readonly detail?: string;
  /** What the supervisor does with it (running, restarting, waiting, left-down, stopped…); none without one. */
  readonly phase?: PartPhase;
  readonly restarts?: number;
  readonly last_restart?: RestartRecord;
  /** Why it waits or was left down, naming its log. */
  readonly message?: string;
}

/** Each part's health as seen from here, with what the supervisor says of it. */
export async function status(s: StackConfig): Promise<ServiceStatus[]> {
  const supervisor = readSupervisorState(s.stateDir);
  const brokerP = brokerPid(s.stateDir);
  const dynP = dynalitePid(s.stateDir);
  const runP = readPid(runnerDaemon(s.stateDir));
  const apiP = readPid(apiDaemon(s.stateDir));
  const tablesOk = async () => {
    if (dynP === undefined) return false;
    // Bounded: a stopped (SIGSTOP) dynalite takes the connection but never answers.
    const client = localDynamoClient(s.dynamodbPort, { requestTimeoutMs: 5_000, maxAttempts: 1 });
    try {
      const { ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
      const names = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
      return names.length > 0;
    } catch {
      return false;
    } finally {
      client.destroy();
    }
  };
  const supervised = (name: PartName) => {
    const p = supervisor?.parts[name];
    if (p === undefined) return {};
    return {
      phase: p.phase,
      restarts: p.restarts,
      ...(p.last_restart && { last_restart: p.last_restart }),
      ...(p.message && { message: p.message }),
    };
  };
  return [
    {
      service: 'broker',
      pid: brokerP,
      address: `stomp://127.0.0.1:${s.stompPort}`,
      healthy: brokerP !== undefined && (await portAccepts(s.stompPort)),
      detail: brokerDaemon(s.stateDir).logFile,
      ...supervised('broker'),
    },
    {
      service: 'dynalite',
      pid: dynP,
      address: `http://127.0.0.1:${s.dynamodbPort}`,
      healthy: await tablesOk(),
      detail: dynaliteDaemon(s.stateDir).logFile,
      ...supervised('dynalite'),
    },
    {
      service: 'runner',
      pid: runP,
      healthy: runP !== undefined,
      detail: runnerDaemon(s.stateDir).logFile,
      ...supervised('runner'),
    },
    {
      service: 'api',
      pid: apiP,
      address: `http://127.0.0.1:${s.apiPort}`,
      healthy: apiP !== undefined && (await portAccepts(s.apiPort)),
      detail: apiDaemon(s.stateDir).logFile,
      ...supervised('api'),
    },
  ];
}

/** The supervisor as `testbed status` shows it, beside the parts. */
export interface SupervisorStatus {
  readonly pid?: number;
  readonly running: boolean;
  readonly log: string;
  readonly message?: string;
}

export function supervisorStatus(s: StackConfig): SupervisorStatus {
  const d = supervisorDaemon(s.stateDir);
  const pid = readPid(d);
  return {
    ...(pid !== undefined && { pid }),
    running: pid !== undefined,
    log: d.logFile,
    ...(pid === undefined && {
      message: 'not running: nothing restarts a part that dies (testbed up starts it)',
    }),
  };
}
