import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotLauncher } from '#domain/pilot-launcher-port.ts';
import { localPilotLauncher, pilotDaemon } from '#local/pilot-launcher.ts';
import { stopDaemon } from '#local/processes.ts';
import { credentialsFile } from '#local/state.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { testDir } from '../../support/temp.ts';
import { eventually } from './support.ts';

const namespace = 'exit-test';

describe('Local pilot launcher: how a pilot ended', () => {
  let broker: TestBroker;
  let stateDir: string;
  let launcher: PilotLauncher;
  let nextRun = 945001;

  const start = async (runId: string, env: Record<string, string> = {}, attempt = 1) => {
    const pilotId = `${runId}-p01`;
    const { pid } = await launcher.start({
      runId,
      pilotId,
      namespace,
      env: {
        SLICE_PROCESSING_TIME: '0',
        HEARTBEAT_INTERVAL: '5',
        IDLE_TIMEOUT: '120',
        PILOT_ATTEMPT: String(attempt),
        ...env,
      },
    });
    await eventually(`${pilotId} running`, async () => (await launcher.isAlive(runId, pilotId)) || undefined);
    return { pilotId, pid: pid as number };
  };
  const ended = (runId: string, pilotId: string, attempt?: number) =>
    eventually(`${pilotId} ended`, async () => {
      const s = await launcher.status?.(runId, pilotId, attempt);
      return s?.state === 'running' ? undefined : s;
    });

  beforeAll(async () => {
    broker = await startTestBroker();
    stateDir = testDir('testbed-exit-');
    launcher = localPilotLauncher({
      stateDir,
      env: {
        ...process.env,
        BROKER_URL: broker.url,
        BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
      },
    });
  });
  afterAll(async () => {
    const pidDir = join(stateDir, 'run', 'pilots');
    const pidFiles = existsSync(pidDir) ? readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
    await Promise.all(
      pidFiles.map((f) => stopDaemon({ name: f, pidFile: join(pidDir, f), logFile: '' }, 2_000)),
    );
    await broker?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('says a pilot that idled out exited with code 0 and why', async () => {
    // Prepare
    const runId = String(nextRun++);
    const { pilotId } = await start(runId, { IDLE_TIMEOUT: '1' });

    // Act
    const status = await ended(runId, pilotId, 1);

    // Assess
    expect(status).toEqual({ state: 'exited', code: 0, reason: 'idle_timeout' });
  });

  it('says a pilot asked to stop (SIGTERM) drained and exited with code 0', async () => {
    // Prepare
    const runId = String(nextRun++);
    const { pilotId } = await start(runId);
    await eventually(
      'its transformer started',
      () =>
        readFileSync(pilotDaemon(stateDir, pilotId).logFile, 'utf8').includes('transformer started') ||
        undefined,
    );
    const running = await launcher.status?.(runId, pilotId, 1);

    // Act
    await launcher.stop(runId, pilotId);
    const status = await ended(runId, pilotId, 1);

    // Assess
    expect(running).toEqual({ state: 'running' });
    expect(status).toEqual({ state: 'exited', code: 0, reason: 'sigterm' });
  });

  it('says a pilot killed with SIGKILL failed by that signal', async () => {
    // Prepare
    const runId = String(nextRun++);
    const { pilotId, pid } = await start(runId);

    // Act
    process.kill(pid, 'SIGKILL');
    // Its launcher writes the exit once it has reaped the process, a moment after it is gone.
    const status = await eventually('its exit written', async () => {
      const s = await launcher.status?.(runId, pilotId, 1);
      return s?.state === 'failed' ? s : undefined;
    });

    // Assess
    expect(status).toEqual({ state: 'failed', signal: 'SIGKILL' });
  });

  it('says a pilot that could not start failed with its exit code and error', async () => {
    // Prepare
    const runId = String(nextRun++);
    const missing = join(stateDir, 'no-such-credentials.json');

    const pilotId = `${runId}-p01`;

    // Act
    await launcher.start({
      runId,
      pilotId,
      namespace,
      env: { PILOT_ATTEMPT: '1', BROKER_CREDENTIALS_FILE: missing },
    });
    const status = await ended(runId, pilotId, 1);

    // Assess
    expect(status).toMatchObject({ state: 'failed', code: 1 });
    expect((status as { reason?: string }).reason).toContain('no-such-credentials.json');
  });

  it('forgets the previous attempt once a new one starts, and knows nothing of a pilot never started', async () => {
    // Prepare
    const runId = String(nextRun++);
    const first = await start(runId, { IDLE_TIMEOUT: '1' });
    await ended(runId, first.pilotId, 1);

    // Act
    await start(runId, { IDLE_TIMEOUT: '1' }, 2);
    const secondAttempt = await ended(runId, first.pilotId, 2);
    const firstAttempt = await launcher.status?.(runId, first.pilotId, 1);
    const never = await launcher.status?.(runId, `${runId}-p09`);

    // Assess
    expect(firstAttempt).toEqual({ state: 'unknown' });
    expect(secondAttempt).toEqual({ state: 'exited', code: 0, reason: 'idle_timeout' });
    expect(never).toEqual({ state: 'unknown' });
  });
});
