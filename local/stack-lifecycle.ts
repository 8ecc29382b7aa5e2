import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleTransformer } from '../functions/bundling.ts';
import { brokerPid, ensureActiveMq, stopBroker } from './activemq.ts';
import { dynalitePid, stopDynalite } from './dynalite.ts';
import { pilotBundle } from './pilot-launcher.ts';
import { assertPortFree, type Daemon, isAlive, readPid, startDaemon, stopDaemon, tail } from './processes.ts';
import { recordStack, type StackConfig, stackEnvironment, stackPartNames } from './stack.ts';
import { apiDaemon, runnerDaemon, tsNode } from './stack-parts.ts';
import { loadOrCreateCredentials } from './state.ts';
import {
  type PartName,
  readSupervisorState,
  type SupervisorState,
  supervisedParts,
  supervisorDaemon,
  supervisorStateFile,
} from './supervisor.ts';
import { releaseUpLock, takeUpLock } from './up-lock.ts';

/** How long `testbed up` waits for the parts to serve (a JVM on a busy machine is slow). */
const UP_TIMEOUT_MS = 180_000;

/** What `up` found: whether it had to start anything, and the command whose start it waited for, if any. */
export interface UpOutcome {
  readonly started: boolean;
  /** The pid of another `testbed up` or `run` that was starting the stack meanwhile. */
  readonly waitedFor?: number;
}

/**
 * Brings the stack up under its supervisor: the supervisor starts the stack's parts (`stackPartNames`:
 * broker, dynalite unless DynamoDB is LocalStack's, runner and the monitor API), adopting what already
 * runs, and restarts what dies. With a supervisor running, nothing new is started: parts it left down (or
 * someone stopped) are tried again, and this waits until all serve.
 * Commands started together share one start: the first holds the state folder's lock, the others wait.
 */
export async function up(s: StackConfig, say: (line: string) => void = console.error): Promise<UpOutcome> {
  mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
  const waitedFor = await takeUpLock(s.stateDir, say, UP_TIMEOUT_MS + 60_000);
  try {
    const started = await upLocked(s, say);
    return { started, ...(waitedFor !== undefined && { waitedFor }) };
  } finally {
    releaseUpLock(s.stateDir);
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
    if (stackPartNames(s).includes('dynalite') && dynalitePid(s.stateDir) === undefined)
      await assertPortFree(s.dynamodbPort, 'dynalite', '--dynamodb-port or TESTBED_DYNAMODB_PORT');
    if (readPid(apiDaemon(s.stateDir)) === undefined)
      await assertPortFree(s.apiPort, 'monitor API', '--api-port or TESTBED_API_PORT');
    recordStack(s);
    rmSync(supervisorStateFile(s.stateDir), { force: true });
    // Its command line names only the script; where the stack is comes in its environment, and the
    // broker password stays in the credentials file.
    const [node, args] = tsNode('local/supervisor-main.ts');
    supervisorPid = startDaemon(sup, node, args, {
      ...process.env,
      ...stackEnvironment(s),
      TESTBED_STOMP_PORT: String(s.stompPort),
      TESTBED_BROKER_HOST: s.brokerHost,
      TESTBED_DYNAMODB_PORT: String(s.dynamodbPort),
      TESTBED_API_PORT: String(s.apiPort),
    }).pid as number;
  } else {
    const state = await supervisorState(s.stateDir, supervisorPid);
    hups = state.hups;
    const left = supervisedParts(state).filter(([, p]) => ['left-down', 'stopped'].includes(p.phase));
    again = left.map(([n]) => n);
    if (again.length > 0) {
      for (const [n, p] of left) say(p.message ?? `${n} is ${p.phase}`);
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
      const parts = supervisedParts(state);
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

/**
 * Stops the supervisor first (so it restarts nothing of what follows), then the monitor API, pilots,
 * runner, broker and dynalite, those that run (a LocalStack stack has no dynalite, an earlier `up` may have
 * left one); leaves their data for the next `up`.
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
