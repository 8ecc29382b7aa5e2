import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryError } from '#query/bounds.ts';
import type { MonitorContext } from '#query/context.ts';
import { Monitor } from '#query/monitor.ts';
import { recordedSlices } from '#query/slices.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import {
  context,
  EXECUTION,
  FOREIGN_EXECUTION,
  FOREIGN_RUN,
  OUR_HOST,
  RUN,
  seedForeignRun,
  seedRun,
  TASK,
} from './seed.ts';

/** The QueryError a call fails with (status and message), or undefined. */
async function refusal(call: Promise<unknown>): Promise<{ status: number; message: string } | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    if (error instanceof QueryError) return { status: error.status, message: error.message };
    throw error;
  }
}

describe('the monitor query layer', () => {
  let dynamo: TestDynamo;
  let monitor: Monitor;
  beforeAll(async () => {
    dynamo = await startTestDynamo('query-');
    await seedRun(dynamo);
    monitor = new Monitor(context(dynamo));
  });
  afterAll(() => dynamo.stop());

  it('reports the workflow status of an execution: phase, STF count, events and errors', async () => {
    // Act
    const status = await monitor.execution({ execution_id: EXECUTION });
    // Assess
    expect(status).toMatchObject({
      execution_id: EXECUTION,
      run_id: RUN,
      status: 'running',
      phase: 'ended',
      stf_count: 3,
      total_stf_files: 3,
      task_id: TASK,
      messages: 10,
      duration_seconds: 19,
    });
    expect(status.events.map((e) => e.type)).toEqual(['run_imminent', 'start_run', 'end_run']);
    expect(status.errors.map((e) => e.source).sort()).toEqual(['message', 'slice']);
    expect(status.errors.find((e) => e.source === 'slice')?.error).toContain('checksum mismatch');
  });

  it('lists executions and runs, newest first, filtered by namespace', async () => {
    // Act
    const executions = await monitor.executions({});
    const runs = await monitor.runs({});
    const bob = await monitor.runs({ namespace: 'bob' });
    // Assess
    expect(executions.items.map((r) => r.execution_id)).toEqual([EXECUTION]);
    expect(runs.items.map((r) => r.run_id)).toEqual([RUN, '100499']);
    expect(bob.items.map((r) => [r.run_id, r.status])).toEqual([['100499', 'completed']]);
  });

  it('summarises a run: STFs, slices, pilots by state and delays', async () => {
    // Act
    const run = await monitor.run({ run_id: RUN });
    // Assess
    expect(run.stfs).toEqual({ registered: 3, sliced: 3, done: 2, announced: 3, expected: 3 });
    expect(run.slices).toEqual({ expected: 12, done: 8, failed: 1 });
    // Per pilot from the slices table (the pilot items' own counters say 6 and 3).
    expect(run.pilots).toEqual({
      total: 2,
      by_state: { running: 1, lost: 1 },
      items: [
        { pilot_id: `${RUN}-p01`, state: 'running', slices_done: 5, slices_failed: 0 },
        { pilot_id: `${RUN}-p02`, state: 'lost', slices_done: 3, slices_failed: 1 },
      ],
    });
    expect(run.messages).toMatchObject({ total: 10, refused: 1, by_type: { stf_gen: 3, stf_ready: 3 } });
    expect(run.incomplete_reasons).toEqual(['3 slices without a result']);
    expect(run.delay_ms.count).toBe(8);
  });

  it('reports a running pilot silent for three heartbeat intervals as lost', async () => {
    // Act
    const pilots = await monitor.pilots({ task_id: TASK });
    // Assess
    expect(
      pilots.items.map((p) => [p.pilot_id, p.state, p.recorded_state, p.silent_s, p.slices_done]),
    ).toEqual([
      [`${RUN}-p01`, 'running', undefined, 3, 5],
      [`${RUN}-p02`, 'lost', 'running', 40, 3],
    ]);
  });

  it('gives a full page of the pilots in a state judged here (lost), and no token when none follows', async () => {
    // Act
    const lost = await monitor.pilots({ run_id: RUN, state: 'lost', limit: 1 });
    // Assess
    expect(lost.items.map((p) => p.pilot_id)).toEqual([`${RUN}-p02`]);
    expect(lost.next).toBeUndefined();
  });

  it('pages through STF files and slices with the next token, each item once', async () => {
    // Act
    const first = await monitor.slices({ run_id: RUN, limit: 5 });
    const second = await monitor.slices({ run_id: RUN, limit: 5, next: first.next });
    // Assess
    expect(first.items).toHaveLength(5);
    expect(second.items).toHaveLength(4);
    expect(second.next).toBeUndefined();
    const keys = [...first.items, ...second.items].map((s) => `${s.filename}#${s.slice_id}`);
    expect(new Set(keys).size).toBe(9);
  });

  it('filters STF files and slices by status', async () => {
    // Act
    const processing = await monitor.stfFiles({ execution_id: EXECUTION, status: 'processing' });
    const done = await monitor.stfFiles({ run_id: RUN, status: 'done' });
    const failed = await monitor.slices({ run_id: RUN, status: 'failed' });
    const ofOne = await monitor.slices({ run_id: RUN, stf: `swf.${RUN}.000001.stf` });
    // Assess
    expect(processing.items.map((s) => s.sequence)).toEqual([3]);
    expect(done.items.map((s) => s.sequence)).toEqual([1, 2]);
    expect(failed.items.map((s) => [s.filename, s.slice_id])).toEqual([[`swf.${RUN}.000002.stf`, 3]]);
    expect(ofOne.items).toHaveLength(4);
  });

  it('lists messages by execution, type, sender and time range, newest first', async () => {
    // Act
    const all = await monitor.messages({ execution_id: EXECUTION });
    const stfGen = await monitor.messages({ run_id: RUN, msg_type: 'stf_gen', order: 'asc' });
    const fromData = await monitor.messages({ run_id: RUN, sender: 'data-handler' });
    const window = await monitor.messages({
      run_id: RUN,
      since: '2025-03-01T10:00:05Z',
      until: '2025-03-01 10:00:11',
    });
    // Assess
    expect(all.items).toHaveLength(10);
    expect(all.items[0]?.msg_type).toBe('end_run');
    expect(stfGen.items.map((m) => m.content)).toEqual([{ n: 5 }, { n: 10 }, { n: 15 }]);
    expect(fromData.items.map((m) => m.msg_type)).toEqual(['stf_ready', 'stf_ready', 'stf_ready']);
    expect(window.items.map((m) => m.msg_type)).toEqual(['stf_ready', 'stf_gen', 'stf_ready', 'stf_gen']);
  });

  it('gives delay statistics: percentiles, a histogram and slices done over time', async () => {
    // Act
    const delays = await monitor.delays({ run_id: RUN });
    // Assess
    expect(delays.slices_done).toBe(8);
    expect(delays.slices_failed).toBe(1);
    expect(delays.delay_ms.max).toBeCloseTo(800, 0);
    expect(delays.histogram.reduce((n, b) => n + b.count, 0)).toBe(8);
    expect(delays.done_over_time.at(-1)?.done).toBe(8);
  });

  it('lists the agents of a run: pilots by heartbeat and every sender', async () => {
    // Act
    const agents = await monitor.agents({ run_id: RUN });
    // Assess
    expect(agents.items.map((a) => [a.name, a.agent_type, a.status])).toEqual([
      [`${RUN}-p01`, 'transformer', 'OK'],
      [`${RUN}-p02`, 'transformer', 'ERROR'],
      ['daq_simulator-alice', 'daq_simulator', 'UNKNOWN'],
      ['data-handler', 'data', 'UNKNOWN'],
    ]);
  });

  it.each([
    [{ run_id: RUN, limit: 5000 }, 400, 'limit: 5000 is over the maximum of 1000'],
    [{ run_id: RUN, limit: 'many' }, 400, 'limit: expected a number'],
    [{ run_id: 'abc' }, 400, 'run_id: expected digits, got "abc"'],
    [{ run_id: RUN, colour: 'blue' }, 400, 'unknown parameter: colour'],
    [{ run_id: RUN, since: 'yesterday' }, 400, 'since: not a timestamp: "yesterday"'],
    [{ run_id: RUN, next: 'garbage' }, 400, 'next: not a token this query returned'],
    [{}, 400, 'give exactly one of run_id, execution_id, task_id'],
    [{ run_id: '999' }, 404, 'run 999 not found'],
    [{ execution_id: 'nobody-0001' }, 404, 'execution nobody-0001 not found'],
  ])('refuses messages(%j) with %i', async (input, status, message) => {
    // Act
    const refused = await refusal(monitor.messages(input));
    // Assess
    expect(refused?.status).toBe(status);
    expect(refused?.message).toContain(message);
  });

  it("refuses a token of another run's query", async () => {
    // Prepare
    const page = await monitor.slices({ run_id: RUN, limit: 1 });
    // Act
    const refused = await refusal(monitor.stfFiles({ run_id: '100499', next: page.next }));
    // Assess
    expect(refused?.status).toBe(400);
  });
});

