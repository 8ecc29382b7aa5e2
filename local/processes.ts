import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A background service of the local stack, known by its pid file. */
export interface Daemon {
  readonly name: string;
  readonly pidFile: string;
  readonly logFile: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(d: Daemon): number | undefined {
  const pid = pidInFile(d);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

/** Starts `command` detached from this process (it outlives the CLI), output appended to its log. */
export function startDaemon(
  d: Daemon,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
) {
  mkdirSync(dirname(d.logFile), { recursive: true });
  mkdirSync(dirname(d.pidFile), { recursive: true });
  const log = openSync(d.logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env });
  // The child has its own copy: a long-lived parent (the supervisor) would leak one per start.
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`${d.name}: could not start ${command}`);
  const pid = child.pid;
  child.once('exit', (code, signal) => exits.set(pid, { code, signal }));
  writeFileSync(d.pidFile, String(pid));
  return child;
}

/** How a daemon this process started ended (only its parent can know), by pid. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}
const exits = new Map<number, ExitStatus>();

/** How the daemon with this pid, started by this process, ended; undefined if it runs or is not ours. */
export function exitStatus(pid: number): ExitStatus | undefined {
  return exits.get(pid);
}

/** The pid a pid file names, whether or not that process still runs. */
export function pidInFile(d: Daemon): number | undefined {
  if (!existsSync(d.pidFile)) return undefined;
  const pid = Number(readFileSync(d.pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopDaemon(d: Daemon, graceMs = 10_000): Promise<boolean> {
  const pid = readPid(d);
  rmSync(d.pidFile, { force: true });
  if (pid === undefined) return false;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) signal(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(20);
  return true;
}

/** Sends a signal to a process that may have ended meanwhile. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Fails with a sentence naming the port and how to choose another when something already listens there. */
export async function assertPortFree(port: number, what: string, hint: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'EADDRINUSE'
            ? `port ${port} (${what}) is already in use: stop what holds it or choose another port with ${hint}`
            : `port ${port} (${what}): ${e.message}`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

/** Asks the OS for a free loopback port (tests and benchmarks run beside a user's stack). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` until it is true; the error names what did not come up and shows its log. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  {
    timeoutMs = 30_000,
    alive,
    logFile,
  }: { timeoutMs?: number; alive?: () => boolean; logFile?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (alive && !alive()) break;
    await sleep(50);
  }
  const log = logFile ? `\n--- last lines of ${logFile} ---\n${tail(logFile)}` : '';
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s${log}`);
}
