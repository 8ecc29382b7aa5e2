import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PilotLauncher, PilotSpec } from '#domain/pilots.ts';
import { type Daemon, readPid, startDaemon } from './processes.ts';
import { projectRoot } from './state.ts';

/** The transformer entry every local pilot runs. */
export const transformerEntry = join(projectRoot, 'functions', 'transformer', 'main.ts');
// Resolved here rather than by name so a pilot starts whatever the working directory of its parent.
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

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
  const running = (pilotId: string): number | undefined => {
    const pid = readPid(pilotDaemon(o.stateDir, pilotId));
    return pid !== undefined && isTransformer(pid) ? pid : undefined;
  };
  return {
    async start(spec: PilotSpec) {
      // Idempotent: a pilot already running under this id is not started twice.
      const alive = running(spec.pilotId);
      if (alive !== undefined) return { pid: alive };
      const d = pilotDaemon(o.stateDir, spec.pilotId);
      const child = startDaemon(d, process.execPath, ['--import', tsxLoader, transformerEntry], {
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
function isTransformer(pid: number): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    return readFileSync(cmdline, 'utf8').includes(join('functions', 'transformer', 'main.ts'));
  } catch {
    return false;
  }
}