describe('the monitor query layer on a run served by pilots the worker adjuster did not start', () => {
  let dynamo: TestDynamo;
  let c: MonitorContext;
  let monitor: Monitor;
  beforeAll(async () => {
    dynamo = await startTestDynamo('foreign-');
    await seedRun(dynamo);
    await seedForeignRun(dynamo);
    c = context(dynamo);
    monitor = new Monitor(c);
  });
  afterAll(() => dynamo.stop());

  it('summarises the hosts that reported results, per host, and says no pilot of ours was started', async () => {
    // Act
    const run = await monitor.run({ execution_id: FOREIGN_EXECUTION });
    // Assess
    expect(run.result_hosts).toEqual([
      { hostname: 'eic-node-1', done: 4, failed: 0 },
      { hostname: 'eic-node-2', done: 1, failed: 1 },
    ]);
    expect(run.pilots).toEqual({
      total: 0,
      by_state: {},
      note: 'no pilots started by the worker adjuster',
      items: [],
    });
    expect(run.slices).toEqual({ expected: 6, done: 5, failed: 1 });
  });

  it("gives our results' pilot beside their host", async () => {
    // Act
    const run = await monitor.run({ run_id: RUN });
    // Assess
    expect(run.result_hosts).toEqual([
      { hostname: OUR_HOST, pilot_id: `${RUN}-p01`, done: 5, failed: 0 },
      { hostname: OUR_HOST, pilot_id: `${RUN}-p02`, done: 3, failed: 1 },
    ]);
    expect(run.pilots.note).toBeUndefined();
  });

  it('counts for the progress bar what the summary counts: recorded results, not refused ones', async () => {
    // Act
    const [polled, run] = await Promise.all([
      recordedSlices(c, FOREIGN_RUN),
      monitor.run({ run_id: FOREIGN_RUN }),
    ]);
    // Assess
    expect(polled).toEqual({ done: run.slices.done, failed: run.slices.failed });
    expect(polled).toEqual({ done: 5, failed: 1 });
  });

  it('finds the latest run, which the CLI lists show when given none', async () => {
    // Act
    const latest = await monitor.latestRun();
    // Assess
    expect(latest?.run_id).toBe(FOREIGN_RUN);
  });
});
