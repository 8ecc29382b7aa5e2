import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleTransformer } from '../functions/bundling.ts';
import { brokerDaemon, brokerPid, ensureActiveMq, startBroker, stopBroker } from './activemq.ts';
import { createTables, dynalitePid, localDynamoClient, startDynalite, stopDynalite } from './dynalite.ts';
import { pilotBundle } from './pilot-launcher.ts';
import {
  assertPortFree,
  type Daemon,
  portAccepts,
  readPid,
  startDaemon,
  stopDaemon,
  waitFor,
} from './processes.ts';
import { credentialsFile, defaultStateDir, loadOrCreateCredentials, projectRoot } from './state.ts';

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
export const tsNode = (entry: string): [string, string[]] => {
  const profileDir = process.env.TESTBED_CPU_PROF_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return [process.execPath, [...profile, '--import', 'tsx', join(projectRoot, entry)]];
};

/** Brings broker, dynalite, runner and the monitor API up; what already runs is left alone. */
export async function up(s: StackConfig, say: (line: string) => void = console.error): Promise<void> {
  mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
  const credentials = loadOrCreateCredentials(s.stateDir);
  const starts: Promise<unknown>[] = [];
  const apiNeeded = readPid(apiDaemon(s.stateDir)) === undefined;
  if (brokerPid(s.stateDir) === undefined) {
    ensureActiveMq(say);
    await assertPortFree(s.stompPort, 'broker STOMP', '--stomp-port or TESTBED_STOMP_PORT');
    starts.push(startBroker({ stateDir: s.stateDir, stompPort: s.stompPort, credentials }));
  }
  if (dynalitePid(s.stateDir) === undefined) {
    await assertPortFree(s.dynamodbPort, 'dynalite', '--dynamodb-port or TESTBED_DYNAMODB_PORT');
    starts.push(
      startDynalite(s.stateDir, s.dynamodbPort).then(() =>
        createTables(localDynamoClient(s.dynamodbPort), stackEnvironment(s)),
      ),
    );
  }
  // Built beside the rest, so the first run's pilots start at once. Only a head start: a launch builds
  // it when stale, so a failure here stops nothing.
  const bundling = bundleTransformer(pilotBundle(s.stateDir)).catch((error: Error) =>
    say(`transformer bundle not built yet (${error.message}): the first pilot launch builds it`),
  );
  const started = Promise.all(starts);
  started.catch(() => {}); // awaited below
  try {
    // Checked after the broker's and dynalite's ports, whose messages name the usual conflict first.
    if (apiNeeded) await assertPortFree(s.apiPort, 'monitor API', '--api-port or TESTBED_API_PORT');
    await started;
  } catch (error) {
    await down(s);
    throw error;
  }
  writeFileSync(
    stackFile(s.stateDir),
    JSON.stringify({ stompPort: s.stompPort, dynamodbPort: s.dynamodbPort, apiPort: s.apiPort }),
  );
  if (readPid(runnerDaemon(s.stateDir)) === undefined) {
    const ready = runnerReadyFile(s.stateDir);
    writeFileSync(ready, '');
    const [node, args] = tsNode('local/runner-main.ts');
    const child = startDaemon(runnerDaemon(s.stateDir), node, args, {
      ...process.env,
      ...stackEnvironment(s),
    });
    const pid = child.pid as number;
    await waitFor(
      'the local Lambda runner',
      async () => readFileSync(ready, 'utf8').startsWith(String(pid)),
      {
        alive: () => readPid(runnerDaemon(s.stateDir)) !== undefined,
        logFile: runnerDaemon(s.stateDir).logFile,
      },
    );
  }
  if (apiNeeded) await startApi(s);
  await bundling;
}

async function startApi(s: StackConfig): Promise<void> {
  const ready = apiReadyFile(s.stateDir);
  writeFileSync(ready, '');
  const [node, args] = tsNode('local/api/main.ts');
  const child = startDaemon(apiDaemon(s.stateDir), node, args, {
    ...process.env,
    ...stackEnvironment(s),
    TESTBED_API_PORT: String(s.apiPort),
  });
  const pid = child.pid as number;
  await waitFor('the monitor API', async () => readFileSync(ready, 'utf8').startsWith(String(pid)), {
    alive: () => readPid(apiDaemon(s.stateDir)) !== undefined,
    logFile: apiDaemon(s.stateDir).logFile,
  });
}

/** Stops the monitor API, pilots, runner, broker and dynalite; leaves their data for the next `up`. */
export async function down(s: StackConfig): Promise<string[]> {
  const stopped: string[] = [];
  if (await stopDaemon(apiDaemon(s.stateDir), 5_000)) stopped.push('api');
  // The runner first: its worker adjuster and watchdog would start pilots again for a run still open.
  if (await stopDaemon(runnerDaemon(s.stateDir))) stopped.push('runner');
  const pilotsDir = join(s.stateDir, 'run', 'pilots');
  if (existsSync(pilotsDir)) {
    const { readdirSync } = await import('node:fs');
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
  readonly detail?: string;
}

export async function status(s: StackConfig): Promise<ServiceStatus[]> {
  const brokerP = brokerPid(s.stateDir);
  const dynP = dynalitePid(s.stateDir);
  const runP = readPid(runnerDaemon(s.stateDir));
  const apiP = readPid(apiDaemon(s.stateDir));
  const tablesOk = async () => {
    if (dynP === undefined) return false;
    try {
      const { ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
      const names =
        (await localDynamoClient(s.dynamodbPort).send(new ListTablesCommand({}))).TableNames ?? [];
      return names.length > 0;
    } catch {
      return false;
    }
  };
  return [
    {
      service: 'broker',
      pid: brokerP,
      address: `stomp://127.0.0.1:${s.stompPort}`,
      healthy: brokerP !== undefined && (await portAccepts(s.stompPort)),
      detail: brokerDaemon(s.stateDir).logFile,
    },
    {
      service: 'dynalite',
      pid: dynP,
      address: `http://127.0.0.1:${s.dynamodbPort}`,
      healthy: await tablesOk(),
    },
    {
      service: 'runner',
      pid: runP,
      healthy: runP !== undefined,
      detail: runnerDaemon(s.stateDir).logFile,
    },
    {
      service: 'api',
      pid: apiP,
      address: `http://127.0.0.1:${s.apiPort}`,
      healthy: apiP !== undefined && (await portAccepts(s.apiPort)),
      detail: apiDaemon(s.stateDir).logFile,
    },
  ];
}
