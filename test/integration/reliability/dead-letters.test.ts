import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { type DeadLetter, listDeadLetters, replayDeadLetters } from '#local/dead-letters.ts';
import { type Runner, startRunner } from '#local/runner.ts';
import { createLogger } from '#log/logger.ts';
import type { MqEvent } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import { destinations } from '#routes/destinations.ts';
import { routeFor } from '#routes/route-table.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';

const route = (t: string) => {
  const r = routeFor(t);
  if (!r) throw new Error(t);
  return r;
};

/** The broker's redelivery limit here (Lambda's is 6): each dead-letter case takes about two seconds. */
const REDELIVERIES = 2;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Dead letters: parking with a reason, listing, replaying', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  const runners: Runner[] = [];
  const quiet = createLogger({}, () => {});

  beforeAll(async () => {
    broker = await startTestBroker({ maximumRedeliveries: REDELIVERIES });
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  });
  afterAll(async () => {
    for (const r of runners) await r.stop();
    await port?.close();
    await broker?.stop();
  });

  async function run(
    msgType: string,
    handler: (e: MqEvent) => Promise<unknown>,
    maximumRedeliveries = REDELIVERIES,
  ): Promise<Runner> {
    const runner = await startRunner({
      broker: port,
      routes: [route(msgType)],
      load: async () => handler,
      maximumRedeliveries,
      log: quiet,
    });
    runners.push(runner);
    return runner;
  }

  const parked = (handler: string, runId: string) =>
    until(
      `a parked ${handler} message of run ${runId}`,
      async () => (await listDeadLetters(port, { handler, runId }))[0],
    );

  it('parks a message whose handler fails on every delivery itself, with the error as its reason', async () => {
    // Prepare
    let attempts = 0;
    const runner = await run('pause_run', async () => {
      attempts++;
      throw new Error('Cannot do operations on a non-existent table');
    });
    const sent = encodeMessage(makeMessage('pause_run', '100021', { state: 'run', substate: 'standby' }));
    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    const letter = await parked('pause_run', '100021');
    // Assess
    expect(attempts).toBe(1 + REDELIVERIES);
    expect(runner.stats.parked).toBe(1);
    expect(letter).toMatchObject({
      queue: 'DLQ.swf.handler.pause_run',
      handler: 'pause_run',
      run_id: '100021',
      msg_type: 'pause_run',
      original_queue: 'swf.handler.pause_run',
      body: sent.body,
    });
    expect(letter.reason).toBe(
      `pause_run handler failed ${1 + REDELIVERIES} times, last: Cannot do operations on a non-existent table`,
    );
    expect(letter.original_id).toMatch(/^ID:/);
    expect(letter.parked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Kept until someone looks (as the broker keeps what it parks), without the redelivery bookkeeping.
    expect(letter.headers.expires).toBe('0');
    expect(letter.headers).not.toHaveProperty('scheduledJobId');
    expect(letter.headers).not.toHaveProperty('redeliveryDelay');
  });

  it('lists what a handler refused, what the runner parked and what the broker parked, with handler, run and reason', async () => {
    // Prepare: a consumer that NACKs leaves the parking to the broker, which records no reason
    const nacking = port.subscribe('/queue/swf.handler.resume_run', { ack: 'client-individual' }, (m) => {
      m.nack();
    });
    await nacking.ready;
    await run(
      'run_stop',
      mqHandler(
        'run_stop',
        async () => ({ broker: port, log: quiet }),
        async () => {},
      ),
    );
    const crashed = encodeMessage(makeMessage('resume_run', '100022', { state: 'run' }));
    // Act
    await port.publish(destinations.epic, crashed.body, crashed.headers);
    await port.publish(
      destinations.workers,
      '{"msg_type": "run_stop", "run_id": "100022", "created_at": 7}',
      {
        msg_type: 'run_stop',
        run_id: '100022',
      },
    );
    const byBroker = await parked('resume_run', '100022');
    const refused = await parked('run_stop', '100022');
    const all = await listDeadLetters(port, { runId: '100022' });
    // Assess
    expect(byBroker).toMatchObject({ handler: 'resume_run', original_queue: 'swf.handler.resume_run' });
    expect(byBroker.reason).toBeUndefined();
    expect(refused).toMatchObject({ handler: 'run_stop', original_queue: 'swf.handler.run_stop' });
    expect(refused.reason).toMatch(/^run_stop\.created_at: .*expected string/);
    expect(all.map((l) => l.handler).sort()).toEqual(['resume_run', 'run_stop']);
    await nacking.unsubscribe();
  });

  it('replays the chosen messages to their queue without the dlq_* headers, and only those', async () => {
    // Prepare: three refused start_run messages of two runs, parked as a handler parks them
    const parkOne = (runId: string, n: number) => {
      const m = encodeMessage(makeMessage('start_run', runId, { state: 'run', n }));
      return park(port, quiet, {
        queue: 'swf.handler.start_run',
        body: m.body,
        headers: m.headers,
        reason: `test refusal ${n}`,
        handler: 'start_run',
      });
    };
    await parkOne('100023', 1);
    await parkOne('100023', 2);
    await parkOne('100024', 3);
    const queue = await capture(port, '/queue/swf.handler.start_run');
    const [one] = await listDeadLetters(port, { handler: 'start-run', runId: '100023' });
    // Act
    const byId = await replayDeadLetters(port, { id: one?.id as string });
    const byRun = await replayDeadLetters(port, { handler: 'start_run', runId: '100023' });
    const back = await queue.until(2);
    const left = await listDeadLetters(port, { handler: 'start_run' });
    // Assess
    expect(byId.replayed.map((l) => l.id)).toEqual([one?.id]);
    expect(byRun.replayed).toHaveLength(1);
    expect(byRun.missed).toEqual([]);
    expect(back.map((m) => JSON.parse(m.body).content.n).sort()).toEqual([1, 2]);
    for (const m of back) {
      expect(Object.keys(m.headers).filter((h) => h.startsWith('dlq_'))).toEqual([]);
      expect(m.headers).toMatchObject({ msg_type: 'start_run', run_id: '100023', vo: 'eic' });
      expect(Number(m.headers.expires)).toBeGreaterThan(Date.now());
    }
    expect(left.map((l: DeadLetter) => l.run_id)).toEqual(['100024']);
    await queue.stop();
  });

  it('completes the work of a message parked while a fault lasted, once the fault is gone and it is replayed', async () => {
    // Prepare: a handler that fails while its table is gone (not a transient failure: it spends redeliveries)
    let down = true;
    const handled: string[] = [];
    await run('transformer_end', async (e) => {
      if (down)
        throw Object.assign(new Error('Cannot do operations on a non-existent table'), {
          name: 'ResourceNotFoundException',
        });
      handled.push(...e.messages.map((m) => m.properties.run_id as string));
    });
    const sent = encodeMessage(makeMessage('transformer_end', '100025', { id: '100025-p01' }));
    await port.publish(destinations.results, sent.body, sent.headers);
    const letter = await parked('transformer_end', '100025');
    // Act
    down = false;
    const outcome = await replayDeadLetters(port, { handler: 'transformer_end' });
    await until('the replayed message handled', async () => (handled.length > 0 ? true : undefined));
    // Assess
    expect(letter.reason).toMatch(/failed 3 times, last: .*non-existent table/);
    expect(outcome.replayed.map((l) => l.id)).toEqual([letter.id]);
    expect(handled).toEqual(['100025']);
    expect(await listDeadLetters(port, { handler: 'transformer_end' })).toEqual([]);
  });

  it('refuses a handler it does not know, naming the ones it does', async () => {
    // Act
    const listing = listDeadLetters(port, { handler: 'no_such_handler' });
    // Assess
    await expect(listing).rejects.toThrow(/no handler "no_such_handler": one of run_imminent, .*transformer/);
  });
});
