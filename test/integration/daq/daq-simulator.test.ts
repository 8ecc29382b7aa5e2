import { rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { loadWorkflow } from '#config/workflow.ts';
import { decodeMessage, type Message } from '#contract/messages.ts';
import { type DaqDeps, type DaqResult, simulateRun } from '#domain/daq.ts';
import { realClock } from '#domain/daq-clock.ts';
import { createLogger } from '#log/logger.ts';
import { tableNames } from '#runtime/env.ts';
import { verifyStf } from '#stf/analysis.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { localStfStore } from '#stf/store.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';

const workflow = (overrides: Record<string, unknown> = {}) =>
  loadWorkflow('prompt_processing', {
    env: {},
    overrides: {
      'testbed.namespace': 'daq-it',
      'simulation.realtime': false,
      'simulation.stf_count': 3,
      'simulation.physics_period_count': 2,
      'prompt_processing.tfs_per_stf': 10,
      'prompt_processing.stf_size_bytes': 65536,
      ...overrides,
    },
  });

const walk = (messages: readonly Message[]): string[] =>
  messages.map((m) => (m.msg_type === 'stf_gen' ? `stf_gen#${String(m.content.sequence)}` : m.msg_type));

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('DAQ simulator with a real broker', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let stfDir: string;
  let publisher: BrokerPort;
  let listener: BrokerPort;
  let subscription: Subscription;
  const received: ReceivedMessage[] = [];

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('daq-it-')]);
    stfDir = testDir('daq-it-stf-');
    const quiet = () => {};
    publisher = await connectBroker({ url: broker.url, ...broker.credentials, log: quiet });
    listener = await connectBroker({ url: broker.url, ...broker.credentials, log: quiet });
    subscription = listener.subscribe('/topic/epictopic', { ack: 'auto' }, (m) => {
      received.push(m);
    });
    await subscription.ready;
  });
  afterAll(async () => {
    await subscription?.unsubscribe();
    await Promise.all([listener?.close(), publisher?.close()]);
    await Promise.all([broker?.stop(), dynamo?.stop()]);
    rmSync(stfDir, { recursive: true, force: true });
  });

  const deps = (extra: Partial<DaqDeps> = {}): DaqDeps => ({
    broker: publisher,
    db: dynamo.client,
    tableNames: tableNames(dynamo.env),
    log: createLogger({}, () => {}),
    stfStore: localStfStore(stfDir),
    clock: realClock,
    ...extra,
  });

  /** The run's messages off the topic, once its end_run has arrived, decoded as a handler would. */
  const messagesOf = async (runId: string): Promise<{ messages: Message[]; raw: ReceivedMessage[] }> => {
    await eventually(`end_run of run ${runId}`, () =>
      received.find((m) => m.headers.run_id === runId && m.headers.msg_type === 'end_run'),
    );
    const raw = received.filter((m) => m.headers.run_id === runId);
    return { raw, messages: raw.map((m) => decodeMessage(m.body, { headers: m.headers })) };
  };

  it('numbers runs from 100010 up and executions per workflow and user from 0001', async () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 1, 'simulation.physics_period_count': 1 });
    // Act
    const first = await simulateRun({ workflow: config, user: 'alice' }, deps());
    const second = await simulateRun({ workflow: config, user: 'alice' }, deps());
    const other = await simulateRun({ workflow: config, user: 'bob' }, deps());
    // Assess
    expect([first.run_id, second.run_id, other.run_id]).toEqual(['100010', '100011', '100012']);
    expect([first.execution_id, second.execution_id, other.execution_id]).toEqual([
      'prompt_processing-alice-0001',
      'prompt_processing-alice-0002',
      'prompt_processing-bob-0001',
    ]);
  });

  it('broadcasts the whole run on /topic/epictopic with the headers handlers select on', async () => {
    // Prepare
    const config = workflow();
    // Act
    const result = await simulateRun({ workflow: config, user: 'alice' }, deps());
    // Assess
    const { raw, messages } = await messagesOf(result.run_id);
    expect(walk(messages)).toEqual([
      'run_imminent',
      'start_run',
      'stf_gen#1',
      'stf_gen#2',
      'stf_gen#3',
      'pause_run',
      'resume_run',
      'stf_gen#4',
      'stf_gen#5',
      'stf_gen#6',
      'end_run',
    ]);
    for (const m of raw) {
      expect(m.headers).toMatchObject({
        run_id: result.run_id,
        namespace: 'daq-it',
        vo: 'eic',
        persistent: 'true',
      });
    }
    expect(messages.at(-1)?.content).toMatchObject({ total_stf_files: 6, execution_id: result.execution_id });
  });

  it('writes every STF as a real file with the announced size and checksum', async () => {
    // Prepare
    const config = workflow();
    // Act
    const result = await simulateRun({ workflow: config, user: 'alice' }, deps());
    // Assess
    const { messages } = await messagesOf(result.run_id);
    const stfs = messages.filter((m) => m.msg_type === 'stf_gen');
    expect(stfs).toHaveLength(6);
    for (const { content } of stfs) {
      const url = String(content.url);
      expect(url).toBe(join(stfDir, result.dataset, content.filename));
      expect(statSync(url).size).toBe(content.size);
      expect(adlerChecksum(await readFile(url))).toBe(content.checksum);
      await verifyStf(url, content.checksum as string);
    }
  });

  it('continues a run cut short through chained invocations with exactly the messages of an uncut run', async () => {
    // Prepare: each invocation may do three steps before its time runs short.
    const config = workflow();
    const uncut = await simulateRun({ workflow: config, user: 'alice' }, deps());
    const results: DaqResult[] = [];
    const invoke = async (continuation?: { run_id: string }): Promise<void> => {
      let steps = 0;
      const result = await simulateRun(
        { workflow: config, user: 'alice', ...(continuation && { continuation }) },
        deps({ marginMs: 1_000, remainingMs: () => (steps++ < 3 ? 60_000 : 0), chain: invoke }),
      );
      results.push(result);
    };
    // Act
    await invoke();
    // Assess
    const cutRun = results[0]?.run_id as string;
    const expected = walk((await messagesOf(uncut.run_id)).messages);
    const got = walk((await messagesOf(cutRun)).messages);
    expect(got).toEqual(expected);
    expect(results.length).toBeGreaterThan(2);
    expect(results.map((r) => r.status)).toEqual(['ended', ...Array(results.length - 1).fill('continued')]);
    expect(new Set(results.map((r) => r.execution_id)).size).toBe(1);
  });
});
