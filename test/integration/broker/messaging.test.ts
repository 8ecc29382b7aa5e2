import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { destinations } from '#routes/destinations.ts';
import { handlerQueue, routeFor } from '#routes/route-table.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { connect, inbox, sleep, startRelay, startTlsTerminator, uniqueQueue, until } from './support.ts';

describe('Broker port on ActiveMQ', () => {
  let broker: TestBroker;
  const opened: BrokerPort[] = [];
  const open = async (...args: Parameters<typeof connect>) => {
    const port = await connect(...args);
    opened.push(port);
    return port;
  };

  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await broker?.stop();
  });

  describe('publish and subscribe', () => {
    it('delivers a message published to a queue to its consumer', async () => {
      // Prepare
      const queue = uniqueQueue('roundtrip');
      const producer = await open(broker);
      const consumer = await open(broker);
      const got = inbox();
      await consumer.subscribe(queue, { ack: 'client-individual' }, got.take).ready;
      // Act
      await producer.publish(queue, '{"msg_type":"slice","note":"Grüße ✓"}', {
        msg_type: 'slice',
        run_id: '42',
      });
      await until('the message', () => got.messages.length === 1);
      // Assess
      const [m] = got.messages;
      expect(m?.body).toBe('{"msg_type":"slice","note":"Grüße ✓"}');
      expect(m?.destination).toBe(queue);
      expect(m?.headers.msg_type).toBe('slice');
      expect(m?.headers.run_id).toBe('42');
      expect(m?.messageId).toMatch(/^ID:/);
      expect(m?.redelivered).toBe(false);
    });

    it('broadcasts a topic message to every subscriber', async () => {
      // Prepare
      const topic = `/topic/test.broadcast.${process.pid}`;
      const producer = await open(broker);
      const a = inbox();
      const b = inbox();
      const consumer = await open(broker);
      await consumer.subscribe(topic, { ack: 'auto' }, a.take).ready;
      await consumer.subscribe(topic, { ack: 'auto' }, b.take).ready;
      // Act
      await producer.publish(topic, 'to everyone');
      await until('both copies', () => a.messages.length === 1 && b.messages.length === 1);
      // Assess
      expect(a.messages[0]?.body).toBe('to everyone');
      expect(b.messages[0]?.body).toBe('to everyone');
      expect(a.messages[0]?.destination).toBe(topic);
    });

    it('forwards a topic message to the handler queue of its msg_type, as the route table says', async () => {
      // Prepare
      const route = routeFor('stf_gen');
      if (!route) throw new Error('no stf_gen route');
      const producer = await open(broker);
      const consumer = await open(broker);
      const queued = inbox();
      const onTopic = inbox();
      await consumer.subscribe(`/queue/${handlerQueue(route)}`, { ack: 'client-individual' }, (m) => {
        queued.take(m);
        m.ack();
      }).ready;
      await consumer.subscribe(destinations.epic, { ack: 'auto' }, onTopic.take).ready;
      // Act: published together, so they travel in one transaction
      await Promise.all(
        ['stf_gen', 'run_imminent', 'stf_gen'].map((type, i) =>
          producer.publish(destinations.epic, `${type} ${i}`, { msg_type: type }),
        ),
      );
      // A message sent last comes last: once it is in, whatever was wrongly forwarded before it is in too.
      await producer.publish(destinations.epic, 'stf_gen last', { msg_type: 'stf_gen' });
      const last = (got: typeof queued) => got.messages.some((m) => m.body === 'stf_gen last');
      await until('the last message, forwarded and on the topic', () => last(queued) && last(onTopic));
      // Assess
      expect(queued.messages.map((m) => m.body)).toEqual(['stf_gen 0', 'stf_gen 2', 'stf_gen last']);
      expect(onTopic.messages).toHaveLength(4);
    });

    it('delivers a burst of messages exactly once and in order', async () => {
      // Prepare
      const queue = uniqueQueue('burst');
      const producer = await open(broker);
      const consumer = await open(broker);
      const bodies: string[] = [];
      await consumer.subscribe(queue, { ack: 'client-individual', prefetch: 100 }, (m) => {
        bodies.push(m.body);
        m.ack();
      }).ready;
      const sent = Array.from({ length: 2_000 }, (_, i) => `m${i}`);
      // Act
      await Promise.all(sent.map((b) => producer.publish(queue, b)));
      // A message sent last comes last: once it is in, any copy of the burst would be in too.
      await producer.publish(queue, 'last');
      await until('the last message', () => bodies.includes('last'), 30_000);
      // Assess
      expect(bodies).toEqual([...sent, 'last']);
    });

    it('marks every message persistent and gives it a 12-hour expiry unless the caller set one', async () => {
      // Prepare
      const queue = uniqueQueue('headers');
      const producer = await open(broker);
      const consumer = await open(broker);
      const got = inbox();
      await consumer.subscribe(queue, { ack: 'auto' }, got.take).ready;
      const before = Date.now();
      const chosen = String(before + 60_000);
      // Act
      await producer.publish(queue, 'default expiry', { vo: 'eic' });
      await producer.publish(queue, 'own expiry', { expires: chosen, destination: '/queue/elsewhere' });
      await until('both messages', () => got.messages.length === 2);
      // Assess
      const [first, second] = got.messages;
      expect(first?.headers.persistent).toBe('true');
      expect(first?.headers.vo).toBe('eic');
      expect(Number(first?.headers.expires)).toBeGreaterThanOrEqual(before + 12 * 3_600_000);
      expect(Number(first?.headers.expires)).toBeLessThan(Date.now() + 12 * 3_600_000 + 1_000);
      expect(second?.headers.persistent).toBe('true');
      expect(second?.headers.expires).toBe(chosen);
      // The destination argument wins over a header of that name.
      expect(second?.destination).toBe(queue);
    });
  });

  describe('selectors and prefetch', () => {
    it('delivers to each consumer only the messages its run_id selector matches', async () => {
      // Prepare
      const queue = destinations.slices;
      const producer = await open(broker);
      const consumer = await open(broker);
      const run1 = inbox();
      const run2 = inbox();
      const ack = (take: (m: Parameters<typeof run1.take>[0]) => void) => (m: Parameters<typeof take>[0]) => {
        take(m);
        m.ack();
      };
      await consumer.subscribe(
        queue,
        { ack: 'client-individual', selector: "run_id = '1001'" },
        ack(run1.take),
      ).ready;
      await consumer.subscribe(
        queue,
        { ack: 'client-individual', selector: "run_id = '1002'" },
        ack(run2.take),
      ).ready;
      // Act
      for (const run of ['1001', '1002', '1001', '1002', '1001']) {
        await producer.publish(queue, `slice of ${run}`, { run_id: run, msg_type: 'slice' });
      }
      // A message sent last comes last to its consumer: once each run's is in, all before it are in too.
      for (const run of ['1001', '1002']) {
        await producer.publish(queue, `last of ${run}`, { run_id: run, msg_type: 'slice' });
      }
      const lastOf = (got: typeof run1, run: string) => got.messages.some((m) => m.body === `last of ${run}`);
      await until('the last slice of each run', () => lastOf(run1, '1001') && lastOf(run2, '1002'));
      // Assess
      expect(run1.messages.map((m) => m.headers.run_id)).toEqual(['1001', '1001', '1001', '1001']);
      expect(run2.messages.map((m) => m.headers.run_id)).toEqual(['1002', '1002', '1002']);
    });

    it('gives a prefetch-1 consumer holding an unacked message nothing more while another consumer gets the rest', async () => {
      // Prepare
      const queue = uniqueQueue('prefetch');
      const producer = await open(broker);
      const holder = inbox();
      const worker = inbox();
      const holding = await open(broker);
      await holding.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, holder.take).ready;
      await producer.publish(queue, 'first');
      await until('the first message', () => holder.messages.length === 1);
      const working = await open(broker);
      await working.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, (m) => {
        worker.take(m);
        m.ack();
      }).ready;
      // Act
      for (const body of ['second', 'third', 'fourth']) await producer.publish(queue, body);
      // Once the worker has taken all three, nothing is left on the queue that could still reach the holder.
      await until('the other messages', () => worker.messages.length === 3);
      // Assess
      expect(holder.messages.map((m) => m.body)).toEqual(['first']);
      expect(worker.messages.map((m) => m.body)).toEqual(['second', 'third', 'fourth']);
    });
  });

  describe('failures', () => {
    it("redelivers a message to another consumer when its consumer's connection dies before acking", async () => {
      // Prepare
      const queue = uniqueQueue('redelivery');
      const relay = await startRelay(broker.stompPort);
      const producer = await open(broker);
      const doomed = await open(broker, { url: relay.url });
      const first = inbox();
      await doomed.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, first.take).ready;
      await producer.publish(queue, 'work');
      await until('the first delivery', () => first.messages.length === 1);
      // Act
      relay.cut();
      const survivor = await open(broker);
      const second = inbox();
      await survivor.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, (m) => {
        second.take(m);
        m.ack();
      }).ready;
      await until('the redelivery', () => second.messages.length === 1);
      // Assess
      expect(first.messages[0]?.redelivered).toBe(false);
      expect(second.messages[0]?.body).toBe('work');
      expect(second.messages[0]?.redelivered).toBe(true);
      expect(second.messages[0]?.messageId).toBe(first.messages[0]?.messageId);
      await relay.close();
    });

    it('ignores an ack of a message whose connection has since broken, and goes on consuming', async () => {
      // Prepare
      const queue = uniqueQueue('stale-ack');
      const relay = await startRelay(broker.stompPort);
      const producer = await open(broker);
      const consumer = await open(broker, { url: relay.url });
      const got = inbox();
      await consumer.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, got.take).ready;
      await producer.publish(queue, 'before');
      await until('the first delivery', () => got.messages.length === 1);
      relay.cut();
      await until('the loss to be noticed', () => consumer.lines.some((l) => l.includes('lost')));
      // Act
      got.messages[0]?.ack();
      got.messages[0]?.nack();
      relay.resume();
      await until('the redelivery after reconnecting', () => got.messages.length === 2);
      got.messages[1]?.ack();
      await producer.publish(queue, 'after');
      await until('the next message', () => got.messages.length === 3);
      // Assess
      expect(got.messages.map((m) => m.body)).toEqual(['before', 'before', 'after']);
      expect(got.messages[1]?.redelivered).toBe(true);
      expect(consumer.lines.filter((l) => l.includes('connected to'))).toHaveLength(2);
      await relay.close();
    });

    it('sends a message again when its receipt was lost with the connection: a duplicate, never a loss', async () => {
      // Prepare
      const queue = uniqueQueue('lost-receipt');
      const relay = await startRelay(broker.stompPort);
      const producer = await open(broker, { url: relay.url });
      const consumer = await open(broker);
      const got = inbox();
      await consumer.subscribe(queue, { ack: 'auto' }, got.take).ready;
      relay.mute();
      let confirmed = false;
      const publishing = producer.publish(queue, 'precious').then(() => {
        confirmed = true;
      });
      await until('the broker to have it', () => got.messages.length === 1);
      // An absence: no condition shows that a receipt will not come, so give one that slipped through time to.
      await sleep(100);
      const confirmedBeforeCut = confirmed;
      // Act
      relay.cut();
      relay.resume();
      await publishing;
      await until('the copy', () => got.messages.length === 2);
      // Assess
      expect(confirmedBeforeCut).toBe(false);
      expect(got.messages.map((m) => m.body)).toEqual(['precious', 'precious']);
      await relay.close();
    });

    it('keeps the connection when a message handler throws, and leaves that message unacked', async () => {
      // Prepare
      const queue = uniqueQueue('handler-error');
      const producer = await open(broker);
      const consumer = await open(broker);
      const bodies: string[] = [];
      await consumer.subscribe(queue, { ack: 'client-individual', prefetch: 10 }, async (m) => {
        bodies.push(m.body);
        if (m.body === 'bad') throw new Error('handler exploded');
        m.ack();
      }).ready;
      // Act
      await producer.publish(queue, 'bad');
      await producer.publish(queue, 'good');
      await until('both messages', () => bodies.length === 2);
      // Assess
      expect(bodies).toEqual(['bad', 'good']);
      expect(consumer.lines.some((l) => /failed on .* \(left unacked\): handler exploded/.test(l))).toBe(
        true,
      );
      expect(consumer.lines.some((l) => l.includes('lost'))).toBe(false);
    });

    it('refuses a subscription with a bad selector without losing the connection', async () => {
      // Prepare
      const queue = uniqueQueue('bad-selector');
      const port = await open(broker);
      const got = inbox();
      // Act
      const refused = port.subscribe(queue, { ack: 'auto', selector: "run_id = = '1'" }, got.take).ready;
      // Assess
      await expect(refused).rejects.toThrow(/refused a subscription .*run_id = = '1'/);
      await port.subscribe(queue, { ack: 'auto' }, got.take).ready;
      await port.publish(queue, 'still here');
      await until('a message on the same connection', () => got.messages.length === 1);
      expect(port.lines.some((l) => l.includes('lost'))).toBe(false);
    });

    it('refuses a wrong password with a clear error that does not contain the password', async () => {
      // Prepare
      const password = 'not-the-password-4711';
      // Act
      const attempt = connectBroker({
        url: broker.url,
        user: broker.credentials.user,
        password,
        log: () => {},
      });
      // Assess
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(
        /cannot connect to stomp:\/\/127\.0\.0\.1:\d+ as testbed: .*password is invalid/,
      );
      expect(inspect(error)).not.toContain(password);
      expect(inspect(error)).not.toContain(broker.credentials.password);
    });
  });

  describe('transport', () => {
    it('keeps an idle connection with short heart-beats alive, although ActiveMQ beats late', async () => {
      // Prepare
      const queue = uniqueQueue('heartbeat');
      const port = await open(broker, { heartbeatMs: 300 });
      const got = inbox();
      await port.subscribe(queue, { ack: 'auto' }, got.take).ready;
      // Act: a message resets ActiveMQ's write check, so its next beat comes up to twice the interval later
      const pauses = [350, 520, 610, 470, 730, 580, 650, 540];
      for (const [i, pause] of pauses.entries()) {
        await port.publish(queue, `tick ${i}`);
        // The idle time under test, not a wait for something to happen.
        await sleep(pause);
      }
      // Assess
      expect(got.messages).toHaveLength(pauses.length);
      expect(port.lines.filter((l) => l.includes('lost'))).toEqual([]);
    });

    it('talks STOMP over TLS to a stomp+ssl endpoint', async () => {
      // Prepare
      const terminator = await startTlsTerminator(broker.stompPort);
      const queue = uniqueQueue('tls');
      const port = await open(broker, { url: terminator.url, tls: { ca: terminator.ca } });
      const got = inbox();
      await port.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, (m) => {
        got.take(m);
        m.ack();
      }).ready;
      // Act
      await Promise.all(['one', 'two', 'three'].map((b) => port.publish(queue, b)));
      await until('the messages', () => got.messages.length === 3);
      // Assess
      expect(got.messages.map((m) => m.body)).toEqual(['one', 'two', 'three']);
      expect(port.lines[0]).toContain(`connected to ${terminator.url}`);
      await port.close();
      await terminator.close();
    });

    it('connects through a failover URL whose first endpoint is down', async () => {
      // Prepare
      const relay = await startRelay(broker.stompPort);
      relay.cut();
      const url = `failover:(${relay.url},${broker.url})`;
      // Act
      const port = await open(broker, { url });
      // Assess
      expect(port.lines.some((l) => l.includes(`cannot connect to ${relay.url}`))).toBe(true);
      expect(port.lines.some((l) => l.includes(`connected to ${broker.url}`))).toBe(true);
      await relay.close();
    });
  });
});
