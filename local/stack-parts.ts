import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { brokerConnectHost, brokerDaemon, startBroker } from './activemq.ts';
import { createTables, dynaliteDaemon, localDynamoClient, startDynalite } from './dynalite.ts';
import { type Daemon, isAlive, portAccepts, startDaemon, waitFor } from './processes.ts';
import { type StackConfig, stackEnvironment, stackPartNames } from './stack.ts';
import { loadOrCreateCredentials, projectRoot } from './state.ts';
import type { Part } from './supervisor.ts';

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

/**
 * The parts of the stack as the supervisor starts and watches them (local/supervisor-main.ts): those of
 * `stackPartNames`, each needing only parts the stack has.
 */
export function stackParts(s: StackConfig): Part[] {
  const names = stackPartNames(s);
  const all: Part[] = [
    {
      name: 'broker',
      daemon: brokerDaemon(s.stateDir),
      needs: [],
      // A restart after SIGKILL recovers KahaDB before STOMP answers: more time than a first start.
      start: () =>
        startBroker({
          stateDir: s.stateDir,
          stompPort: s.stompPort,
          stompHost: s.brokerHost,
          credentials: loadOrCreateCredentials(s.stateDir),
          readyTimeoutMs: 90_000,
        }),
      healthy: () => portAccepts(s.stompPort, brokerConnectHost(s.brokerHost)),
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
  return all
    .filter((p) => names.includes(p.name))
    .map((p) => ({ ...p, needs: p.needs.filter((n) => names.includes(n)) }));
}

/** Starts the local Lambda runner; resolves with its pid once it said it is ready. */
const startRunner = (s: StackConfig): Promise<number> =>
  startNodePart(s, {
    what: 'the local Lambda runner',
    daemon: runnerDaemon(s.stateDir),
    ready: runnerReadyFile(s.stateDir),
    entry: 'local/runner-main.ts',
    flags: RUNNER_FLAGS,
  });

/** Starts the monitor API; resolves with its pid once it listens. */
const startApi = (s: StackConfig): Promise<number> =>
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
