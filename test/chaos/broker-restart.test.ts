import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, stopBroker } from '#local/activemq.ts';
import { loadOrCreateCredentials } from '#local/state.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import {
  type CliProcess,
  connectionsTo,
  eventually,
  isRunning,
  logRecords,
  onlyRun,
  pilotPids,
  runnerPid,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

const stfs = 40;
const slicesPerStf = 5;
/** What the issue asks: every client is back within this long of the broker taking connections again. */
const reconnectLimitS = 10;

/** A process of the local stack that holds broker connections, and how many. */
interface Client {
  readonly name: string;
  readonly pid: number;
  readonly connections: number;
  /** Its own log, where its broker connection says `[broker] connected to …`. */
  readonly log?: string;
}

describe('A run whose broker is stopped and started again in the middle', () => {
  let s: TestStack;
  let cli: CliProcess;
  let exit: { code: number; stdout: string; stderr: string };
  let records: RunRecords;
  let runId: string;
  let clients: Client[] = [];
  const t = { stop: 0, stopped: 0, up: 0 };
  const back = new Map<string, number>();

  beforeAll(async () => {
    s = await testStack('testbed-chaos-broker-');
    const dir = s.stack.stateDir;
    // Prepare: a real-time run (an STF every 0.5 s for 20 s), so the DAQ simulator in the CLI publishes
    // across the restart too; short DAQ state delays.
    const set = [
      'daq_state_machine.no_beam_not_ready_delay=0.5',
      'daq_state_machine.beam_not_ready_delay=0.5',
      'daq_state_machine.beam_ready_delay=0.5',
      'daq_state_machine.beam_not_ready_end_delay=0.5',
      'daq_state_machine.broadcast_delay=0.1',
      'simulation.stf_interval=0.5',
      `prompt_processing.slices_per_stf=${slicesPerStf}`,
      'prompt_processing.slice_processing_time=0.05',
    ].flatMap((kv) => ['--set', kv]);
    cli = spawnTestbed(
      [
        'run',
        'prompt_processing',
        '--realtime',
        '--stf-count',
        String(stfs),
        '--physics-period-count',
        '1',
        '--workers',
        '2',
        ...set,
      ],
      s.env,
    );
    const run = await eventually(
      'six STFs registered',
      async () => {
        const r = await onlyRun(s.stackEnv);
        return ((r?.registered_stfs as Set<number> | undefined)?.size ?? 0) >= 6 ? r : undefined;
      },
      90_000,
      200,
    );
    runId = String(run.run_id);
    clients = await eventually('every client connected', () => {
      const pilots = [...pilotPids(dir)];
      const runner = runnerPid(dir);
      if (pilots.length < 2 || runner === undefined) return undefined;
      const all: Client[] = [
        { name: 'runner (handlers)', pid: runner, connections: 1, log: join(dir, 'logs', 'runner.log') },
        ...pilots.map(([id, pid]) => ({
          name: `transformer ${id}`,
          pid,
          connections: 1,
          log: join(dir, 'logs', 'pilots', `${id}.log`),
        })),
        // The CLI: the DAQ simulator's connection and the monitor's.
        { name: 'testbed run (DAQ + monitor)', pid: cli.pid, connections: 2 },
      ];
      return all.every((c) => connectionsTo(c.pid, s.stack.stompPort) === c.connections) ? all : undefined;
    });

    // Act
    t.stop = Date.now();
    await stopBroker(dir);
    t.stopped = Date.now();
    await startBroker({
      stateDir: dir,
      stompPort: s.stack.stompPort,
      credentials: loadOrCreateCredentials(dir),
    });
    t.up = Date.now();
    await eventually(
      'every client reconnected',
      () => {
        for (const c of clients) {
          if (!back.has(c.name) && connectionsTo(c.pid, s.stack.stompPort) >= c.connections)
            back.set(c.name, Date.now());
        }
        return back.size === clients.length;
      },
      30_000,
      50,
    ).catch(() => {});
    exit = await cli.done;
    records = await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId);
  }, 300_000);

  afterAll(async () => {
    if (cli && isRunning(cli.child)) cli.child.kill('SIGKILL');
    await stopTestStack(s);
  });

  it('completes the run, with every STF registered and every slice recorded once', () => {
    // Prepare
    const expected = records.stfs.flatMap((f) =>
      Array.from({ length: Number(f.slice_count) }, (_, i) => `${f.filename}#${String(i).padStart(4, '0')}`),
    );
    // Assess
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(records.run).toMatchObject({ completion: 'completed', total_stf_files: stfs });
    expect(records.stfs.map((f) => Number(f.sequence)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: stfs }, (_, i) => i + 1),
    );
    expect(expected).toHaveLength(stfs * slicesPerStf);
    expect(records.slices.map((x) => String(x.slice_key)).sort()).toEqual(expected.sort());
    expect(records.slices.filter((x) => x.state !== 'done')).toEqual([]);
  });

  it(`has the runner, every transformer and the CLI connected again within ${reconnectLimitS} s`, () => {
    // Prepare
    const connectedAfterUp = (log: string | undefined) => {
      const line = logRecords(log ?? '').find(
        (r) =>
          String(r.message).includes('[broker] connected to') && Date.parse(String(r.timestamp)) >= t.stopped,
      );
      return line ? (Date.parse(String(line.timestamp)) - t.up) / 1000 : undefined;
    };
    // Act
    const rows = clients.map((c) => ({
      client: c.name,
      pid: c.pid,
      'TCP back after broker up (s)': back.has(c.name)
        ? ((back.get(c.name) as number) - t.up) / 1000
        : undefined,
      'log says connected after (s)': connectedAfterUp(c.log),
    }));
    console.log(
      `broker-restart: stopped in ${((t.stopped - t.stop) / 1000).toFixed(1)} s, ` +
        `started again in ${((t.up - t.stopped) / 1000).toFixed(1)} s`,
    );
    console.table(rows);
    // Assess
    expect(clients).toHaveLength(4);
    for (const row of rows) {
      expect(row['TCP back after broker up (s)'], row.client).toBeLessThanOrEqual(reconnectLimitS);
      if (row.client !== 'testbed run (DAQ + monitor)')
        expect(row['log says connected after (s)'], row.client).toBeLessThanOrEqual(reconnectLimitS);
    }
  });

  it('has messages flowing again after the restart: STFs published, slices processed and watched', () => {
    // Prepare
    const sinceUp = (v: unknown) => typeof v === 'string' && Date.parse(v) > t.up;
    const ticker = (line: { text: string }) => /slices (\d+)\//.exec(line.text);
    const watchedBefore = cli.lines.filter((l) => l.at < t.stop && ticker(l));
    const watchedAfter = cli.lines.filter((l) => l.at > t.up && ticker(l));
    const count = (l: { text: string } | undefined) => Number(l ? ticker(l)?.[1] : 0);
    // Act
    const stfsAfter = records.stfs.filter((f) => sinceUp(f.registered_at)).length;
    const slicesAfter = records.slices.filter((x) => sinceUp(x.recorded_at)).length;
    console.log(
      `broker-restart: after the restart ${stfsAfter} STFs registered, ${slicesAfter} slice results recorded; ` +
        `the CLI monitor counted ${count(watchedBefore.at(-1))} results before the stop, ` +
        `${count(watchedAfter.at(-1))} by its last progress line`,
    );
    // Assess
    expect(stfsAfter).toBeGreaterThan(0);
    expect(slicesAfter).toBeGreaterThan(0);
    expect(count(watchedAfter.at(-1))).toBeGreaterThan(count(watchedBefore.at(-1)));
  });

  it('keeps its pilots: none is taken for lost while the broker is away', () => {
    // Assess
    expect(records.pilots.map((p) => [p.attempts, p.state])).toEqual([
      [1, 'ended'],
      [1, 'ended'],
    ]);
  });
});
