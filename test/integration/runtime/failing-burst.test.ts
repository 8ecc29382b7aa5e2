import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { browseQueue } from '#local/dead-letters.ts';
import { type Runner, startRunner } from '#local/runner.ts';
import { createLogger } from '#log/logger.ts';
import { handlerQueue, routeFor } from '#routes/route-table.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { eventually } from '../../support/local-stack.ts';

const route = (t: string) => {
  const r = routeFor(t);
  if (!r) throw new Error(t);
  return r;
};

/** How many messages a queue holds, browsed to its end (they stay). */
const browse = async (port: BrokerPort, queue: string): Promise<number> =>
  (await browseQueue(port, queue)).length;

const POISONED = ['start_run', 'pause_run', 'resume_run', 'end_run'];
const PER_QUEUE = 80;

describe('Local Lambda runner under a burst of failing batches', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  let runner: Runner | undefined;

  beforeAll(async () => {
    broker = await startTestBroker();
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  });
  afterAll(async () => {
    await runner?.stop(2000);
    await port?.close();
    await broker?.stop();
  });

  it('parks hundreds of poison messages and waits out a transient outage without wedging dispatch, browsing, stop or the broker', async () => {
    // Prepare: four queues whose handler always throws, and one whose handler finds its dependency away
    let failing = true;
    const handled = new Map<string, number>();
    const count = (queue: string, n: number) => handled.set(queue, (handled.get(queue) ?? 0) + n);
    runner = await startRunner({
      broker: port,
      routes: [...POISONED, 'stf_gen'].map(route),
      load: async (r) => async (e) => {
        if (failing && r.name === 'stf_gen')
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4567'), { code: 'ECONNREFUSED' });
        if (failing) throw new Error(`${r.name} is poisoned`);
        count(r.name, e.messages.length);
      },
      // Small batches: hundreds of failing invocations, each retried a second apart as Lambda's poller does.
      batchSize: 10,
      log: createLogger({}, () => {}),
    });
    const poisoned = POISONED.map((t) => handlerQueue(route(t)));
    // Act
    await Promise.all(
      [...poisoned, handlerQueue(route('stf_gen'))].flatMap((queue) =>
        Array.from({ length: PER_QUEUE }, (_, i) => port.publish(`/queue/${queue}`, `{"n": ${i}}`)),
      ),
    );
    await eventually(
      'every poison message parked',
      () => runner?.stats.parked === POISONED.length * PER_QUEUE,
      120_000,
    );
    const parked = await Promise.all(poisoned.map((q) => browse(port, `DLQ.${q}`)));
    failing = false;
    for (const queue of [...poisoned, handlerQueue(route('stf_gen'))])
      await port.publish(`/queue/${queue}`, '{"n": "after"}');
    await eventually(
      'the fresh messages and the waiting ones handled',
      () =>
        [...POISONED, 'stf_gen'].every((t) => (handled.get(t) ?? 0) >= (t === 'stf_gen' ? PER_QUEUE + 1 : 1)),
      60_000,
    );
    const { stats } = runner;
    await runner.stop(2000);
    runner = undefined;
    const threads = execFileSync('jcmd', [String(broker.pid), 'Thread.print'], { encoding: 'utf8' });
    // Assess
    // Each poisoned batch of at most 10 failed 1 + 6 times.
    expect(stats.failedInvocations).toBeGreaterThanOrEqual(((POISONED.length * PER_QUEUE) / 10) * 7);
    expect(stats.transientFailures).toBeGreaterThan(0);
    expect(parked).toEqual(POISONED.map(() => PER_QUEUE));
    expect(Object.fromEntries(handled)).toEqual({
      start_run: 1,
      pause_run: 1,
      resume_run: 1,
      end_run: 1,
      stf_gen: PER_QUEUE + 1,
    });
    expect(threads).toMatch(/Full thread dump/);
    expect(threads).not.toMatch(/Found one Java-level deadlock/);
  }, 180_000);
});
