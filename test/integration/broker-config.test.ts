import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { browseQueue } from '#local/dead-letters.ts';
import { portAccepts } from '#local/processes.ts';
import { createLogger } from '#log/logger.ts';
import { park } from '#messaging/park.ts';
import {
  destinations,
  runSlicesDeadLetterQueue,
  sliceDestination,
  splitDestination,
} from '#routes/destinations.ts';
import { handlerQueue, headerlessRoute } from '#routes/route-table.ts';
import { originalQueue } from '#runtime/dead-letter-replay.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';
import { eventually } from '../support/local-stack.ts';
import { connectUpstreamAgent } from '../support/upstream-agent.ts';

describe('Local broker', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('accepts the configuration generated from the route table without a warning', async () => {
    // Prepare
    const logFile = join(broker.stateDir, 'logs', 'activemq.log');
    // Act: the port opens a moment before the broker logs that it has started
    let log = '';
    for (let i = 0; i < 100 && !/Apache ActiveMQ .* started/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = readFileSync(logFile, 'utf8');
    }
    // Assess
    expect(log).toMatch(/Connector stomp started/);
    expect(log).not.toMatch(/ERROR|WARN/);
  });

  it('listens on loopback only', async () => {
    // Prepare
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    // Act
    const onLoopback = await portAccepts(broker.stompPort, '127.0.0.1');
    const onExternal = external ? await portAccepts(broker.stompPort, external) : false;
    // Assess
    expect(onLoopback).toBe(true);
    expect(onExternal).toBe(false);
  });

  describe('Forwarding generated from the route table', () => {
    let port: BrokerPort;
    const headerless = handlerQueue(headerlessRoute);
    beforeAll(async () => {
      port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    });
    afterAll(async () => {
      await port?.close();
    });

    /** Takes every message off a queue, so that the next case starts from an empty one. */
    async function drain(queue: string): Promise<void> {
      const sub = port.subscribe(`/queue/${queue}`, { ack: 'auto' }, () => {});
      await sub.ready;
      await eventually(`${queue} drained`, async () => (await browseQueue(port, queue)).length === 0);
      await sub.unsubscribe();
    }

    it.each(headerlessRoute.from)(
      'forwards a message without headers on %s into the headerless queue, non-persistent as sent',
      async (topic) => {
        // Prepare
        const body = JSON.stringify({ msg_type: 'stf_gen', run_id: '990000201', filename: topic });
        const agent = await connectUpstreamAgent(broker.url, broker.credentials);

        // Act
        agent.send(topic, body);
        await agent.close();
        const queued = await browseQueue(port, headerless);

        // Assess
        expect(queued.map((m) => m.body)).toEqual([body]);
        expect(queued[0]?.headers.persistent).toBeUndefined();
        expect(queued[0]?.headers.msg_type).toBeUndefined();
        await drain(headerless);
      },
    );

    it('forwards a message whose msg_type header no route takes into the headerless queue', async () => {
      // Prepare
      const body = JSON.stringify({ msg_type: 'tf_file_registered', run_id: '990000203' });

      // Act
      await port.publish(destinations.epic, body, { msg_type: 'tf_file_registered', run_id: '990000203' });
      const queued = await browseQueue(port, headerless);

      // Assess
      expect(queued.map((m) => m.body)).toEqual([body]);
      await drain(headerless);
    });

    it('forwards a message with a msg_type header to its handler’s queue only, never to the headerless one', async () => {
      // Prepare
      const queue = 'swf.handler.start_run';
      const { body, headers } = encodeMessage(
        makeMessage('start_run', '990000202', { state: 'run', substate: 'physics' }),
      );

      // Act
      await port.publish(destinations.epic, body, headers);
      const [toHandler, toHeaderless] = await Promise.all([
        browseQueue(port, queue),
        browseQueue(port, headerless),
      ]);

      // Assess
      expect(toHandler.map((m) => m.body)).toEqual([body]);
      expect(toHeaderless).toEqual([]);
      await drain(queue);
    });
  });

  describe("A run's own slice queue", () => {
    let port: BrokerPort;
    beforeAll(async () => {
      port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    });
    afterAll(async () => {
      await port?.close();
    });

    it('parks what a transformer nacks in the one dead-letter queue of every run, from where a replay finds its queue', async () => {
      // Prepare: two runs' queues, created on first use as in a run
      const runs = ['990000301', '990000302'];
      for (const runId of runs)
        await port.publish(sliceDestination(runId, 'run'), `{"run":"${runId}"}`, { run_id: runId });

      // Act
      for (const runId of runs) {
        const sub = port.subscribe(sliceDestination(runId, 'run'), { ack: 'client-individual' }, (m) =>
          m.nack(),
        );
        await eventually(
          'slice nacked',
          async () => (await browseQueue(port, runSlicesDeadLetterQueue)).length >= runs.indexOf(runId) + 1,
        );
        await sub.unsubscribe();
      }
      const parked = await browseQueue(port, runSlicesDeadLetterQueue);

      // Assess
      expect(parked.map((m) => m.headers.run_id).sort()).toEqual(runs);
      expect(parked.map((m) => originalQueue(runSlicesDeadLetterQueue, m.headers)).sort()).toEqual(
        runs.map((r) => splitDestination(sliceDestination(r, 'run')).name),
      );
    });

    it("parks a refused slice there with its reason, as from its run's queue", async () => {
      // Prepare
      const queue = splitDestination(sliceDestination('990000303', 'run')).name;

      // Act
      await park(
        port,
        createLogger({ service: 'test' }, () => {}),
        {
          queue,
          body: '{}',
          headers: { run_id: '990000303' },
          reason: 'unusable slice',
          handler: 'transformer',
        },
      );
      const parked = (await browseQueue(port, runSlicesDeadLetterQueue)).filter(
        (m) => m.headers.run_id === '990000303',
      );

      // Assess
      expect(
        parked.map((m) => [m.headers.dlq_reason, originalQueue(runSlicesDeadLetterQueue, m.headers)]),
      ).toEqual([['unusable slice', queue]]);
    });
  });
});
