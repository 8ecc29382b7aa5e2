import net from 'node:net';
import stompit from 'stompit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { uniqueQueue, until } from './support.ts';

/**
 * What layers/broker/stompit-session.ts works around, asserted against stompit itself on a real ActiveMQ:
 * if an upgrade of stompit changes one of these, a test here fails and names the workaround to revisit.
 */

/** stompit's Client with the internals the adapter reaches (stompit 1.0, which @types/stompit omits). */
type RawClient = stompit.Client & {
  _receipts: Record<string, unknown>;
  _subscriptions: Record<string, unknown>;
  headers?: Record<string, string>;
  destroy(exception?: Error): void;
};
type RawFrame = {
  headers: Record<string, string>;
  readString(encoding: string, callback: (error: Error | null, body?: string) => void): void;
};

describe('stompit 1.0 as the broker adapter relies on it', () => {
  let broker: TestBroker;
  const opened: RawClient[] = [];

  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterEach(() => {
    for (const client of opened.splice(0)) client.destroy();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  /** A bare stompit client on the test broker; `errors` collects its 'error' events. */
  const open = async (options: Record<string, unknown> = {}, socket?: net.Socket) => {
    const transport = socket ?? net.connect({ host: '127.0.0.1', port: broker.stompPort });
    const client = new stompit.Client(transport, options as never) as RawClient;
    opened.push(client);
    const errors: Error[] = [];
    client.on('error', (e: Error) => errors.push(e));
    const { user, password } = broker.credentials;
    await new Promise<void>((resolve, reject) =>
      client.connect({ 'accept-version': '1.2', host: '/', login: user, passcode: password }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    return { client, errors };
  };

  /** Sends a frame with a receipt; returns the headers (with the receipt id stompit wrote) and the receipt. */
  const sendWithReceipt = (
    client: RawClient,
    command: string,
    headers: Record<string, string>,
    body = '',
  ) => {
    const frameHeaders: Record<string, string | number> = { ...headers };
    const receipt = new Promise<void>((resolve) => {
      const frame = client.sendFrame(command, frameHeaders, {
        onReceipt: resolve,
      } as stompit.Client.SendOptions);
      if (body) frame.write(body);
      frame.end();
    });
    return { headers: frameHeaders, receipt };
  };

  /** Takes ERROR frames over, as the adapter does after CONNECTED. */
  const takeErrors = (client: RawClient) => {
    const refused: { receiptId: string | undefined; message: string }[] = [];
    client.setCommandHandler('ERROR', (frame) => {
      const f = frame as unknown as RawFrame;
      f.readString('utf-8', () =>
        refused.push({ receiptId: f.headers['receipt-id'], message: String(f.headers.message) }),
      );
    });
    return refused;
  };

  const badSelector = {
    destination: '/queue/test.stompit.refused',
    id: 'refused-1',
    selector: "run_id = = '1'",
  };

  it('drops the connection on an ERROR frame, although ActiveMQ keeps it after a refused SUBSCRIBE', async () => {
    // Prepare
    const { client, errors } = await open();
    // Act
    sendWithReceipt(client, 'SUBSCRIBE', badSelector);
    await until('stompit to report the ERROR frame', () => errors.length > 0);
    // Assess
    expect(errors).toHaveLength(1);
    expect((client.getTransportSocket() as net.Socket).destroyed).toBe(true);
  });

  it('hands ERROR frames to a handler set after CONNECTED, and the connection stays usable', async () => {
    // Prepare
    const { client, errors } = await open();
    const refused = takeErrors(client);
    // Act
    const subscribe = sendWithReceipt(client, 'SUBSCRIBE', badSelector);
    await until('the refusal of the SUBSCRIBE', () => refused.length > 0);
    const send = sendWithReceipt(client, 'SEND', { destination: uniqueQueue('stompit-after-error') }, 'x');
    await send.receipt;
    // Assess
    expect(refused).toEqual([{ receiptId: String(subscribe.headers.receipt), message: expect.any(String) }]);
    expect(errors).toEqual([]);
  });

  it('writes the receipt id it picks into the headers it is given, and keeps the callback until the RECEIPT', async () => {
    // Prepare
    const { client } = await open();
    // Act
    const send = sendWithReceipt(client, 'SEND', { destination: uniqueQueue('stompit-receipt') }, 'x');
    const id = String(send.headers.receipt);
    const pending = typeof client._receipts[id];
    await send.receipt;
    // Assess
    expect(send.headers.receipt).toBeDefined();
    expect(pending).toBe('function');
    await until('stompit to forget the confirmed receipt', () => !(id in client._receipts));
  });

  it('keeps the receipt callback of a frame the broker refused', async () => {
    // Prepare
    const { client } = await open();
    const refused = takeErrors(client);
    // Act
    const subscribe = sendWithReceipt(client, 'SUBSCRIBE', badSelector);
    await until('the refusal of the SUBSCRIBE', () => refused.length > 0);
    // Assess
    expect(typeof client._receipts[String(subscribe.headers.receipt)]).toBe('function');
  });

  it('subscribes without asking a receipt, and sends no SUBSCRIBE for an implicit subscription, whose MESSAGE frames it routes', async () => {
    // Prepare
    const { client } = await open();
    const refused = takeErrors(client);
    const sent: { command: string; headers: Record<string, unknown> }[] = [];
    const sendFrame = client.sendFrame.bind(client);
    client.sendFrame = (command, headers, options) => {
      sent.push({ command, headers: { ...headers } });
      return sendFrame(command, headers, options);
    };
    const queue = uniqueQueue('stompit-implicit');
    const bodies: string[] = [];
    // Act
    client.subscribe({ destination: uniqueQueue('stompit-plain'), ack: 'auto' }, () => {});
    client.setImplicitSubscription('sub-1' as unknown as number, 'client-individual', (error, message) => {
      if (!error && message)
        (message as unknown as RawFrame).readString('utf-8', (_, b) => bodies.push(b ?? ''));
    });
    const framesOfImplicit = sent.length - 1;
    await sendWithReceipt(client, 'SUBSCRIBE', { destination: queue, id: 'sub-1', ack: 'client-individual' })
      .receipt;
    await sendWithReceipt(client, 'SEND', { destination: queue }, 'hello').receipt;
    await until('the message on the implicit subscription', () => bodies.length > 0);
    // Assess
    expect(sent[0]?.command).toBe('SUBSCRIBE');
    expect(sent[0]?.headers).not.toHaveProperty('receipt');
    expect(framesOfImplicit).toBe(0);
    expect(refused).toEqual([]);
    expect(bodies).toEqual(['hello']);
    expect(client._subscriptions['sub-1']).toBeDefined();
    expect(() => client.setImplicitSubscription('sub-1' as unknown as number, 'auto')).toThrow(
      /already in use/,
    );
  });

  it('keeps an implicit subscription after the broker confirmed its UNSUBSCRIBE', async () => {
    // Prepare
    const { client } = await open();
    const queue = uniqueQueue('stompit-unsubscribe');
    client.setImplicitSubscription('sub-1' as unknown as number, 'auto', () => {});
    await sendWithReceipt(client, 'SUBSCRIBE', { destination: queue, id: 'sub-1', ack: 'auto' }).receipt;
    // Act
    await sendWithReceipt(client, 'UNSUBSCRIBE', { id: 'sub-1' }).receipt;
    // Assess
    expect(client._subscriptions['sub-1']).toBeDefined();
  });

  it('drops the connection on a MESSAGE for a subscription id it does not know', async () => {
    // Prepare
    const { client, errors } = await open();
    const queue = uniqueQueue('stompit-unknown-id');
    client.setImplicitSubscription('sub-1' as unknown as number, 'auto', () => {});
    await sendWithReceipt(client, 'SUBSCRIBE', { destination: queue, id: 'sub-1', ack: 'auto' }).receipt;
    delete client._subscriptions['sub-1'];
    // Act
    const producer = await open();
    await sendWithReceipt(producer.client, 'SEND', { destination: queue }, 'stray').receipt;
    await until('stompit to drop the connection', () => errors.length > 0);
    // Assess
    expect(errors[0]?.message).toMatch(/invalid subscription id/);
  });

  it('keeps the CONNECTED frame’s headers on an undeclared field', async () => {
    // Act
    const { client } = await open();
    // Assess
    expect(client.headers?.server).toMatch(/ActiveMQ/);
  });

  it('turns TCP_NODELAY on by itself when it sends heart-beats, and only then', async () => {
    // Prepare
    const watched = () => {
      const socket = net.connect({ host: '127.0.0.1', port: broker.stompPort });
      const calls: (boolean | undefined)[] = [];
      const setNoDelay = socket.setNoDelay.bind(socket);
      socket.setNoDelay = (noDelay?: boolean) => {
        calls.push(noDelay);
        return setNoDelay(noDelay);
      };
      return { socket, calls };
    };
    const beating = watched();
    const silent = watched();
    // Act
    await open({ heartbeat: [1000, 1000] }, beating.socket);
    await open({ heartbeat: [0, 0] }, silent.socket);
    // Assess
    expect(beating.calls).toContain(true);
    expect(silent.calls).toEqual([]);
  });

  it.each([
    {
      limit: 'number of headers (64)',
      headers: Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`h${i}`, 'x'])),
      options: { maxHeaders: 1024 },
      error: /too many headers/,
    },
    {
      limit: 'line length (1024 bytes)',
      headers: { long: 'x'.repeat(2000) },
      options: { maxLineLength: 64 * 1024 },
      error: /maximum line length exceeded/,
    },
  ])('drops a connection whose MESSAGE exceeds its default $limit unless the option raises it', async (c) => {
    // Prepare
    const queue = uniqueQueue('stompit-limits');
    const producer = await open();
    await sendWithReceipt(producer.client, 'SEND', { destination: queue, ...c.headers }, 'big').receipt;
    const consume = async (options: Record<string, unknown>) => {
      const consumer = await open(options);
      const bodies: string[] = [];
      // Unacked, the message goes back to the queue when the strict consumer's connection drops.
      consumer.client.setImplicitSubscription(
        'sub-1' as unknown as number,
        'client-individual',
        (error, message) => {
          if (!error && message)
            (message as unknown as RawFrame).readString('utf-8', (_, b) => bodies.push(b ?? ''));
        },
      );
      consumer.client
        .sendFrame('SUBSCRIBE', { destination: queue, id: 'sub-1', ack: 'client-individual' })
        .end();
      return { ...consumer, bodies };
    };
    // Act
    const strict = await consume({});
    await until('the default limits to drop the connection', () => strict.errors.length > 0);
    const raised = await consume(c.options);
    await until('a message under the raised limit', () => raised.bodies.length > 0);
    // Assess
    expect(strict.errors[0]?.message).toMatch(c.error);
    expect(raised.errors).toEqual([]);
  });

  it('reports a failed CONNECT as an error event as well, which throws where nobody listens', async () => {
    // Prepare
    const client = new stompit.Client(
      net.connect({ host: '127.0.0.1', port: broker.stompPort }),
    ) as RawClient;
    opened.push(client);
    const events: Error[] = [];
    client.on('error', (e: Error) => events.push(e));
    // Act
    const failure = await new Promise<Error | null>((resolve) =>
      client.connect(
        { 'accept-version': '1.2', host: '/', login: 'nobody', passcode: 'wrong-password' },
        resolve,
      ),
    );
    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(events).toContain(failure);
  });
});
