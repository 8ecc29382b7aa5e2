import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { connect, inbox, sleep, uniqueQueue, until } from './support.ts';

describe('Broker port dead-lettering', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  beforeAll(async () => {
    broker = await startTestBroker();
    port = await connect(broker);
  });
  afterAll(async () => {
    await port?.close();
    await broker?.stop();
  });

  it('parks a nacked message in DLQ.<queue> at once, without redelivering it', async () => {
    // Prepare
    const queue = uniqueQueue('poison');
    const deliveries: ReceivedMessage[] = [];
    await port.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, (m) => {
      deliveries.push(m);
      m.nack();
    }).ready;
    const parked = inbox();
    await port.subscribe(`/queue/DLQ.${queue.replace('/queue/', '')}`, { ack: 'auto' }, parked.take).ready;
    // Act
    await port.publish(queue, 'poison', { msg_type: 'slice' });
    await until('the dead letter', () => parked.messages.length === 1, 15_000);
    // An absence: no condition shows that a redelivery will not come, so give one time to.
    await sleep(1500);
    // Assess
    // Without the redelivery plugin (none locally, none on Amazon MQ) a NACK is final, and says nothing of why.
    expect(deliveries.map((m) => m.redelivered)).toEqual([false]);
    const [letter] = parked.messages;
    expect(letter?.body).toBe('poison');
    expect(letter?.headers.msg_type).toBe('slice');
    expect(letter?.headers['original-destination']).toBe(queue);
    expect(Object.keys(letter?.headers ?? {}).filter((h) => /reason|cause/i.test(h))).toEqual([]);
  });

  it('redelivers a message its consumer left unacked once that consumer is gone, without any plugin', async () => {
    // Prepare
    const queue = uniqueQueue('unacked');
    const first = inbox();
    const holder = port.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, first.take);
    await holder.ready;
    await port.publish(queue, 'held', { msg_type: 'slice' });
    await until('the first delivery', () => first.messages.length === 1);
    // Act
    await holder.unsubscribe();
    const second = inbox();
    await port.subscribe(queue, { ack: 'client-individual', prefetch: 1 }, second.take).ready;
    await until('the redelivery', () => second.messages.length === 1);
    // Assess
    expect(second.messages[0]?.body).toBe('held');
    expect(second.messages[0]?.redelivered).toBe(true);
  });
});
