import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { freePort, isAlive } from '#local/processes.ts';
import { resolveStack, type StackConfig, stackEnvironment } from '#local/stack.ts';
import { credentialsFile, projectRoot } from '#local/state.ts';
import { destinations } from '#routes/destinations.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { testbed } from './cli.ts';
import { testDir } from './temp.ts';

/** A local stack of a test's own: a state folder under the test root and free ports, as the CLI reads them. */
export interface TestStack {
  /** TESTBED_STATE_DIR and the TESTBED_*_PORT variables, for `testbed` commands. */
  readonly env: Record<string, string>;
  readonly stack: StackConfig;
  /** What handlers, pilots and the CLI are given: broker URL, credentials file, DynamoDB endpoint… */
  readonly stackEnv: Record<string, string>;
}

export async function testStack(prefix: string): Promise<TestStack> {
  const env = {
    TESTBED_STATE_DIR: testDir(prefix),
    TESTBED_STOMP_PORT: String(await freePort()),
    TESTBED_DYNAMODB_PORT: String(await freePort()),
    TESTBED_API_PORT: String(await freePort()),
  };
  const stack = resolveStack({ stateDir: env.TESTBED_STATE_DIR }, env);
  return { env, stack, stackEnv: stackEnvironment(stack) };
}

/** One line a process printed, with when the test read it. */
export interface TimedLine {
  readonly at: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/** `testbed <args>` running in its own process, its output read line by line as it comes. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: TimedLine[];
  /** Resolves when the process exits, with its code and whole output. */
  readonly done: Promise<{ code: number; stdout: string; stderr: string }>;
}

export function spawnTestbed(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'testbed.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: TimedLine[] = [];
  const chunks = { stdout: [] as string[], stderr: [] as string[] };
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]?.setEncoding('utf8').on('data', (data: string) => {
      chunks[stream].push(data);
      const parts = (partial + data).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) lines.push({ at: Date.now(), stream, text });
    });
  }
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) =>
      resolve({ code: code ?? 1, stdout: chunks.stdout.join(''), stderr: chunks.stderr.join('') }),
    ),
  );
  return { child, pid: child.pid as number, lines, done };
}

/** `testbed down` for the test's stack, and the state folder's processes gone. */
export async function stopTestStack(s: TestStack | undefined): Promise<void> {
  if (!s) return;
  await testbed(['down'], s.env);
}

/** The pid in a pid file, if that process still runs. */
export function pidIn(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Running pilots of the local stack by pilot id, from `<state>/run/pilots/*.pid`. */
export function pilotPids(stateDir: string): Map<string, number> {
  const dir = join(stateDir, 'run', 'pilots');
  const pids = new Map<string, number>();
  if (!existsSync(dir)) return pids;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.pid'))) {
    const pid = pidIn(join(dir, f));
    if (pid !== undefined) pids.set(f.replace(/\.pid$/, ''), pid);
  }
  return pids;
}

export const runnerPid = (stateDir: string): number | undefined => pidIn(join(stateDir, 'run', 'runner.pid'));
export const brokerPidOf = (stateDir: string): number | undefined =>
  pidIn(join(stateDir, 'run', 'broker.pid'));

/** Resident memory of a process in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for pid ${pid}`);
  return kb / 1024;
}

/**
 * How many TCP connections process `pid` has established to `port` on loopback: its socket inodes
 * (/proc/<pid>/fd) matched against the kernel's table (/proc/net/tcp, state 01 = ESTABLISHED).
 */
export function connectionsTo(pid: number, port: number): number {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address rem_address st ... inode (field 9)
      if (f.length < 10) continue;
      if (f[2]?.endsWith(`:${portHex}`) && f[3] === '01' && inodes.has(f[9] as string)) n++;
    }
  }
  return n;
}

/** Polls until `check` gives a value (not undefined or false); the error says what was awaited. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The one run of a fresh test stack, once run_imminent has been handled. */
export async function onlyRun(
  stackEnv: Record<string, string>,
): Promise<Record<string, unknown> | undefined> {
  try {
    const { Items } = await documents(dynamoClient(stackEnv)).send(
      new ScanCommand({ TableName: tableNames(stackEnv).runs, ConsistentRead: true }),
    );
    return Items?.[0];
  } catch {
    // dynalite not up yet
    return undefined;
  }
}

/** JSON log lines of a log file (those that parse), oldest first. */
export function logRecords(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export const isRunning = (child: ChildProcess): boolean =>
  child.exitCode === null && child.signalCode === null;

/** A message seen on a topic of the test stack's broker, with when it arrived. */
export interface Seen {
  readonly at: number;
  readonly msg: { msg_type?: string; run_id?: string; content?: Record<string, unknown> } & Record<
    string,
    unknown
  >;
}

/**
 * The test's own view of the stack's results topic (slice_result and the transformer lifecycle), as any
 * monitoring agent has it: connects once the stack's broker takes connections, and reconnects as a client does.
 */
export async function watchResults(
  s: TestStack,
  log: (line: string) => void = () => {},
): Promise<{ broker: BrokerPort; seen: Seen[] }> {
  const file = credentialsFile(s.stack.stateDir);
  const broker = await eventually(
    'the stack broker',
    async () => {
      if (!existsSync(file)) return undefined;
      try {
        return await connectBroker({
          url: s.stackEnv.BROKER_URL as string,
          ...readCredentials(file),
          name: 'test-watch',
          log,
        });
      } catch {
        return undefined;
      }
    },
    60_000,
    250,
  );
  const seen: Seen[] = [];
  await broker.subscribe(destinations.results, { ack: 'auto' }, (m) => {
    try {
      seen.push({ at: Date.now(), msg: JSON.parse(m.body) });
    } catch {
      // not ours to judge
    }
  }).ready;
  return { broker, seen };
}
