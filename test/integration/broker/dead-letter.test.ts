import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { connect, inbox, sleep, uniqueQueue, until } from './support.ts';

describe('Broker port dead-lettering', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  beforeAll(async () => {
    // One redelivery keeps the test short; the generated configuration's default is 6.
    broker = await startTestBroker({ maximumRedeliveries: 1 });
    port = await connect(broker);
  });
  afterAll(async () => {
    await port?.close();
    await broker?.stop();
  });

  it('parks a nacked message in DLQ.<queue> after its redeliveries', async () => {
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
    await sleep(300);
    // Assess
    expect(deliveries.map((m) => m.redelivered)).toEqual([false, true]);
    expect(parked.messages[0]?.body).toBe('poison');
    expect(parked.messages[0]?.headers.msg_type).toBe('slice');
  });
});
