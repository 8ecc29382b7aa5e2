import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PilotLauncher, PilotSpec, PilotStatus } from '#domain/pilot-launcher-port.ts';
import { bundleTransformer } from '../functions/bundling.ts';
import { type Daemon, readPid, startDaemon } from './processes.ts';

/**
 * The transformer bundle every local pilot runs, as the pilot image does: `testbed up` builds it, and a
 * launch rebuilds it when a source file changed since.
 */
export const pilotBundle = (stateDir: string): string => join(stateDir, 'pilot', 'transformer.mjs');

/** Where local pilots' payload commands write, a folder per run: `<state>/payload-output/<run_id>`. */
export const payloadOutputDir = (stateDir: string): string => join(stateDir, 'payload-output');

/** Pid file under `run/pilots/` (what `testbed down` stops) and log under `logs/pilots/`. */
export function pilotDaemon(stateDir: string, pilotId: string): Daemon {
  if (!/^[\w.-]+$/.test(pilotId))
    throw new Error(`pilot id ${JSON.stringify(pilotId)}: letters, digits, _ . - only`);
  return {
    name: `pilot ${pilotId}`,
    pidFile: join(stateDir, 'run', 'pilots', `${pilotId}.pid`),
    logFile: join(stateDir, 'logs', 'pilots', `${pilotId}.log`),
  };
}

/**
 * How a pilot process ended, beside its pid file (`run/pilots/<pilot>.exit`): the pilot writes it as it
 * exits (functions/transformer/main.ts), its launcher when it saw the process die by a signal or fail
 * without writing it. A pilot killed while nobody that launched it still runs leaves none: gone, no trace.
 */
export interface PilotExit {
  readonly pid: number;
  readonly attempt?: number;
  readonly code: number | null;
  readonly signal?: string | null;
  /** The transformer's reason to end (`idle_timeout`, `stop_transformer`, `sigterm`) or its error. */
  readonly reason?: string;
  readonly at?: string;
}

export const pilotExitFile = (pidFile: string): string => pidFile.replace(/\.pid$/, '.exit');

export function readPilotExit(file: string): PilotExit | undefined {
  try {
    const exit = JSON.parse(readFileSync(file, 'utf8')) as PilotExit;
    return typeof exit.pid === 'number' ? exit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a pilot needs beyond the stack's environment to read STFs in LocalStack mode (TESTBED_LOCALSTACK_URL
 * set): the DAQ simulator there announces `s3://` URLs of LocalStack's S3, so the pilot's S3 client goes to
 * LocalStack (unless AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL already name an endpoint) with LocalStack's
 * `test` credentials when none are set. Nothing otherwise: embedded pilots read local files.
 */
export function localStackPilotEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const url = env.TESTBED_LOCALSTACK_URL;
  if (!url) return {};
  return {
    ...(!env.AWS_ENDPOINT_URL_S3 && !env.AWS_ENDPOINT_URL && { AWS_ENDPOINT_URL_S3: url }),
    ...(!env.AWS_ACCESS_KEY_ID &&
      !env.AWS_PROFILE && { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }),
  };
}

export interface LocalPilotLauncherOptions {
  /** The local stack's state folder (TESTBED_STATE_DIR). */
  readonly stateDir: string;
  /** What the pilot inherits: the broker, table and STF store settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Pilots as detached child processes of whoever launches them (the local runner), outliving it. */
export function localPilotLauncher(o: LocalPilotLauncherOptions): PilotLauncher {
  const bundle = pilotBundle(o.stateDir);
  const inherited = o.env ?? process.env;
  const running = (pilotId: string): number | undefined => {
    const pid = readPid(pilotDaemon(o.stateDir, pilotId));
    return pid !== undefined && runs(pid, bundle) ? pid : undefined;
  };
  // Pilots started together wait for one build.
  let building: Promise<string> | undefined;
  return {
    async start(spec: PilotSpec) {
      // Idempotent: a pilot already running under this id is not started twice.
      const alive = running(spec.pilotId);
      if (alive !== undefined) return { pid: alive };
      building ??= bundleTransformer(bundle).finally(() => {
        building = undefined;
      });
      await building;
      const d = pilotDaemon(o.stateDir, spec.pilotId);
      // A new attempt: how the previous one ended no longer describes the pilot.
      const exitFile = pilotExitFile(d.pidFile);
      rmSync(exitFile, { force: true });
      const child = startDaemon(d, process.execPath, [bundle], {
        // Payload outputs beside the stack's other files, unless the environment names a place of its own.
        PAYLOAD_OUTPUT_DIR: payloadOutputDir(o.stateDir),
        ...inherited,
        ...localStackPilotEnvironment(inherited),
        TESTBED_STATE_DIR: o.stateDir,
        RUN_ID: spec.runId,
        PILOT_ID: spec.pilotId,
        TASK_ID: spec.taskId === undefined ? '' : String(spec.taskId),
        NAMESPACE: spec.namespace,
        PILOT_PID_FILE: d.pidFile,
        ...spec.env,
      });
      const pid = child.pid as number;
      const attempt = Number(spec.env.PILOT_ATTEMPT) || undefined;
      // A pilot killed by a signal, or dead before it could write its exit, says nothing itself.
      child.once('exit', (code, signal) => {
        if (code === 0 && signal === null) return;
        if (readPilotExit(exitFile)?.pid === pid) return;
        try {
          writeFileSync(
            exitFile,
            JSON.stringify({ pid, attempt, code, signal, at: new Date().toISOString() } satisfies PilotExit),
          );
        } catch {
          // The state folder is gone (a stack removed): nobody asks any more.
        }
      });
      return { pid };
    },
    async isAlive(_runId, pilotId) {
      return running(pilotId) !== undefined;
    },
    async status(_runId, pilotId, attempt): Promise<PilotStatus> {
      if (running(pilotId) !== undefined) return { state: 'running' };
      const exit = readPilotExit(pilotExitFile(pilotDaemon(o.stateDir, pilotId).pidFile));
      // Another attempt's exit (or none) tells nothing of this one.
      if (!exit || (attempt !== undefined && exit.attempt !== undefined && exit.attempt !== attempt))
        return { state: 'unknown' };
      const reason = exit.reason ? { reason: exit.reason } : {};
      if (exit.code === 0 && !exit.signal) return { state: 'exited', code: 0, ...reason };
      return {
        state: 'failed',
        ...(typeof exit.code === 'number' && { code: exit.code }),
        ...(exit.signal && { signal: exit.signal }),
        ...reason,
      };
    },
    async stop(_runId, pilotId) {
      // SIGTERM only: the transformer drains and ends on its own; `testbed down` is the hard stop.
      const pid = running(pilotId);
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
    },
  };
}

/** Guards against a stale pid file whose pid the system has since given to another program. */
function runs(pid: number, bundle: string): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    return readFileSync(cmdline, 'utf8').includes(bundle);
  } catch {
    return false;
  }
}
