import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { credentialsFile, projectRoot } from '#local/state.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { destinations } from '#routes/destinations.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import {
  eventually,
  isRunning,
  type Seen,
  stopTestStack,
  type TestStack,
  testStack,
  watchResults,
} from '../support/local-stack.ts';
import { expectedSliceKeys, summaryRunId } from './reliability-stack.ts';

// Debian's python3 with python3-stomp, whatever python3 comes first on PATH.
const PYTHON = '/usr/bin/python3';
const TRANSFORMER = join(projectRoot, 'test', 'upstream', 'transformer.py');
const STFS = 3;
const SLICES = STFS * 5;

/** The upstream-like transformer (test/upstream/transformer.py) running as a process of the test's own. */
interface UpstreamTransformer {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

/**
 * Upstream's broker settings (the INI file PROMPT_TRANSFORM_CONF names) for the test stack: its three
 * roles on the one broker. Owner-only, as it holds the broker password.
 */
function promptConf(s: TestStack, dir: string): string {
  const { user, password } = readCredentials(credentialsFile(s.stack.stateDir));
  const role = (destination: string) =>
    JSON.stringify({
      destination,
      brokers: `127.0.0.1:${s.stack.stompPort}`,
      username: user,
      password,
      broker_timeout: 360,
      use_ssl: false,
      ssl_ca_certs: null,
      resolve_hostnames: false,
      // Upstream's liveness heartbeats go to each role's destination, the slice queue too (see the README):
      // none within a test, so that a transformer still waiting for its first slice cannot take its own.
      heartbeat_interval: 3600,
    });
  const file = join(dir, 'prompt.conf');
  const lines = [
    '[prompt]',
    `transformer_broker = ${role(destinations.slices)}`,
    `transformer_broadcast_broker = ${role(destinations.transformer)}`,
    `result_broker = ${role(destinations.results)}`,
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/** Started with a namespace and no run id: it locks onto the run of the first slice it gets, as upstream. */
function startUpstreamTransformer(conf: string, namespace: string, dir: string): UpstreamTransformer {
  mkdirSync(dir, { recursive: true });
  const child = spawn(PYTHON, [TRANSFORMER, '--namespace', namespace, '--idle_timeout', '180'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PROMPT_TRANSFORM_CONF: conf },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The global teardown kills what a pid file under the test root names, should this worker die first.
  writeFileSync(join(dir, 'upstream-transformer.pid'), String(child.pid));
  const output: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => output.push(d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => output.push(d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output, exited };
}

interface UpstreamRun {
  readonly result: CliResult;
  readonly runId: string;
  readonly records: RunRecords;
  readonly transformer: UpstreamTransformer;
  readonly transformerExit: number | null;
  /** The slice_result messages of the run as the results topic carried them. */
  readonly published: Seen['msg'][];
}

/** A run of `prompt_processing` whose only pilot is the upstream-like transformer (`--workers 0`). */
async function runWithUpstreamTransformer(
  s: TestStack,
  conf: string,
  seen: Seen[],
  namespace: string,
  settings: string[],
): Promise<UpstreamRun> {
  const transformer = startUpstreamTransformer(conf, namespace, join(s.stack.stateDir, namespace));
  const result = await testbed(
    [
      'run',
      'prompt_processing',
      '--no-realtime',
      '--workers',
      '0',
      '--namespace',
      namespace,
      '--stf-count',
      String(STFS),
      '--physics-period-count',
      '1',
      ...settings.flatMap((setting) => ['--set', setting]),
    ],
    s.env,
    180_000,
  );
  const runId = summaryRunId(result.stdout);
  // stop_transformer of its run, then 5 s without a slice: it ends.
  const transformerExit = await Promise.race([
    transformer.exited,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 60_000)),
  ]);
  const records = await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId);
  const published = seen
    .map((m) => m.msg)
    .filter((m) => m.msg_type === 'slice_result' && String(m.run_id) === runId);
  return { result, runId, records, transformer, transformerExit, published };
}

const sliceKeys = (records: RunRecords) => records.slices.map((x) => String(x.slice_key)).sort();
const payloadResult = (m: Seen['msg']) => m.content?.result as Record<string, unknown> | undefined;

describe("Upstream's transformer as the only pilot of a run", () => {
  let s: TestStack;
  let conf: string;
  let watch: { broker: BrokerPort; seen: Seen[] };
  let hostname: string;
  const transformers: UpstreamTransformer[] = [];

  beforeAll(async () => {
    s = await testStack('testbed-upstream-transformer-');
    const up = await testbed(['up'], s.env);
    if (up.code !== 0) throw new Error(up.stderr);
    conf = promptConf(s, s.stack.stateDir);
    watch = await watchResults(s);
    // What upstream puts in a result's hostname.
    hostname = execFileSync(PYTHON, ['-c', 'import socket; print(socket.getfqdn())'], {
      encoding: 'utf8',
    }).trim();
  }, 120_000);

  afterAll(async () => {
    for (const t of transformers) if (isRunning(t.child)) t.child.kill('SIGKILL');
    await watch?.broker.close();
    await stopTestStack(s);
  });

  describe('with slices of file_type "fake"', () => {
    let run: UpstreamRun;

    beforeAll(async () => {
      // Prepare, Act: every slice carries file_type "fake", which upstream's payload answers by waiting.
      run = await runWithUpstreamTransformer(s, conf, watch.seen, 'upstream-fake', [
        'prompt_processing.file_type=fake',
        'prompt_processing.slice_processing_time=0.05',
      ]);
      transformers.push(run.transformer);
    }, 300_000);

    it('completes the run with every slice done and no pilot of its own', () => {
      // Assess
      expect(run.result.code, run.result.stderr + run.transformer.output.join('')).toBe(0);
      expect(run.result.stdout).toContain(`Run ${run.runId} Summary: completed`);
      expect(run.result.stdout).toContain(`Slices: ${SLICES} done, 0 failed, of ${SLICES}`);
      expect(run.records.pilots).toEqual([]);
    });

    it('records exactly one result for every slice, though the transformer published more', () => {
      // Assess
      expect(sliceKeys(run.records)).toEqual(expectedSliceKeys(run.records.stfs));
      expect(run.records.slices.every((x) => x.state === 'done')).toBe(true);
      expect(run.published.length).toBeGreaterThanOrEqual(SLICES);
    });

    it('matches results that name their slice only in the echo of its content', () => {
      // Prepare
      const echoes = run.published.map((m) => payloadResult(m)?.result as Record<string, unknown>);
      // Assess
      for (const m of run.published) {
        expect(m.content).not.toHaveProperty('filename');
        expect(m.content).not.toHaveProperty('slice_id');
        expect(payloadResult(m)).toMatchObject({ state: true, error: null });
      }
      expect(echoes.every((e) => e.state === 'processed' && e.processed === true)).toBe(true);
      expect(echoes.every((e) => e.file_type === 'fake')).toBe(true);
    });

    it('shows in the summary the host that reported the results', () => {
      // Assess
      expect(new Set(run.records.slices.map((x) => x.hostname))).toEqual(new Set([hostname]));
      expect(
        run.result.stdout.split('\n').some((l) => l.includes(hostname) && l.includes(`${SLICES} done`)),
        run.result.stdout,
      ).toBe(true);
    });

    it('stops the transformer by the stop_transformer of the run it locked onto', () => {
      // Assess
      const log = run.transformer.output.join('');
      expect(run.transformerExit).toBe(0);
      expect(log).toContain(`locking onto run_id=${run.runId}`);
      expect(log).toContain(`Received stop_transformer for run_id=${run.runId}`);
    });
  });

  describe('with slices of the default file_type, which upstream reconstructs', () => {
    let run: UpstreamRun;

    beforeAll(async () => {
      // Prepare, Act: file_type "stf" takes upstream's reconstruction branch, which fails here (no singularity).
      run = await runWithUpstreamTransformer(s, conf, watch.seen, 'upstream-reco', [
        'prompt_processing.slice_processing_time=0.05',
      ]);
      transformers.push(run.transformer);
    }, 300_000);

    it('completes the run with every slice failed', () => {
      // Assess
      expect(run.result.code, run.result.stderr + run.transformer.output.join('')).toBe(0);
      expect(run.result.stdout).toContain(`Run ${run.runId} Summary: completed`);
      expect(run.result.stdout).toContain(`Slices: 0 done, ${SLICES} failed, of ${SLICES}`);
    });

    it('records one failure for every slice, with the reconstruction error', () => {
      // Assess
      expect(sliceKeys(run.records)).toEqual(expectedSliceKeys(run.records.stfs));
      for (const slice of run.records.slices) {
        expect(slice.state).toBe('failed');
        expect(String(slice.error)).toMatch(/^eicrecon exited with returncode=127\. .*singularity/s);
      }
    });

    it('matches failures to their slices by requested_at alone', () => {
      // Prepare
      const requested = new Set(run.published.map((m) => String(m.content?.requested_at)));
      const recorded = run.records.slices.map((x) => String(x.requested_at));
      // Assess
      for (const m of run.published) {
        expect(Object.keys(m.content ?? {}).sort()).toEqual(
          [
            'harvester_id',
            'hostname',
            'panda_id',
            'panda_server_url',
            'panda_task_id',
            'processed_at',
            'processing_start_at',
            'requested_at',
            'result',
            'state',
          ].sort(),
        );
        expect(payloadResult(m)).toMatchObject({ state: false, result: null });
      }
      expect(new Set(recorded).size).toBe(SLICES);
      expect(recorded.every((r) => requested.has(r))).toBe(true);
    });
  });

  it('keeps the broker password out of the transformer output', async () => {
    // Prepare
    const { password } = readCredentials(credentialsFile(s.stack.stateDir));
    // Act
    await eventually('both transformers ended', () => transformers.every((t) => !isRunning(t.child)), 10_000);
    // Assess
    expect(transformers).toHaveLength(2);
    for (const t of transformers) expect(t.output.join('')).not.toContain(password);
  });
});
