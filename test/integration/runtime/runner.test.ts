import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { type Runner, type RunnerOptions, startRunner } from '#local/runner.ts';
import { createLogger } from '#log/logger.ts';
import type { MqEvent } from '#messaging/mq-event.ts';
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

const stfGen = (seq: number, runId = '100010') =>
  encodeMessage(
    makeMessage('stf_gen', runId, {
      filename: `swf.${runId}.${String(seq).padStart(6, '0')}.stf`,
      sequence: seq,
    }),
  );

describe('Local Lambda runner', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  const runners: Runner[] = [];
  const quiet = createLogger({}, () => {});

  beforeAll(async () => {
    broker = await startTestBroker();
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
    o: Partial<RunnerOptions> = {},
  ): Promise<Runner> {
    const runner = await startRunner({
      broker: port,
      routes: [route(msgType)],
      load: async () => handler,
      // One redelivery keeps the dead-letter cases short (Lambda's poller allows 6).
      maximumRedeliveries: 1,
      log: quiet,
      ...o,
    });
    runners.push(runner);
    return runner;
  }

  it('invokes the handler with an Amazon MQ-shaped event for a message sent to the topic', async () => {
    // Prepare
    const events: MqEvent[] = [];
    await run('start_run', async (e) => {
      events.push(e);
    });
    const sent = encodeMessage(makeMessage('start_run', '100011', { state: 'run', substate: 'physics' }));
    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    while (events.length === 0) await new Promise((r) => setTimeout(r, 20));
    // Assess
    const [event] = events;
    const m = event?.messages[0];
    expect(event?.eventSource).toBe('aws:mq');
    expect(m?.destination.physicalName).toBe('swf.handler.start_run');
    expect(Buffer.from(m?.data ?? '', 'base64').toString('utf8')).toBe(sent.body);
    expect(m?.properties).toMatchObject({ msg_type: 'start_run', run_id: '100011', vo: 'eic' });
    expect(m?.messageType).toBe('jms/text-message');
    expect(m?.redelivered).toBe(false);
    expect(m?.deliveryMode).toBe(2);
  });

  it('batches messages that arrive together', async () => {
    // Prepare
    const sizes: number[] = [];
    await run('stf_gen', async (e) => {
      sizes.push(e.messages.length);
    });
    // Act
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => stfGen(i + 1)).map((m) =>
        port.publish(destinations.epic, m.body, m.headers),
      ),
    );
    while (sizes.reduce((a, b) => a + b, 0) < 300) await new Promise((r) => setTimeout(r, 20));
    // Assess
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('redelivers a failing batch and parks it in the dead-letter queue after the redelivery limit, once, with its reason', async () => {
    // Prepare
    const deliveries: boolean[] = [];
    const runner = await run('pause_run', async (e) => {
      deliveries.push(e.messages[0]?.redelivered ?? false);
      throw new Error('handler crashed');
    });
    const dlq = await capture(port, '/queue/DLQ.swf.handler.pause_run');
    const sent = encodeMessage(makeMessage('pause_run', '100012', {}));
    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    const [parked] = await dlq.until(1);
    // Assess
    expect(deliveries).toEqual([false, true]);
    expect(parked?.body).toBe(sent.body);
    expect(parked?.headers.dlq_reason).toBe('pause_run handler failed 2 times, last: handler crashed');
    expect(parked?.headers.dlq_original_destination).toBe('swf.handler.pause_run');
    expect(runner.stats.parked).toBe(1);
    expect(runner.stats.transientFailures).toBe(0);
    await dlq.stop();
  });

  it('waits out a handler failing transiently more often than the redelivery limit, and parks nothing', async () => {
    // Prepare: DynamoDB refusing connections, eight times over (the limit here is one redelivery)
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4567'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 3 },
    });
    let failures = 0;
    const handled: string[] = [];
    const logs: Record<string, unknown>[] = [];
    const runner = await run(
      'resume_run',
      async (e) => {
        if (failures < 8) {
          failures++;
          throw refused;
        }
        handled.push(...e.messages.map((m) => m.messageID));
      },
      {
        retry: { backoffInitialMs: 20, backoffMaxMs: 80 },
        log: createLogger({}, (l) => logs.push(JSON.parse(l))),
      },
    );
    const sent = encodeMessage(makeMessage('resume_run', '100014', { state: 'run' }));
    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    while (handled.length === 0) await new Promise((r) => setTimeout(r, 20));
    // Assess
    expect(handled).toHaveLength(1);
    expect(runner.stats.transientFailures).toBe(8);
    expect(runner.stats.parked).toBe(0);
    const waits = logs.filter((r) => r.message === 'waiting for DynamoDB…');
    expect(waits).toHaveLength(8);
    expect(waits.map((r) => r.retry_in_ms)).toEqual([20, 40, 80, 80, 80, 80, 80, 80]);
    expect(waits[0]?.error).toMatchObject({ message: 'connect ECONNREFUSED 127.0.0.1:4567' });
  });

  it('gives a batch waiting for its retry back to the broker when stopped, for the next runner', async () => {
    // Prepare: a runner waiting out an outage, with a long back-off
    let calls = 0;
    const first = await run(
      'run_imminent',
      async () => {
        calls++;
        throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      },
      { retry: { backoffInitialMs: 60_000 } },
    );
    const sent = encodeMessage(makeMessage('run_imminent', '100015', { run_conditions: {} }));
    await port.publish(destinations.epic, sent.body, sent.headers);
    while (calls === 0) await new Promise((r) => setTimeout(r, 20));
    // Act
    await first.stop(1000);
    const redelivered: boolean[] = [];
    await run('run_imminent', async (e) => {
      redelivered.push(...e.messages.map((m) => m.redelivered));
    });
    while (redelivered.length === 0) await new Promise((r) => setTimeout(r, 20));
    // Assess
    expect(calls).toBe(1);
    expect(first.stats.parked).toBe(0);
    expect(redelivered).toEqual([true]);
  });

  it('parks a refused message with its reason and hands the rest of the batch to the domain function', async () => {
    // Prepare
    const handled: string[] = [];
    const handler = mqHandler(
      'end_run',
      async () => ({ broker: port, log: quiet }),
      async (msgs) => {
        handled.push(...msgs.map((m) => m.run_id));
      },
    );
    await run('end_run', handler);
    const dlq = await capture(port, '/queue/DLQ.swf.handler.end_run');
    const good = encodeMessage(makeMessage('end_run', '100013', { total_stf_files: 3 }));
    // Act
    await port.publish(destinations.epic, 'this is not JSON', { msg_type: 'end_run', run_id: '100013' });
    await port.publish(destinations.epic, good.body, good.headers);
    const [parked] = await dlq.until(1);
    while (handled.length === 0) await new Promise((r) => setTimeout(r, 20));
    // Assess
    expect(parked?.headers.dlq_reason).toMatch(/^not JSON/);
    expect(parked?.headers.dlq_original_destination).toBe('swf.handler.end_run');
    expect(parked?.body).toBe('this is not JSON');
    expect(handled).toEqual(['100013']);
    await dlq.stop();
  });
});
