import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PilotLauncher, PilotSpec } from '#domain/pilots.ts';
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

export interface LocalPilotLauncherOptions {
  /** The local stack's state folder (TESTBED_STATE_DIR). */
  readonly stateDir: string;
  /** What the pilot inherits: the broker, table and STF store settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Pilots as detached child processes of whoever launches them (the local runner), outliving it. */
export function localPilotLauncher(o: LocalPilotLauncherOptions): PilotLauncher {
  const bundle = pilotBundle(o.stateDir);
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
      const child = startDaemon(d, process.execPath, [bundle], {
        // Payload outputs beside the stack's other files, unless the environment names a place of its own.
        PAYLOAD_OUTPUT_DIR: payloadOutputDir(o.stateDir),
        ...(o.env ?? process.env),
        TESTBED_STATE_DIR: o.stateDir,
        RUN_ID: spec.runId,
        PILOT_ID: spec.pilotId,
        TASK_ID: spec.taskId === undefined ? '' : String(spec.taskId),
        NAMESPACE: spec.namespace,
        PILOT_PID_FILE: d.pidFile,
        ...spec.env,
      });
      return { pid: child.pid as number };
    },
    async isAlive(_runId, pilotId) {
      return running(pilotId) !== undefined;
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
