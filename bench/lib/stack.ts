import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brokerPid } from '#local/activemq.ts';
import { dynalitePid } from '#local/dynalite.ts';
import { freePort, readPid } from '#local/processes.ts';
import { resolveStack, stackEnvironment } from '#local/stack.ts';
import { runnerDaemon } from '#local/stack-parts.ts';
import { projectRoot } from '#local/state.ts';
import { testDir } from '../../test/support/temp.ts';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** A local stack of our own (`testbed up`) in a temporary state folder on free ports. */
export interface BenchStack {
  /** TESTBED_STATE_DIR and the three ports, for the CLI. */
  readonly cliEnv: Record<string, string>;
  /** BROKER_URL, BROKER_CREDENTIALS_FILE, DYNAMODB_ENDPOINT, TABLE_PREFIX, STF_STORE... */
  readonly env: Record<string, string>;
  readonly stateDir: string;
  /** The wall time of the `testbed up` that started it, ms. */
  readonly upMs: number;
  pids(): { broker?: number; dynalite?: number; runner?: number };
  testbed(args: string[], timeoutMs?: number): Promise<CliRun>;
  /** `testbed down` and the state folder removed. */
  destroy(): Promise<void>;
}

/** `testbed <args>` as a user runs it, in its own process. */
export async function testbed(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<CliRun> {
  const t0 = performance.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(projectRoot, 'bin', 'testbed.js'), ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr, ms: performance.now() - t0 };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    const code = typeof e.code === 'number' ? e.code : 1;
    return { code, stdout: e.stdout ?? '', stderr: e.stderr ?? '', ms: performance.now() - t0 };
  }
}

/**
 * A cold `testbed up`: fresh state folder, nothing running, ActiveMQ installed. With `profileDir`, the
 * runner writes its CPU profile there when the stack goes down.
 */
export async function upStack(profileDir?: string): Promise<BenchStack> {
  const stateDir = testDir('testbed-bench-');
  const cliEnv = {
    ...(profileDir && { TESTBED_CPU_PROF_DIR: profileDir }),
    TESTBED_STATE_DIR: stateDir,
    TESTBED_STOMP_PORT: String(await freePort()),
    TESTBED_DYNAMODB_PORT: String(await freePort()),
    TESTBED_API_PORT: String(await freePort()),
  };
  const up = await testbed(['up'], cliEnv);
  const stack: BenchStack = {
    cliEnv,
    env: stackEnvironment(resolveStack({ stateDir }, cliEnv)),
    stateDir,
    upMs: up.ms,
    pids: () => ({
      broker: brokerPid(stateDir),
      dynalite: dynalitePid(stateDir),
      runner: readPid(runnerDaemon(stateDir)),
    }),
    testbed: (args, timeoutMs) => testbed(args, cliEnv, timeoutMs),
    async destroy() {
      await testbed(['down'], cliEnv);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  if (up.code !== 0) {
    await stack.destroy();
    throw new Error(`testbed up failed (${up.code}): ${up.stderr.slice(-2000)}`);
  }
  return stack;
}
